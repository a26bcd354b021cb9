"""The GPU check: fidelity, low-precision error, speed, memory and the masking speed-up, in one command.

Paper: MAE Sec. 3 (the model), Table 2 (wall-clock speed-up of encoding only the visible patches).

    PYTHONPATH=. python3 benchmarks/gpu_check.py                    # on a CUDA machine: a few minutes
    PYTHONPATH=. python3 benchmarks/gpu_check.py --device cpu --quick   # the smoke test CI runs

Sections, each written to ``gpu_check.json`` / ``gpu_check.md`` as soon as it is done (so a run stopped
by its time limit keeps what it measured; ``--out`` or ``$OUT`` or ``benchmarks/gpu_results``):

1. ``machine``: device name, torch / CUDA / cuDNN versions, and the matmul ceilings measured here
   (bf16, float32 with TF32 on, float32 with TF32 off), which MFU is reported against.
2. ``fidelity``: ``compare-official`` (official_mae.compare.compare_official) for each variant against
   the timm composition and transformers' ViTMAE, same weights, images and noise (noise drawn on the
   CPU, so the masks are the CPU's), forward and ``--grad``, with TF32 *off* (the claim: equal within
   1e-5; bit-identical where the max abs diff is 0), then forward with TF32 *on* (the drift reported).
3. ``bf16``: the error of a bf16-autocast forward against float32, stage by stage, same weights/noise.
4. ``bench``: ``mae bench`` (mae_core.views.bench.bench_report) in bf16 autocast, ours against the
   references in the same process, alternating, for batch 1, 64 and the largest batch our training step
   fits, forward and train; achieved TFLOP/s over the measured bf16 matmul peak (MFU).
5. ``memory``: the memory view's predicted peak of a training step against
   ``torch.cuda.max_memory_allocated`` (when ``mae_core.views.memory`` is there).
6. ``masking``: the MAE against the same model with mask tokens in its encoder (Table 2: 2.8x-4.1x).
7. ``classifier``: the fine-tuned classifier (``models_vit.py``, global pool) against timm's
   ``VisionTransformer`` on the device, forward and ``--grad``, TF32 off (official_mae.classifier).
8. ``steps``: ``compare-official --steps``: optimizer steps of pre-training and fine-tuning under the
   published recipe, ours against the official training loop of the stand-in clone in
   ``tests/data/official_fixture`` (or ``--official-src``). That loop is CPU-only by design (the official
   ``engine_*.py`` run with autocast and CUDA synchronise shimmed off), so this section runs on the
   device machine's CPU and proves the recipe there; it is no GPU timing.

``BUDGET_S`` below is each section's expected seconds on one H100 (full run, not ``--quick``): about
seven minutes in all, so one 10-minute device call has room for the start and a rerun fits in what a
15-minute lease leaves. The report prints each section's seconds beside its budget.

Every CUDA measurement synchronises before reading the clock (``make_step`` does), resets the peak
memory statistics before the step it measures, and takes the median of alternating rounds after warm-up.
``--budget-s`` stops starting new work once that many seconds have passed (default 420: one 10-minute
device call with room to spare).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from mae_core.models import create_model, get_variant
from mae_core.views.bench import bench_report
from mae_core.views.timing import matmul_gflops

REFERENCES = ("timm", "hf")
FIXTURE_SRC = ROOT / "tests" / "data" / "official_fixture"

# Expected seconds per section on one H100 (full run): estimates from the CPU timings of the same calls
# and the H100's bf16/fp32 peaks, to be replaced by the first GPU run's figures.
BUDGET_S = {"machine": 15, "fidelity": 100, "bf16": 30, "bench": 150, "memory": 30, "classifier": 30,
            "steps": 45}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (the smoke test).")
    p.add_argument("--quick", action="store_true",
                   help="ViT-B only, batch 1, forward only, one timed round, no largest-batch search: "
                        "about a minute on 2 CPU cores.")
    p.add_argument("--variants", default="base,large,huge", help="Comma-separated: base, large, huge.")
    p.add_argument("--batches", default="1,64", help="Comma-separated batch sizes (the largest that fits is added).")
    p.add_argument("--runs", type=int, default=5, help="Timed alternating rounds per bench cell.")
    p.add_argument("--compile", action="store_true", help="Also time ours under torch.compile (opt-in).")
    p.add_argument("--official-src", default=str(FIXTURE_SRC),
                   help="The official clone whose training loop the steps section runs (default: the stand-in).")
    p.add_argument("--budget-s", type=float, default=420.0, help="Start no new work after this many seconds.")
    p.add_argument("--out", default=None, help="Folder for gpu_check.json / .md (default $OUT, else "
                                                "benchmarks/gpu_results).")
    args = p.parse_args(argv)
    if args.quick:
        args.variants, args.batches, args.runs = "base", "1", 1
    return args


class Run:
    """The report being built, written out after every section; the clock for ``--budget-s``."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.start = time.perf_counter()
        self.out = Path(args.out or os.environ.get("OUT") or ROOT / "benchmarks" / "gpu_results")
        self.out.mkdir(parents=True, exist_ok=True)
        self.report: dict[str, Any] = {"args": vars(args), "sections": {}, "skipped": [], "errors": []}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def has_time(self, what: str) -> bool:
        if self.elapsed() < self.args.budget_s:
            return True
        self.report["skipped"].append(f"{what} (budget of {self.args.budget_s:.0f} s spent)")
        return False

    def seeded_models(self, section: str, variants: list[str], dev: torch.device,
                      train: bool = False) -> Iterator[tuple[str, torch.nn.Module]]:
        """Each variant with its model built from seed 0 (in train or eval mode), while the budget lasts."""
        for variant in variants:
            if not self.has_time(f"{section} {variant}"):
                return
            torch.manual_seed(0)
            yield variant, create_model(variant, device=dev).train(train)

    def section(self, name: str, fn: Callable[[], Any]) -> None:
        """Run one section; a failure is recorded (with its traceback) and the next section still runs."""
        log(f"[{self.elapsed():6.1f} s] {name} (budget on an H100: {BUDGET_S.get(name, '-')} s)")
        started = time.perf_counter()
        try:
            self.report["sections"][name] = fn()
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            self.report["errors"].append({"section": name, "error": f"{type(exc).__name__}: {exc}",
                                          "traceback": traceback.format_exc(limit=6)})
            log(f"  {name} failed: {type(exc).__name__}: {exc}")
        self.report.setdefault("timing", {})[name] = {"seconds": time.perf_counter() - started,
                                                      "budget_h100_s": BUDGET_S.get(name)}
        self.report["elapsed_s"] = self.elapsed()
        self.write()

    def write(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.report, indent=2, default=str) + "\n")
        (self.out / "gpu_check.md").write_text(markdown(self.report))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- 1. the machine -----------------------------------------------------------------------------------

def machine(dev: torch.device, quick: bool) -> dict[str, Any]:
    size = 1024 if quick or dev.type == "cpu" else 8192  # 2048 does not fill an H100/H200
    info: dict[str, Any] = {"torch": torch.__version__, "device": str(dev), "python": platform.python_version(),
                            "matmul_size": size}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update(name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=props.total_memory / 2**30, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    else:
        info.update(name=platform.processor() or platform.machine(), cores=os.cpu_count())
    peaks = {}
    tf32(False)
    peaks["float32"] = matmul_gflops(torch.float32, dev, size=size)
    if dev.type == "cuda":
        tf32(True)
        peaks["tf32"] = matmul_gflops(torch.float32, dev, size=size)
        tf32(False)
    peaks["bfloat16"] = matmul_gflops(torch.bfloat16, dev, size=size)
    info["matmul_gflops"] = peaks
    return info


# --- 2. fidelity --------------------------------------------------------------------------------------

def seeded_images(variant: str, batch: int, seed: int = 0) -> torch.Tensor:
    cfg = get_variant(variant).config
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, cfg.in_chans, *cfg.image_hw, generator=g)


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The few numbers of one compare-official report that the table shows."""
    stages = [s for s in result["stages"] if s["max_abs"] is not None]
    worst = max(stages, key=lambda s: s["max_abs"])
    by = {s["stage"]: s for s in result["stages"]}
    return {"passed": result["passed"], "first_failure": result["first_failure"],
            "pred_max_abs": by["pred"]["max_abs"], "loss_abs": by["loss"]["max_abs"],
            "worst_stage": worst["stage"], "worst_max_abs": worst["max_abs"],
            "bit_identical": all(s["max_abs"] == 0 for s in stages),
            "masks_identical": by["masking"]["passed"]}


def fidelity(run: Run, dev: torch.device, variants: list[str]) -> list[dict[str, Any]]:
    from official_mae.compare import compare_official

    rows = []
    batch = 1 if run.args.quick else 2
    for variant in variants:
        imgs = seeded_images(variant, batch)
        for kind in REFERENCES[:1] if run.args.quick else REFERENCES:
            for grad, allow_tf32 in ((False, False), (True, False), (False, True)):
                if run.args.quick and (grad or allow_tf32) or (allow_tf32 and dev.type != "cuda"):
                    continue
                label = f"{variant} vs {kind}{' --grad' if grad else ''}{' TF32 on' if allow_tf32 else ''}"
                if not run.has_time(f"fidelity {label}"):
                    return rows
                tf32(allow_tf32)
                try:
                    result = compare_official(variant, imgs, reference=kind, grad=grad, device=dev)
                finally:
                    tf32(False)
                rows.append({"variant": variant, "reference": kind, "grad": grad, "tf32": allow_tf32,
                             "atol": result["atol"], "rtol": result["rtol"], **_summary(result)})
                log(f"  {label}: {'pass' if rows[-1]['passed'] else 'FAIL'}, pred max abs "
                    f"{rows[-1]['pred_max_abs']:.3g}")
                del result
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
    return rows


# --- 3. bf16 against float32, stage by stage ------------------------------------------------------------

def bf16_error(run: Run, dev: torch.device, variants: list[str]) -> list[dict[str, Any]]:
    from official_mae.compare import make_noise, recording
    from official_mae.reference import our_stage_modules

    rows = []
    for variant, model in run.seeded_models("bf16", variants, dev):
        imgs = seeded_images(variant, 2).to(dev)
        noise = make_noise(2, model.config.num_patches, 0, dev)
        outputs = {}
        for name, ctx in (("float32", torch.autocast(dev.type, enabled=False)),
                          ("bfloat16", torch.autocast(dev.type, dtype=torch.bfloat16))):
            with torch.inference_mode(), ctx, recording(our_stage_modules(model)) as staged:
                loss, pred, _ = model(imgs, 0.75, noise)
                staged["pred"], staged["loss"] = pred, loss
            outputs[name] = {k: v.float() for k, v in staged.items()}
        ref, low = outputs["float32"], outputs["bfloat16"]
        for stage in ref:
            diff = (low[stage] - ref[stage]).abs().max().item()
            scale = ref[stage].abs().max().item()
            rows.append({"variant": variant, "stage": stage, "max_abs": diff,
                         "max_rel": diff / scale if scale else None, "max_abs_float32": scale,
                         "finite": bool(torch.isfinite(low[stage]).all())})
        del model, outputs
    return rows


# --- 4. speed -------------------------------------------------------------------------------------------

def _loader():
    from official_mae import load_reference

    return lambda kind, name, state_dict, device: load_reference(kind, name, state_dict=state_dict, device=device)


def largest_training_batch(variant: str, dev: torch.device, limit: int = 1024) -> int | None:
    """The largest power-of-two batch whose bf16-autocast training step of ours fits on the GPU, found by
    trying (the references share our weights and free their activations between steps)."""
    if dev.type != "cuda":
        return None
    torch.manual_seed(0)
    model = create_model(variant, device=dev).train()
    cfg = model.config
    fits, batch = None, 64
    while batch <= limit:
        try:
            imgs = torch.randn(batch, cfg.in_chans, *cfg.image_hw, device=dev)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(imgs, 0.75)[0]
            loss.backward()
            sync(dev)
            fits = batch
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            model.zero_grad(set_to_none=True)
            imgs = loss = None
            torch.cuda.empty_cache()
        batch *= 2
    del model
    torch.cuda.empty_cache()
    # Three competitors' activations never live at once, but leave a quarter for the allocator's slack.
    return fits // 2 if fits and fits >= 128 else fits


def bench_cells(run: Run, dev: torch.device, variants: list[str]) -> list[dict[str, Any]]:
    rows = []
    cuda = dev.type == "cuda"
    for variant in variants:
        batches = [int(b) for b in run.args.batches.split(",")]
        if cuda and run.has_time(f"largest batch {variant}"):
            big = largest_training_batch(variant, dev)
            if big and big not in batches:
                batches.append(big)
        for batch in batches:
            for mode in ("forward",) if run.args.quick else ("forward", "train"):
                if not run.has_time(f"bench {variant} b{batch} {mode}"):
                    return rows
                report = bench_report(
                    variant, batch=batch, mode=mode, references=REFERENCES[:1] if run.args.quick else REFERENCES,
                    load_reference=_loader(), device=dev, dtype=torch.bfloat16 if cuda else torch.float32,
                    reference_dtype=torch.bfloat16 if cuda else torch.float32, autocast=cuda, path="exact",
                    mask_tokens_in_encoder=batch == 64 or run.args.quick, compile_model=run.args.compile,
                    warmup=1 if run.args.quick else 2, runs=run.args.runs)
                peak = run.report["sections"].get("machine", {}).get("matmul_gflops", {})
                peak_gflops = peak.get("bfloat16" if cuda else "float32")
                results = []
                for r in report["results"]:
                    achieved = r["gflops_per_s"]
                    results.append({"name": r["name"], "median_s": r["median_s"], "spread": r["spread"],
                                    "tflops": achieved / 1e3 if achieved else None,
                                    "mfu": achieved / peak_gflops if achieved and peak_gflops else None,
                                    "over_fastest_reference": r["over_fastest_reference"],
                                    "pred_max_abs_diff": r["pred_max_abs_diff"]})
                rows.append({"variant": variant, "batch": batch, "mode": mode, "dtype": report["dtype"],
                             "autocast": report["autocast"], "fastest_reference": report["fastest_reference"],
                             "speedups": report["speedups"], "results": results})
                ours = next(r for r in results if r["name"] == "ours")
                log(f"  {variant} b{batch} {mode}: ours {ours['median_s']:.4f} s, ÷ ref "
                    f"{ours['over_fastest_reference'] or float('nan'):.3f}, MFU {ours['mfu'] or float('nan'):.2f}")
                if cuda:
                    torch.cuda.empty_cache()
    return rows


# --- 5. memory ------------------------------------------------------------------------------------------

def memory(run: Run, dev: torch.device, variants: list[str]) -> list[dict[str, Any]] | dict[str, str]:
    try:
        from mae_core.views import memory as memory_view
    except ImportError:
        return {"skipped": "mae_core.views.memory is not in this tree"}
    if dev.type != "cuda":
        return {"skipped": "predicted peak vs torch.cuda.max_memory_allocated needs CUDA"}
    rows = []
    for variant, model in run.seeded_models("memory", variants, dev, train=True):
        cfg = model.config
        batch = 64
        imgs = torch.randn(batch, cfg.in_chans, *cfg.image_hw, device=dev)
        sync(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        loss = model(imgs, 0.75)[0]
        loss.backward()
        sync(dev)
        measured = torch.cuda.max_memory_allocated(dev)
        # A training step without an optimizer: weights, gradients, the images, everything saved for
        # backward and the largest stage's working set (mae_core.views.memory.estimate's total).
        predicted = memory_view.estimate(cfg, batch, 0.75, mode="train", optimizer="none").total
        rows.append({"variant": variant, "batch": batch, "mode": "train", "dtype": "float32",
                     "predicted_bytes": predicted, "measured_bytes": measured,
                     "difference": (predicted - measured) / measured})
        del model, imgs, loss
        torch.cuda.empty_cache()
        rows.append(_finetune_memory(run, dev, variant))
    return [r for r in rows if r]


def _finetune_memory(run: Run, dev: torch.device, variant: str) -> dict[str, Any] | None:
    """One fine-tuning step of the variant's classifier (drop path, label smoothing, AdamW) against the closed
    form of mae_core.views.memory_classifier (reported, not judged: CUDA's kernels choose their workspaces)."""
    try:
        from mae_core.models import get_classifier
        from mae_core.views.memory_classifier import ClassifierStep
        from mae_core.views.memory_measured import check_estimate
    except ImportError:
        return None
    if not run.has_time(f"fine-tuning memory {variant}"):
        return None
    classifier = get_classifier(variant)
    step = ClassifierStep.fine_tuning(classifier.name)
    batch = 32
    result = check_estimate(classifier.name, batch, step=step, device=dev, optimizer="adamw")
    torch.cuda.empty_cache()
    return {"variant": classifier.name, "batch": batch, "mode": "fine-tuning step (AdamW)", "dtype": "float32",
            "predicted_bytes": result["predicted_bytes"], "measured_bytes": result["measured_bytes"],
            "difference": result["difference_bytes"] / result["measured_bytes"]}


# --- the report -----------------------------------------------------------------------------------------

# --- 7. the fine-tuned classifier ----------------------------------------------------------------------

def classifier(run: Run, dev: torch.device, variants: list[str]) -> list[dict[str, Any]]:
    """Our classifier (global pool, seeded) against timm's VisionTransformer on the device, TF32 off."""
    from mae_core.models import create_model
    from official_mae.classifier import compare_classifier_official

    rows = []
    batch = 1 if run.args.quick else 2
    for variant in variants:
        name = f"vit_{get_variant(variant).short}_patch{get_variant(variant).config.patch_size}"
        for grad in (False,) if run.args.quick else (False, True):
            if not run.has_time(f"classifier {name}{' --grad' if grad else ''}"):
                return rows
            torch.manual_seed(0)
            model = create_model(name, global_pool=True)
            tf32(False)
            result = compare_classifier_official(model, seeded_images(variant, batch), reference="timm",
                                                 grad=grad, device=dev)
            stages = [r for r in result["stages"] if r["max_abs"] is not None]
            rows.append({"model": name, "reference": "timm", "grad": grad, "passed": result["passed"],
                         "first_failure": result["first_failure"],
                         "logits_max_abs": next(r["max_abs"] for r in stages if r["stage"] == "logits"),
                         "worst_max_abs": max(r["max_abs"] for r in stages),
                         "bit_identical": all(r["max_abs"] == 0 for r in stages)})
            log(f"  {name} vs timm{' --grad' if grad else ''}: {'pass' if result['passed'] else 'FAIL'}")
            del model, result
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    return rows


# --- 8. the recipe's optimizer steps (CPU: the official loop runs there) ---------------------------------

def steps(run: Run) -> list[dict[str, Any]]:
    from official_mae.steps import compare_finetune_steps, compare_steps

    tiny = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 2, "num_heads": 4,
            "decoder_embed_dim": 32, "decoder_depth": 1, "decoder_num_heads": 4}
    small = tiny if run.args.quick else {}
    rows = []
    for stage, fn, kwargs in (("pretrain", compare_steps, {}), ("finetune", compare_finetune_steps, {})):
        for accum in (1,) if run.args.quick else (1, 2):
            if not run.has_time(f"steps {stage} accum_iter {accum}"):
                return rows
            result = fn("base", official_src=run.args.official_src, steps=3, accum_iter=accum, batch=2,
                        overrides=small, **kwargs)
            worst = max((r.get("max_param_diff") or 0.0 for r in result["steps"]), default=None)
            rows.append({"stage": stage, "accum_iter": accum, "config": "tiny" if small else "ViT-B/16",
                         "steps": len(result["steps"]), "passed": result["passed"],
                         "first_failure": result["first_failure"], "param_max_abs": worst})
            log(f"  {stage} accum_iter {accum}: {'pass' if result['passed'] else 'FAIL'}")
    return rows



def _f(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown section: ``## title``, a table (a column name starting with ``>`` is right-aligned), a blank."""
    head = "| " + " | ".join(c.removeprefix(">") for c in columns) + " |"
    align = "| " + " | ".join("---:" if c.startswith(">") else "---" for c in columns) + " |"
    return [f"## {title}", "", head, align, *("| " + " | ".join(map(str, r)) + " |" for r in rows), ""]


def _verdict(r: dict[str, Any]) -> str:
    return "pass" if r["passed"] else "FAIL: " + str(r["first_failure"])


def markdown(report: dict[str, Any]) -> str:
    s = report["sections"]
    lines = ["# GPU check", ""]
    m = s.get("machine")
    if m:
        peaks = ", ".join(f"{k} {v / 1e3:.0f} TFLOP/s" for k, v in m["matmul_gflops"].items())
        lines += [f"{m.get('name')} ({m['device']}), torch {m['torch']}, CUDA {m.get('cuda', '-')}; "
                  f"{m['matmul_size']}² matmul measured here: {peaks}.", ""]
    yes = {True: "yes", False: "no"}
    if s.get("fidelity"):
        lines += _table("Fidelity (compare-official, same weights / images / noise)",
                        ["variant", "reference", "grad", "TF32", ">pred max abs", ">loss abs", "worst stage",
                         "bit-identical", "result"],
                        [[r["variant"], r["reference"], yes[bool(r["grad"])], "on" if r["tf32"] else "off",
                          f"{r['pred_max_abs']:.2e}", f"{r['loss_abs']:.2e}",
                          f"{r['worst_stage']} ({r['worst_max_abs']:.2e})", yes[bool(r["bit_identical"])], _verdict(r)]
                         for r in s["fidelity"]])
    if s.get("bf16"):
        lines += _table("bf16 autocast against float32, per stage",
                        ["variant", "stage", ">max abs", ">max rel", "finite"],
                        [[r["variant"], r["stage"], f"{r['max_abs']:.2e}", _f(r["max_rel"], ".2e"),
                          "yes" if r["finite"] else "NO"] for r in s["bf16"]])
    if s.get("bench"):
        lines += _table("Speed (median of alternating rounds; MFU = achieved over the measured bf16 matmul)",
                        ["variant", ">batch", "mode", "competitor", ">median s", ">TFLOP/s", ">MFU", ">÷ fastest ref",
                         ">|Δpred|"],
                        [[cell["variant"], cell["batch"], cell["mode"], r["name"], f"{r['median_s']:.4f}",
                          _f(r["tflops"], ".2f"), _f(r["mfu"], ".2f"), _f(r["over_fastest_reference"], ".3f"),
                          _f(r["pred_max_abs_diff"], ".1e")] for cell in s["bench"] for r in cell["results"]])
        speedups = [(c["variant"], c["batch"], c["mode"], c["speedups"]["mae_over_mask_tokens_in_encoder"])
                    for c in s["bench"] if c["speedups"].get("mae_over_mask_tokens_in_encoder")]
        if speedups:
            lines += ["## Encoding only the visible patches (paper Table 2: 2.8x-4.1x training)", ""]
            lines += [f"- {v} batch {b} {mode}: **{x:.2f}x**" for v, b, mode, x in speedups] + [""]
    mem = s.get("memory")
    if isinstance(mem, list) and mem:
        lines += _table("Memory: predicted peak vs torch.cuda.max_memory_allocated",
                        ["variant", ">batch", ">predicted MiB", ">measured MiB", ">difference"],
                        [[r["variant"], r["batch"], f"{r['predicted_bytes'] / 2**20:,.0f}",
                          f"{r['measured_bytes'] / 2**20:,.0f}", f"{r['difference']:+.1%}"] for r in mem])
    elif isinstance(mem, dict):
        lines += [f"Memory: skipped ({mem['skipped']}).", ""]
    lines += [f"- skipped: {what}" for what in report["skipped"]]
    lines += [f"- error in {e['section']}: {e['error']}" for e in report["errors"]]
    if s.get("classifier"):
        lines += _table("The fine-tuned classifier against timm (TF32 off)",
                        ["model", "grad", ">logits max abs", ">worst stage max abs", "bit-identical", "result"],
                        [[r["model"], yes[bool(r["grad"])], f"{r['logits_max_abs']:.2e}", f"{r['worst_max_abs']:.2e}",
                          yes[bool(r["bit_identical"])], _verdict(r)] for r in s["classifier"]])
    if s.get("steps"):
        lines += _table("Optimizer steps against the official loop (on the CPU)",
                        ["stage", "config", ">accum_iter", ">steps", ">largest parameter diff", "result"],
                        [[r["stage"], r["config"], r["accum_iter"], r["steps"], _f(r["param_max_abs"], ".2e"),
                          _verdict(r)] for r in s["steps"]])
    if report.get("timing"):
        lines += _table("Time per section against the H100 budget", ["section", ">seconds", ">budget (H100)"],
                        [[name, f"{t['seconds']:.1f}", _f(t["budget_h100_s"], "d")]
                         for name, t in report["timing"].items()])
    lines.append(f"\n{report.get('elapsed_s', 0):.0f} s in all.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        log("error: --device cuda: PyTorch sees no CUDA GPU here; use --device cpu --quick for the smoke test")
        return 2
    variants = [get_variant(v).name for v in args.variants.split(",")]
    run = Run(args)
    run.section("machine", lambda: machine(dev, args.quick))
    run.section("fidelity", lambda: fidelity(run, dev, variants))
    run.section("bf16", lambda: bf16_error(run, dev, variants))
    run.section("bench", lambda: bench_cells(run, dev, variants))
    run.section("memory", lambda: memory(run, dev, variants))
    run.section("classifier", lambda: classifier(run, dev, variants))
    run.section("steps", lambda: steps(run))
    print(markdown(run.report))
    sections = run.report["sections"]
    failed = [r for r in sections.get("fidelity", []) if not r["passed"] and not r["tf32"]]
    failed += [r for key in ("classifier", "steps") for r in sections.get(key, []) if not r["passed"]]
    return 1 if failed or run.report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
