"""`mae memory`: how much memory a variant needs, per stage, for inference or training, before you run it.

Paper: MAE Sec. 3 (the encoder sees only the visible patches, the decoder every token, so the mask ratio
moves the answer) and Table 1c (mask tokens in the encoder: the budget comparison).
Services: :func:`mae_core.views.memory_budget.memory_report` (the closed form, the budget search) and, with ``--check``,
:mod:`mae_core.views.memory_measured` (a real step, measured).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich.table import Table

from ..options import (AutocastOpt, BatchOpt, DeviceOpt, DtypeOpt, ImgSizeOpt, InChansOpt, MaskRatioOpt, ModeOpt,
                       StageOpt, VariantOpt, resolve_device, resolve_dtype)
from ..output import fmt_int, out, progress
from ..runner import BadInput, VerificationFailed, run

OptimizerOpt = Annotated[str | None, typer.Option(
    "--optimizer", metavar="NAME", show_default=False,
    help="Optimizer state in train mode: none, sgd, adamw or lars [default: the stage's].")]
BudgetOpt = Annotated[str | None, typer.Option(
    "--budget", metavar="BYTES", show_default=False,
    help="Also find the largest batch that fits: 24GiB, 80GB or 1e9 (bytes).")]
CheckOpt = Annotated[bool, typer.Option(
    "--check", help="Run one real step and compare it with the closed form (exit 1 if it differs).")]


def command(
    variant: VariantOpt = "base",
    stage: StageOpt = None,
    batch: BatchOpt = 1,
    mask_ratio: MaskRatioOpt = None,
    mode: ModeOpt = "train",
    dtype: DtypeOpt = "float32",
    autocast: AutocastOpt = False,
    optimizer: OptimizerOpt = None,
    budget: BudgetOpt = None,
    check: CheckOpt = False,
    device: DeviceOpt = "cpu",
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
) -> None:
    """Memory of a forward pass or training step, per stage.

    Weights, gradients, optimizer state (none for the fixed sin-cos tables), the activations each stage
    saves for backward (blocks per block and in total), the transient peak of the largest stage, the
    total; IEC units. --stage pretrain (the MAE, mask --mask-ratio, default 0.75; AdamW), finetune (the
    classifier on every patch: drop path as FINETUNE.md, global pool, label smoothing 0.1, AdamW on all
    weights) or linprobe (encoder frozen, BatchNorm + Linear head, LARS); a classifier name
    (vit_base_patch16) means finetune. --mode inference (a forward pass without autograd) or train
    (forward + backward + optimizer step). --autocast: low precision by torch.autocast over float32
    weights (how MAE is trained); --native (default): weights cast to --dtype. --budget 24GiB (powers
    of 1024), 80GB (powers of 1000) or 1e9 (bytes): also the largest batch that fits (pretrain: also
    with mask tokens in the encoder). --check runs one real step at --batch on --device: on CPU the
    bytes autograd saves (train; must equal the closed form, else exit 1) or the live tensors' peak
    (inference); on CUDA the predicted peak against torch.cuda.max_memory_allocated.

    \b
    JSON (--json), one document with the keys:
      variant, title, stage, mode, batch, mask_ratio (0 for a classifier),
      img_size ([H, W]), in_chans, grid ([h, w]), num_patches, num_visible,
      precision {name, weights, residual, matmul, stats, weight_copies},
      optimizer, rows [{key, description, bytes}], saved [{key, description,
      bytes, count, per_block}], inference [{key, description, bytes}],
      transient_stage, total_bytes, classifier {num_classes, global_pool,
      drop_path_rate, label_smoothing, linear_probe} or null, budget {bytes,
      largest_batch, largest_batch_mask_tokens_in_encoder, batch_ratio,
      mask_tokens_in_encoder_bytes_at_largest_batch} or null, check {device,
      method, measured_bytes, predicted_bytes, difference_bytes, exact, agree,
      stages} or null.
    """
    run(lambda: compute(variant, batch, mask_ratio, mode, dtype, autocast, optimizer, budget, check, device, img_size,
                        in_chans, stage), render)


def compute(variant: str, batch: int, mask_ratio: float | None, mode: str, dtype: str, amp: bool,
            optimizer: str | None, budget: str | None, check: bool = False, device: str = "cpu",
            img_size: str | None = None, in_chans: int = 3, stage: str | None = None) -> dict[str, Any]:
    """Check the options, size the stage's step (:func:`mae_core.views.memory_budget.memory_report`) and,
    with --check, measure one (:func:`mae_core.views.memory_measured.measure_subject`)."""
    from mae_core.views import memory_budget
    from mae_core.views.memory_measured import measure_subject
    from mae_core.views.prepare import check_batch, check_mask_ratio, stage_subject

    mode, optimizer, budget_bytes = memory_budget.memory_settings(mode, optimizer, budget)
    subject = stage_subject(variant, stage and stage.strip().lower(), img_size, in_chans)
    if subject.step is not None and mask_ratio is not None:
        raise BadInput(f"--mask-ratio: a classifier ({subject.stage}) sees every patch; drop --mask-ratio")
    mask_ratio = check_mask_ratio(0.75 if mask_ratio is None else mask_ratio, subject.config.num_patches)
    options = {"mode": mode, "dtype": resolve_dtype(dtype), "amp": amp, "optimizer": optimizer, "step": subject.step}
    with progress("searching the largest batch that fits") if budget_bytes is not None else nullcontext():
        data = memory_budget.memory_report(subject.config, check_batch(batch), mask_ratio, variant=subject.name,
                                           title=subject.title, budget=budget_bytes, **options)
    if check:
        data["check"] = measure_subject(subject, batch, mask_ratio, resolve_device(device), stage=progress,
                                        **dict(options, optimizer=data["optimizer"]))
        if data["check"]["agree"] is False:
            raise VerificationFailed(data, "the measured bytes differ from the closed form")
    return data


def render(data: dict[str, Any]) -> None:
    from mae_core.views.memory import iec

    total = data["total_bytes"]
    H, W = data["img_size"]
    size = "" if (H, W, data["in_chans"]) == (224, 224, 3) else \
        f"{H if H == W else f'{H}x{W}'} px, C={data['in_chans']}, {data['grid'][0]}x{data['grid'][1]} grid, "
    train = data["mode"] == "train"
    step = {"pretrain": data["mode"], "finetune": "fine-tuning step" if train else "forward pass",
            "linprobe": "linear-probing step" if train else "forward pass"}[data["stage"]]
    seen = (f"mask {data['mask_ratio']:g} ({data['num_visible']}/{data['num_patches']} visible)"
            if data["classifier"] is None else f"all {data['num_patches']} patches")
    table = Table(title=f"{data['title']} {step}, batch {data['batch']}, {size}{seen}, {data['precision']['name']}")
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
        if b["largest_batch_mask_tokens_in_encoder"] is None:  # a classifier: no Table 1c baseline
            out.print(f"largest batch in {iec(b['bytes'])}: [bold]{fmt_int(b['largest_batch'])}[/]")
        else:
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
    source = "memory.py" if data["classifier"] is None else "memory_classifier.py"
    out.print(f"closed form from the config (mae_core/views/{source}); train: the activations are what autograd keeps "
              "for backward (exact on CPU, checked with --check); the transient is the largest stage's own working "
              "set (an estimate of the backward pass's extra); 1 KiB = 1024 B")
