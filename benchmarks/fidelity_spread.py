"""How far the recorded official outputs move under other CPUs' kernels: the measurement behind the
cross-machine golden bound (``official_mae.compare.ACROSS_MACHINES``, docs/fidelity.md).

Paper: none (numerics). For every golden case (tests/data/golden) and every implementation (ours on the
exact and the fast path, the official code on the test fixture, the timm composition, transformers'
ViTMAE), run the stored weights on the stored images and noise and take the largest deviation of latent,
pred and loss from what the official code recorded, absolute and over max |recorded|; masks must be equal.
Each CPU setting (environment variables read when torch loads) runs in its own subprocess.

    python3 benchmarks/fidelity_spread.py            # Markdown table on stdout, progress on stderr
    python3 benchmarks/fidelity_spread.py --json     # one JSON document instead

Shapes: the golden cases' own (tests/data/golden/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "as is": {},
    "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default"},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "MKL_ENABLE_INSTRUCTIONS=AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "MKL_ENABLE_INSTRUCTIONS=SSE4_2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
    "OMP_NUM_THREADS=2": {"OMP_NUM_THREADS": "2"},
    "Zen 3-like (ATen, oneDNN, MKL on AVX2)": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                               "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "all AVX2, no ATen SIMD, 1 thread": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                         "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "1"},
}
OUTPUTS = ("latent", "pred", "loss")


def measure() -> dict:
    """In this process: {case: {implementation: {output: (max_abs, max_rel)}, "masks_equal": bool}}."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from official.helpers import FIXTURE_SRC, GOLDEN_CASES, load_golden

    from mae_core import MaskedAutoencoderViT
    from mae_core.kernels import use_kernels
    from official_mae import build_reference

    result = {}
    for name in GOLDEN_CASES:
        case = load_golden(name)
        runs = {}
        for path in ("exact", "onednn"):
            model = use_kernels(MaskedAutoencoderViT(case.config), linear=path).eval()
            model.load_state_dict(case.state_dict)
            with torch.no_grad():
                loss, pred, mask = model(case.imgs, case.mask_ratio, case.noise)
                latent = model.forward_encoder(case.imgs, case.mask_ratio, case.noise)[0]
            runs["ours" if path == "exact" else "ours, fast path"] = (latent, pred, loss, mask)
        for kind in ("official", "timm", "hf"):
            ref = build_reference(kind, case.config, official_src=FIXTURE_SRC)
            ref.load_official_state_dict(case.state_dict)
            with torch.no_grad():
                out = ref.run(case.imgs, case.mask_ratio, case.noise)
            runs[kind] = (out.latent, out.pred, out.loss, out.mask)
        result[name] = {"masks_equal": True}
        for who, (latent, pred, loss, mask) in runs.items():
            row = {}
            for key, t in zip(OUTPUTS, (latent, pred, loss), strict=True):
                rec = case.outputs[key]
                diff = (t.reshape(rec.shape).double() - rec.double()).abs().max().item()
                row[key] = (diff, diff / rec.abs().max().item())
            result[name][who] = row
            result[name]["masks_equal"] &= bool(torch.equal(mask, case.outputs["mask"]))
    return result


def worst(per_case: dict, who: list[str]) -> dict:
    """The largest deviation over cases and the given implementations, per output."""
    out = {k: [0.0, 0.0] for k in OUTPUTS}
    for case in per_case.values():
        for w in who:
            for k in OUTPUTS:
                out[k] = [max(out[k][0], case[w][k][0]), max(out[k][1], case[w][k][1])]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure()))
        return 0
    from mae_core.views.machine import cpu_info, describe_cpu

    doc = {"cpu": describe_cpu(cpu_info()), "settings": {}}
    for label, env in SETTINGS.items():
        print(f"measuring: {label}", file=sys.stderr)
        proc = subprocess.run([sys.executable, __file__, "--one"], env={**os.environ, **env}, cwd=ROOT,
                              capture_output=True, text=True, check=True)
        doc["settings"][label] = json.loads(proc.stdout)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"CPU: {doc['cpu']}\n")
    print("| setting | implementations | latent max abs (/ max) | pred max abs (/ max) | loss abs | masks |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for label, per_case in doc["settings"].items():
        masks = all(c["masks_equal"] for c in per_case.values())
        for who in (["ours", "official", "timm", "hf"], ["ours, fast path"]):
            w = worst(per_case, who)
            cells = [f"{w[k][0]:.3g} ({w[k][1]:.2g})" for k in ("latent", "pred")] + [f"{w['loss'][0]:.2g}"]
            print(f"| {label} | {', '.join(who)} | " + " | ".join(cells) + f" | {'equal' if masks else 'DIFFER'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
