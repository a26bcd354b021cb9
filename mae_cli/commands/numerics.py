"""`mae numerics`: float32 against float16 / bfloat16, stage by stage, forward and (optionally) gradients.

Paper: MAE Appendix A.1 (mixed-precision training); facebookresearch/mae #167 (ViT-H NaN in float16).
Service: :func:`mae_core.views.numerics.numerics_report` (on the recorder, mae_core/views/recorder.py).
"""

from __future__ import annotations

from typing import Any


from ..model_args import sizes_for
from ..options import (BatchOpt, DtypeOpt, GradOpt, ImageOpt, ImgSizeOpt, InChansOpt, MaskRatioOpt, ResizeOpt, SeedOpt,
                       VariantOpt, WeightsOpt)
from ..output import error, note, out, progress
from ..runner import VerificationFailed, run


def command(variant: VariantOpt = None, weights: WeightsOpt = None, image: ImageOpt = None,
            batch: BatchOpt = None, dtype: DtypeOpt = "float16", grad: GradOpt = False,
            mask_ratio: MaskRatioOpt = 0.75, seed: SeedOpt = 0, img_size: ImgSizeOpt = None, in_chans: InChansOpt = 3,
            resize: ResizeOpt = "stretch") -> None:
    """float32 against float16 or bfloat16, stage by stage.

    Stage by stage (patch tokens, every encoder block, latent, decoder blocks, norm, predictor): the
    largest |activation| in float32 and in the precision of the run (--dtype float16 or bfloat16, by
    torch.autocast: weights stay float32), for float16 its share of 65504, the first stage that reaches
    inf/NaN, and the low-precision error against float32 on the same weights, images and masking noise
    (with --grad, every parameter's gradient too). Exit 1 if a non-finite value appears; the message
    names the stage.

    \b
    JSON (--json), one document with the keys:
      variant, title, weights, notes, inputs, batch, img_size ([H, W]),
      in_chans, mask_ratio, seed, grad, float16_max, dtype, precision, stages
      (list of {name, shape, max_abs_float32, max_abs, float16_share, finite,
      max_abs_error, rel_error}), first_nonfinite, float32_finite,
      loss_float32, loss, gradients (same rows, one per parameter),
      first_nonfinite_gradient, ok.
    """

    def compute() -> dict[str, Any]:
        from mae_core.views.numerics import numerics_report

        with progress(f"float32 and {dtype} forward passes"):
            report = numerics_report(variant, weights, image, batch, seed, dtype=dtype, mask_ratio=mask_ratio,
                                     grad=grad,
                                     overrides=sizes_for(img_size, in_chans, pictures=bool(image)),
                                     resize=resize)
        for line in report["notes"]:
            note(line)
        if not report["ok"]:
            where = report["first_nonfinite"] or report["first_nonfinite_gradient"] or "the float32 run"
            message = f"{report['dtype']}: the first non-finite value is at {where}"
            error(f"fail: {message}")
            raise VerificationFailed(report, message)
        return report

    run(compute, render)


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _short(name: str) -> str:
    return name.replace("encoder.", "enc ").replace("decoder.", "dec ")


def render(r: dict[str, Any]) -> None:
    from rich.table import Table

    float16 = r["dtype"] == "float16"  # bfloat16 has float32's range: a share of 65504 would mislead
    low = "fp16" if float16 else "bf16"
    table = Table(title=f"{r['title']}: float32 vs {r['precision']}")
    columns = ("stage", "fp32 max", f"{low} max", *(("of 65504",) if float16 else ()), "max err", "rel err")
    for column in columns:
        table.add_column(column, justify="left" if column == "stage" else "right", no_wrap=True)
    for s in r["stages"]:
        peak = _number(s["max_abs"]) if s["finite"] else "[red]inf/nan[/red]"
        share = (f"{s['float16_share']:.2%}",) if float16 else ()
        table.add_row(_short(s["name"]), _number(s["max_abs_float32"]), peak, *share,
                      _number(s["max_abs_error"]), _number(s["rel_error"]))
    out.print(table)
    if not float16:
        out.print("bfloat16 keeps float32's exponent range (largest 3.4e38): no overflow column", highlight=False)
    if r["grad"]:
        worst = sorted(r["gradients"], key=lambda g: float("inf") if g["rel_error"] is None else g["rel_error"],
                       reverse=True)
        grads = Table(title=f"gradients: the 10 worst of {len(worst)} parameters")
        for column in ("parameter", "fp32 max |g|", "rel err"):
            grads.add_column(column, justify="left" if column == "parameter" else "right")
        for g in worst[:10]:
            grads.add_row(g["name"], _number(g["max_abs_float32"]),
                          _number(g["rel_error"]) if g["finite"] else "[red]inf/nan[/red]")
        out.print(grads)
    out.print(f"loss: float32 {r['loss_float32']:.6g}, {r['dtype']} {r['loss']:.6g}", highlight=False)
    if r["ok"]:
        out.print("[green]OK[/green] every stage is finite")
    else:
        where = r["first_nonfinite"] or r["first_nonfinite_gradient"] or "the float32 run"
        out.print(f"[red]FAIL[/red] first non-finite value at {where}")
