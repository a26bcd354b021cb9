"""`mae shapes`: the tensor shape after each stage of the forward pass, traced through the real modules.

Paper: MAE Sec. 3 (Fig. 1). Service: :func:`mae_core.views.shapes.shape_trace` (forward hooks on a
meta-device model: real shapes, no memory, no arithmetic).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import (BadInput, BatchOpt, ImgSizeOpt, InChansOpt, MaskRatioOpt, VariantOpt, esc,
                      out, progress, resolve_variant, run)

AllBlocksOpt = Annotated[bool, typer.Option(
    "--all-blocks", help="One row per Transformer block (default: identical blocks collapsed into one row).")]


def command(variant: VariantOpt = None, batch: BatchOpt = 2, mask_ratio: MaskRatioOpt = 0.75,
            all_blocks: AllBlocksOpt = False, img_size: ImgSizeOpt = None, in_chans: InChansOpt = 3) -> None:
    """The shape after each stage, traced on the real modules.

    The tensor shape after each stage of the MAE forward pass (image, patches, tokens, masking,
    encoder blocks, latent, decoder, pred, mask, loss), traced with hooks on the real modules of a
    meta-device model: never a hand-written list.

    \b
    JSON (--json), one document with the keys: variant, title, device, batch,
      mask_ratio, img_size (H or [H, W]), patch_size, grid ([h, w] patches),
      in_chans, num_patches, num_visible, stages (list of {stage, shape,
      traced_at, part, group, repeat}). part is input, encoder, decoder or loss
      (head for a classifier: --variant vit_base_patch16 ..., every patch seen,
      mask_ratio 0, stages to the pooled features and logits); repeat > 1 on a row
      that stands for that many identical blocks (never with --all-blocks).
    """
    run(lambda: compute(variant, batch, mask_ratio, all_blocks, img_size, in_chans), render,
        to_json=lambda t: t.to_dict())


def compute(variant: str | None, batch: int, mask_ratio: float, all_blocks: bool, img_size: str | None = None,
            in_chans: int = 3):
    from mae_core.models import get_variant, is_classifier
    from mae_core.views.sizes import check_mask_ratio, size_overrides
    from mae_core.views.shapes import classifier_shape_trace, shape_trace

    if variant is not None and is_classifier(variant):  # the fine-tuned classifier: every patch, to the logits
        if img_size is not None or in_chans != 3:
            raise BadInput("--img-size and --in-chans apply to the MAE variants; the classifiers trace at 224 px, RGB")
        with progress(f"tracing the forward pass of {variant} on the meta device"):
            return classifier_shape_trace(variant, batch, all_blocks=all_blocks)
    name = resolve_variant(variant or "base")
    spec = get_variant(name)
    overrides = size_overrides(name, img_size, in_chans)
    check_mask_ratio(mask_ratio, spec.config.replace(**overrides).num_patches)
    with progress(f"tracing the forward pass of {spec.title} on the meta device"):
        return shape_trace(name, batch, mask_ratio, all_blocks=all_blocks, **overrides)


def render(trace) -> None:
    from rich.table import Table

    h, w = trace.grid
    size = trace.img_size if isinstance(trace.img_size, int) else "x".join(map(str, trace.img_size))
    # The registry's own size reads as before; another size or channel count is named, with the grid.
    other = "" if (size, trace.in_chans) == (224, 3) else f"{size} px, C={trace.in_chans}, "
    grid = "" if not other else f"{h}x{w} = "
    table = Table(title=f"{esc(trace.title)} forward pass: B={trace.batch}, {other}mask ratio {trace.mask_ratio:g} "
                        f"({grid}{trace.num_patches} patches, {trace.num_visible} visible)",
                  caption=f"traced with hooks on the {trace.device} device; sections: input, encoder, decoder, loss")
    table.add_column("stage", no_wrap=True)
    table.add_column("shape", justify="right", no_wrap=True)
    table.add_column("traced at", style="dim", overflow="fold")
    for i, s in enumerate(trace.stages):
        last_of_part = i + 1 == len(trace.stages) or trace.stages[i + 1].part != s.part
        shape = "(" + ", ".join(map(str, s.shape)) + ")" if s.shape else "() scalar"
        table.add_row(esc(s.stage), shape, esc(s.traced_at), end_section=last_of_part)
    out.print(table)
