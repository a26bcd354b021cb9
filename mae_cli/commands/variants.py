"""`mae variants`: the model registry as the paper's table.

Paper: MAE Table 3 / Sec. 4 (ViT-B/16, ViT-L/16, ViT-H/14, decoder 512 wide, 8 blocks, 16 heads).
Service: :func:`mae_core.views.variants.variant_table` (parameter counts counted from each model
built on the meta device).
"""

from __future__ import annotations

from ..output import esc, fmt_int, out
from ..runner import run


def command() -> None:
    """The registered variants, as the paper's table.

    Parameter counts counted from the models built on the meta device.

    \b
    JSON (--json), one document with the key variants, a list of
      {name, short, title, official_name, aliases, every MAEConfig field
      (img_size, patch_size, in_chans, embed_dim, depth, num_heads,
      decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio,
      ln_eps, norm_pix_loss), num_patches, num_visible, mask_ratio,
      patch_dim, total_params, trainable_params, encoder_params,
      decoder_params}; and the key classifiers, a list of the fine-tuned classifiers
      {name, title, pretrained, params, official_params, finetune_drop_path, release, acc1, acc5}.
    """
    run(compute, render,
        to_json=lambda data: {"variants": [r.to_dict() for r in data[0]], "classifiers": data[1]})


def compute():
    from mae_core.views.variants import classifier_table, variant_table

    return variant_table(), classifier_table()


def render(data) -> None:
    rows, classifiers = data
    from rich.table import Table

    table = Table(title="MAE variants", caption="parameters counted from each model built on the meta device")
    table.add_column("", no_wrap=True)
    for r in rows:
        table.add_column(r.title, justify="right", overflow="fold")

    def line(label: str, value) -> None:
        table.add_row(label, *(value(r) for r in rows))

    line("--variant", lambda r: r.short)
    line("patch size", lambda r: str(r.config.patch_size))
    line("width / depth / heads", lambda r: f"{r.config.embed_dim} / {r.config.depth} / {r.config.num_heads}")
    line("decoder w / d / h",
         lambda r: f"{r.config.decoder_embed_dim} / {r.config.decoder_depth} / {r.config.decoder_num_heads}")
    line("patches", lambda r: f"{r.num_patches} @ {r.config.img_size} px")
    line("visible", lambda r: f"{r.num_visible} @ mask {r.mask_ratio:g}")
    line("pixels per patch", lambda r: str(r.patch_dim))
    line("parameters", lambda r: fmt_int(r.total_params))
    line("  trainable", lambda r: fmt_int(r.trainable_params))
    line("  encoder", lambda r: fmt_int(r.encoder_params))
    line("  decoder", lambda r: fmt_int(r.decoder_params))
    out.print(table)
    for r in rows:
        out.print(f"{esc(r.short)}: registry name {esc(r.name)}", highlight=False)
    ctable = Table(title="fine-tuned classifiers (models_vit.py; mae classify, compare-official)",
                   caption="parameters with 1000 classes and global pool, counted on the meta device")
    for column in ("name", "fine-tuned from", "parameters", "official", "reference Acc@1 / Acc@5"):
        ctable.add_column(column, justify="left" if column in ("name", "fine-tuned from") else "right", no_wrap=True)
    for c in classifiers:
        acc = f"{c['acc1']:.3f} / {c['acc5']:.3f} %" if c["acc1"] is not None else "-"
        ctable.add_row(esc(c["name"]), esc(c["title"]), fmt_int(c["params"]),
                       fmt_int(c["official_params"]), acc)
    out.print(ctable)
