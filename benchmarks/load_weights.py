"""Loading a checkpoint: peak memory above the process baseline and wall time, per file format.

Goal (issue 15, item 4): loading ViT-H/14 (2.6 GB in float32) peaks at <= 1.2x the file size above the
process baseline, and takes no longer than the official way, ``torch.load`` + ``load_state_dict`` into
a freshly built (randomly initialised) model.

The files are written once into ``--dir`` (an official ``.pth`` ``{'model': state_dict}``, a
``.safetensors`` file in the official layout, and a transformers ViTMAE directory) from a seeded model.
Each measurement runs in a fresh child process: it imports torch and mae_core, reads its baseline RSS
(``VmRSS``), loads, and reports the peak (``VmHWM``) minus that baseline and the wall time of the load
alone, then of the load plus a first use that reads every weight once (a sum over each tensor: a
memory-mapped file is paged in only then, so the peak is taken after it). Runs alternate between the
ways of loading, ``--runs`` times each; medians are printed.
Files are read from the page cache (warm), as they are after the first load.

    flock /tmp/mae-heavy.lock python3 benchmarks/load_weights.py [--variant huge] [--runs 3] [--dir D]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RATIO_GOAL = 1.2  # peak RSS growth at most this multiple of the file size

CHILD = r"""
import json, sys, time
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
import torch
from mae_core.loading.weights import build_model, load_weights
from mae_core.models import create_model
way, path, variant = sys.argv[1:4]
torch.set_num_threads(1)
base = status("VmRSS")
start = time.perf_counter()
if way == "official":
    sd = torch.load(path, map_location="cpu", weights_only=True)["model"]
    model = create_model(variant)
    from mae_core.io.checkpoint import official_to_ours
    model.load_state_dict(official_to_ours(sd))
else:
    model = build_model(variant, load_weights(path, variant))
wall = time.perf_counter() - start
with torch.no_grad():  # first use: every byte of every weight is read (a memory-mapped file pages in here)
    for t in list(model.parameters()) + list(model.buffers()):
        t.sum()
used = time.perf_counter() - start
total = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
print(json.dumps({"wall": wall, "used": used, "peak": status("VmHWM") - base, "numel": total}))
"""


def write_files(variant: str, folder: Path) -> dict[str, Path]:
    """The three files of one seeded model (written once; reused when present)."""
    import torch

    from mae_core.io import hf_layout
    from mae_core.models import create_model, get_variant

    v = get_variant(variant)
    files = {"pth": folder / f"{v.short}.pth", "safetensors": folder / f"{v.short}.safetensors",
             "transformers": folder / f"{v.short}_hf"}
    if all(p.exists() for p in files.values()):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    official = create_model(variant).official_state_dict()
    torch.save({"model": official}, files["pth"])
    from safetensors.torch import save_file

    save_file({k: t.contiguous() for k, t in official.items()}, str(files["safetensors"]))
    files["transformers"].mkdir(exist_ok=True)
    hf = {k: t.contiguous() for k, t in hf_layout.official_to_hf(official).items()}
    save_file(hf, str(files["transformers"] / "model.safetensors"), metadata={"format": "pt"})
    (files["transformers"] / "config.json").write_text(json.dumps({"model_type": "vit_mae", "layer_norm_eps": 1e-6}))
    return files


def measure(way: str, path: Path, variant: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", CHILD, way, str(path), variant], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{way} on {path} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="huge")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mae-load-bench"))
    parser.add_argument("--ways", default="official,pth,safetensors,transformers")
    args = parser.parse_args()
    files = write_files(args.variant, args.dir)
    ways = args.ways.split(",")
    results: dict[str, list[dict]] = {w: [] for w in ways}
    for _ in range(args.runs):
        for way in ways:
            path = files["pth"] if way == "official" else files[way]
            results[way].append(measure(way, path, args.variant))
    print(f"{args.variant}: median of {args.runs} run(s), warm page cache, one thread")
    print(f"{'way':<14} {'file MB':>9} {'peak MB':>9} {'peak/file':>9} {'load s':>8} {'+use s':>8}")
    for way in ways:
        path = files["pth"] if way == "official" else files[way]
        size = size_of(path)
        peak = statistics.median(r["peak"] for r in results[way])
        wall = statistics.median(r["wall"] for r in results[way])
        used = statistics.median(r["used"] for r in results[way])
        label = "torch.load+lsd" if way == "official" else way
        print(f"{label:<14} {size / 1e6:>9.0f} {peak / 1e6:>9.0f} {peak / size:>9.2f} {wall:>8.2f} {used:>8.2f}")


if __name__ == "__main__":
    sys.exit(main())
