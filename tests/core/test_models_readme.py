"""mae_core/models/README.md's side-by-side table agrees with the models (the doc cannot drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mae_core.models as models
from mae_core.views.flops import closed_form_macs
from mae_core.models import VARIANTS, create_model

README = Path(models.__file__).with_name("README.md")


def table() -> dict[str, list[str]]:
    rows = {}
    for line in README.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def expected(name: str) -> dict[str, str]:
    v = VARIANTS[name]
    c = v.config
    m = create_model(name, device="meta")
    macs = closed_form_macs(c, 0.75)
    n = lambda params: f"{sum(p.numel() for p in params):,}"  # noqa: E731
    return {
        "": v.title,
        "class": v.cls.__name__,
        "factory": v.factory.__name__,
        "short name": v.short,
        "patch size p": str(c.patch_size),
        "encoder width D": str(c.embed_dim),
        "encoder depth": str(len(m.encoder.blocks)),
        "encoder heads": str(m.encoder.blocks[0].attn.num_heads),
        "MLP hidden width": str(m.encoder.blocks[0].mlp.fc1.out_features),
        "decoder width / depth / heads": f"{m.decoder.embed.out_features} / {len(m.decoder.blocks)} / "
                                         f"{m.decoder.blocks[0].attn.num_heads}",
        "patches at 224 px (L)": str(m.encoder.patch_embed.num_patches),
        "visible at mask 0.75 (L_keep)": str(c.num_visible(0.75)),
        "values predicted per patch (p*p*3)": str(m.decoder.pred.out_features),
        "parameters, total": n(m.parameters()),
        "parameters, trainable": n(p for p in m.parameters() if p.requires_grad),
        "parameters, encoder": n(m.encoder.parameters()),
        "parameters, decoder": n(m.decoder.parameters()),
        "GFLOPs per forward at mask 0.75 (2 x MACs, per image)": f"{2 * macs['total'] / 1e9:.2f}",
        "GFLOPs of the encoder if it saw every token": f"{2 * macs['encoder_all_tokens'] / 1e9:.2f}",
    }


@pytest.mark.parametrize("column, name", list(enumerate(VARIANTS)))
def test_readme_table_matches_models(column, name):
    rows = table()
    for label, value in expected(name).items():
        assert rows[label][column] == value, f"{label} for {name}"
    assert rows["file"][column] == Path(models.__file__).parent.joinpath(rows["file"][column]).name
