"""`mae flops`: compute of one forward pass per stage, counted by PyTorch and cross-checked in closed form.

Paper: MAE Sec. 3 "MAE encoder" (the encoder sees only the visible patches) and Table 1c (mask tokens in
the encoder cost 3.3x the FLOPs). The numbers come from :mod:`mae_core.views.flops`; the model is
built on the ``meta`` device, so even ViT-H/14 is counted in seconds without memory.

Exit 1 when the two counts disagree.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ..common import (BadInput, ImgSizeOpt, InChansOpt, MaskRatioOpt, VariantOpt, VerificationFailed,
                      esc, fmt_int, out, progress, resolve_variant, run)


def command(
    variant: VariantOpt = None,
    mask_ratio: MaskRatioOpt = 0.75,
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
) -> None:
    """FLOPs per image of each stage, counted and closed-form.

    FLOPs per image of each stage (encoder on the visible tokens and on every token, decoder, total,
    forward + backward, mask tokens in the encoder), counted by torch.utils.flop_counter on the meta device
    and by a closed form from the config; exit 1 if they disagree. 1 MAC = 2 FLOPs.

    \b
    JSON (--json), one document with the keys: variant, title, img_size (H, or [H,
      W]), grid ([h, w]), in_chans, size, mask_ratio, num_patches, num_visible,
      units, stages [{stage, description, tokens, macs, flops_counted,
      flops_closed_form, gflops, agree}], encoder_block_macs {product: MACs},
      encoder_saving, total_saving_vs_mask_tokens_in_encoder, train_over_forward,
      agree. With --variant vit_base_patch16 / vit_large_patch16 /
      vit_huge_patch14 (a fine-tuned classifier: the encoder on every patch, then
      the head): variant, title, num_patches, num_classes, units, classifier
      (true), stages [{stage (patch_embed, encoder, head, total, train), tokens,
      macs, flops_counted, flops_closed_form, gflops, agree}], agree.
    """
    run(lambda: compute(variant, mask_ratio, img_size, in_chans), render)


def compute(variant: str | None, mask_ratio: float, img_size: str | None = None, in_chans: int = 3) -> dict[str, Any]:
    """A classifier (every patch, then the head) or an MAE variant at a size: counted and closed-form FLOPs."""
    from mae_core.models import is_classifier
    from mae_core.views.flops import classifier_flops, variant_flops

    if variant is not None and is_classifier(variant):  # the fine-tuned classifier: every patch, then the head
        if img_size is not None or in_chans != 3:
            raise BadInput("--img-size and --in-chans apply to the MAE variants; the classifiers count at 224 px, RGB")
        with progress(f"counting the FLOPs of {variant} on the meta device"):
            data = classifier_flops(variant)
        if not data["agree"]:
            raise VerificationFailed(data, "counted and closed-form FLOPs of the classifier disagree")
        return data
    report, data = variant_flops(resolve_variant(variant or "base"), mask_ratio, img_size, in_chans, stage=progress)
    if not report.agree:
        bad = [s["stage"] for s in data["stages"] if not s["agree"]]
        raise VerificationFailed(data, f"flop_counter and the closed form disagree on {', '.join(bad)}")
    return data


def _render_classifier(data: dict[str, Any]) -> None:
    table = Table(title=f"{esc(data['title'])} GFLOPs per image ({data['num_patches']} patches, all seen; "
                        f"{data['num_classes']} classes)", caption=data["units"])
    for column in ("stage", "tokens", "GMACs", "GFLOPs counted", "GFLOPs closed form", "agree"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in data["stages"]:
        table.add_row(s["stage"], str(s["tokens"]), f"{s['macs'] / 1e9:.3f}", f"{s['flops_counted'] / 1e9:.3f}",
                      f"{s['flops_closed_form'] / 1e9:.3f}", "[green]yes[/]" if s["agree"] else "[red]NO[/]")
    out.print(table)


def render(data: dict[str, Any]) -> None:
    if data.get("classifier"):
        return _render_classifier(data)
    L, keep = data["num_patches"], data["num_visible"]
    size = f"{data['size']}, " if data.get("size", "224 px") != "224 px" or data.get("in_chans", 3) != 3 else ""
    table = Table(title=f"{esc(data['title'])} GFLOPs per image, {size}mask ratio {data['mask_ratio']:g} "
                        f"({keep} of {L} patches visible)")
    table.add_column("stage")
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("GMACs", justify="right", no_wrap=True)
    table.add_column("GFLOPs counted", justify="right", no_wrap=True)
    table.add_column("GFLOPs closed form", justify="right", no_wrap=True)
    table.add_column("agree", justify="center", no_wrap=True)
    for s in data["stages"]:
        table.add_row(s["description"], str(s["tokens"]) if s["tokens"] else "-", f"{s['macs'] / 1e9:.3f}",
                      f"{s['flops_counted'] / 1e9:.3f}", f"{s['flops_closed_form'] / 1e9:.3f}",
                      "[green]yes[/]" if s["agree"] else "[red]NO[/]")
    out.print(table)

    block = Table(title=f"one encoder block on {keep + 1} tokens (visible + cls), MACs")
    block.add_column("matrix product")
    block.add_column("MACs", justify="right")
    block.add_column("share", justify="right")
    total = sum(data["encoder_block_macs"].values())
    for name, macs in data["encoder_block_macs"].items():
        block.add_row(name, fmt_int(macs), f"{100 * macs / total:.1f} %")
    out.print(block)

    out.print(f"encoder work saved by masking: [bold]{data['encoder_saving']:.2f}x[/] "
              f"(every token / visible tokens); whole forward with mask tokens in the encoder: "
              f"[bold]{data['total_saving_vs_mask_tokens_in_encoder']:.2f}x[/] the MAE's; "
              f"forward + backward = {data['train_over_forward']:.2f}x forward")
    out.print("1 MAC = 2 FLOPs; counted = torch.utils.flop_counter on the meta device (matrix products and the "
              "patch convolution, attention's q k^T and weights v included); closed form = from the config")
