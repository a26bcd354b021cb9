"""`mae memory`: how much memory a variant needs, per stage, for inference or training, before you run it.

Paper: MAE Sec. 3 (the encoder sees only the visible patches, the decoder every token, so the mask ratio
moves the answer) and Table 1c (mask tokens in the encoder: the budget comparison).
Services: :func:`mae_core.views.memory.memory_report` (the closed form, the budget search) and, with ``--check``,
:mod:`mae_core.views.memory_measured` (a real step, measured).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich.table import Table

from ..model_args import check_batch, check_mask_ratio, resolve_variant, size_overrides
from ..options import (AutocastOpt, BatchOpt, DeviceOpt, DtypeOpt, ImgSizeOpt, InChansOpt, MaskRatioOpt, ModeOpt,
                       VariantOpt, resolve_device, resolve_dtype)
from ..output import fmt_int, out, progress
from ..runner import BadInput, VerificationFailed, run

OptimizerOpt = Annotated[str, typer.Option(
    "--optimizer", metavar="NAME", help="Optimizer state in train mode: none, sgd or adamw (the paper's).")]
BudgetOpt = Annotated[str | None, typer.Option(
    "--budget", metavar="BYTES", show_default=False,
    help="Also find the largest batch that fits: 24GiB, 80GB or 1e9 (bytes).")]
CheckOpt = Annotated[bool, typer.Option(
    "--check", help="Run one real step and compare it with the closed form (exit 1 if it differs).")]


def command(
    variant: VariantOpt = "base",
    batch: BatchOpt = 1,
    mask_ratio: MaskRatioOpt = 0.75,
    mode: ModeOpt = "train",
    dtype: DtypeOpt = "float32",
    autocast: AutocastOpt = False,
    optimizer: OptimizerOpt = "adamw",
    budget: BudgetOpt = None,
    check: CheckOpt = False,
    device: DeviceOpt = "cpu",
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
) -> None:
    """Memory of a forward pass or training step, per stage.

    Weights, gradients, optimizer state (none for the fixed sin-cos tables), the activations each stage
    saves for backward (encoder and decoder blocks per block and in total), the transient peak of the
    largest stage, the total; IEC units. --mode inference (a forward pass without autograd) or train
    (forward + backward + optimizer step). --autocast: low precision by torch.autocast over float32
    weights (how MAE is trained); --native (default): weights cast to --dtype. --budget 24GiB (powers
    of 1024), 80GB (powers of 1000) or 1e9 (bytes): also the largest batch that fits, for the MAE and
    with mask tokens in the encoder. --check runs one real step at --batch on --device: on CPU the
    bytes autograd saves (train; must equal the closed form, else exit 1) or the live tensors' peak
    (inference); on CUDA the predicted peak against torch.cuda.max_memory_allocated.

    \b
    JSON (--json), one document with the keys:
      variant, title, mode, batch, mask_ratio, img_size ([H, W]), in_chans,
      grid ([h, w]), num_patches, num_visible, precision {name, weights,
      residual, matmul, stats, weight_copies}, optimizer, rows [{key,
      description, bytes}], saved [{key, description, bytes, count,
      per_block}], inference [{key, description, bytes}], transient_stage,
      total_bytes, budget {bytes, largest_batch,
      largest_batch_mask_tokens_in_encoder, batch_ratio,
      mask_tokens_in_encoder_bytes_at_largest_batch} or null, check {device,
      method, measured_bytes, predicted_bytes, difference_bytes, exact, agree,
      stages} or null.
    """
    run(lambda: memory(variant, batch, mask_ratio, mode, dtype, autocast, optimizer, budget, check, device, img_size,
                       in_chans), render)


def _options(mode: str, optimizer: str, budget: str | None) -> tuple[str, str, int | None]:
    from mae_core.views.memory import MODES, OPTIMIZERS, parse_bytes

    mode, optimizer = mode.strip().lower(), optimizer.strip().lower()
    if mode not in MODES:
        raise BadInput(f"--mode {mode!r} is not a mode; use inference or train")
    if optimizer not in OPTIMIZERS:
        raise BadInput(f"--optimizer {optimizer!r} is not supported; use none, sgd or adamw")
    budget_bytes = None
    if budget is not None:
        try:
            budget_bytes = parse_bytes(budget)
        except ValueError as exc:
            raise BadInput(f"--budget {exc}") from None
    return mode, optimizer, budget_bytes


def memory(variant: str, batch: int, mask_ratio: float, mode: str, dtype: str, amp: bool, optimizer: str,
           budget: str | None, check: bool = False, device: str = "cpu", img_size: str | None = None,
           in_chans: int = 3) -> dict[str, Any]:
    from mae_core.models import get_variant
    from mae_core.views import memory as mem

    mode, optimizer, budget_bytes = _options(mode, optimizer, budget)
    name = resolve_variant(variant)
    spec = get_variant(name)
    overrides = size_overrides(name, img_size, in_chans)
    cfg = spec.config.replace(**overrides)
    check_batch(batch)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    dt = resolve_dtype(dtype)
    dev = resolve_device(device) if check else None
    options = {"mode": mode, "dtype": dt, "amp": amp, "optimizer": optimizer}
    with progress("searching the largest batch that fits") if budget_bytes is not None else nullcontext():
        data = mem.memory_report(cfg, batch, mask_ratio, variant=name, title=spec.title, budget=budget_bytes,
                                 **options)
    if check:
        from mae_core.views.memory_measured import check_estimate

        mem.check_fits(cfg, batch, mask_ratio, what=f"the --check {mode} step of {spec.title}", device=dev,
                       **options)
        with progress(f"running one {mode} step of {spec.title} at batch {batch} on {dev}"):
            data["check"] = check_estimate(name, batch, mask_ratio, mode=mode, dtype=dt, amp=amp,
                                           optimizer=optimizer, device=dev, **overrides)
        if data["check"]["agree"] is False:
            raise VerificationFailed(data, "the measured bytes differ from the closed form")
    return data


def render(data: dict[str, Any]) -> None:
    from mae_core.views.memory import iec

    total = data["total_bytes"]
    H, W = data["img_size"]
    size = "" if (H, W, data["in_chans"]) == (224, 224, 3) else \
        f"{H if H == W else f'{H}x{W}'} px, C={data['in_chans']}, {data['grid'][0]}x{data['grid'][1]} grid, "
    table = Table(title=f"{data['title']} {data['mode']}, batch {data['batch']}, {size}mask {data['mask_ratio']:g} "
                        f"({data['num_visible']}/{data['num_patches']} visible), {data['precision']['name']}")
    table.add_column("")
    table.add_column("bytes", justify="right")
    table.add_column("share", justify="right")

    def row(label: str, n: int, style: str = "") -> None:
        table.add_row(f"[{style}]{label}[/]" if style else label, iec(n), f"{100 * n / total:.1f} %" if total else "-")

    for r in data["rows"]:
        if r["key"] == "saved":
            row(r["description"], r["bytes"], "bold")
            for s in data["saved"]:
                row(f"  {s['description']}", s["bytes"])
                if s["count"] > 1:
                    row("    per block", s["per_block"])
        else:
            row(r["description"], r["bytes"], "bold" if r["key"] == "total" else "")
    out.print(table)
    if data["budget"]:
        b = data["budget"]
        ratio = f" ({b['batch_ratio']:.2f}x)" if b["batch_ratio"] else ""
        out.print(f"largest batch in {iec(b['bytes'])}: [bold]{fmt_int(b['largest_batch'])}[/] for the MAE, "
                  f"{fmt_int(b['largest_batch_mask_tokens_in_encoder'])} with mask tokens in the encoder{ratio}")
        if b["mask_tokens_in_encoder_bytes_at_largest_batch"]:
            out.print(f"at batch {fmt_int(b['largest_batch'])}, mask tokens in the encoder would need "
                      f"{iec(b['mask_tokens_in_encoder_bytes_at_largest_batch'])}")
    if data["check"]:
        c = data["check"]
        verdict = {True: "[green]agree[/]", False: "[red]DIFFER[/]", None: "compared"}[c["agree"]]
        out.print(f"check on {c['device']} ({c['method']}): measured {fmt_int(c['measured_bytes'])} B, "
                  f"predicted {fmt_int(c['predicted_bytes'])} B, difference {fmt_int(c['difference_bytes'])} B: "
                  f"{verdict}")
    out.print("closed form from the config (mae_core/views/memory.py); train: the activations are what autograd keeps "
              "for backward (exact on CPU, checked with --check); the transient is the largest stage's own working "
              "set (an estimate of the backward pass's extra); 1 KiB = 1024 B")
