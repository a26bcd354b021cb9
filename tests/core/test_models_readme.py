"""mae_core/models/README.md's side-by-side table agrees with the models (the doc cannot drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mae_core.models as models
from mae_core.models import VARIANTS, create_model
from mae_core.views import memory
from mae_core.views.flops import closed_form_macs

README = Path(models.__file__).with_name("README.md")


def table() -> dict[str, list[str]]:
    """label -> cells; the header row is under the label ``""`` (the variants' titles)."""
    rows = {}
    for line in README.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def readme_problems(name: str) -> list[str]:
    """What the README's table gets wrong about the registered variant ``name`` (empty: nothing)."""
    rows = table()
    title = VARIANTS[name].title
    if title not in rows[""]:
        return [f"models/README.md has no column {title!r} for {name}: add one"]
    column = rows[""].index(title)
    problems = [f"{label} for {name}: README says {rows[label][column]!r}, the model {value!r}"
                for label, value in expected(name).items() if rows.get(label, [None] * (column + 1))[column] != value]
    if rows["file"][column] != Path(models.__file__).parent.joinpath(rows["file"][column]).name:
        problems.append(f"file for {name}: {rows['file'][column]!r}")
    return problems


def expected(name: str) -> dict[str, str]:
    v = VARIANTS[name]
    c = v.config
    m = create_model(name, device="meta")
    macs = closed_form_macs(c, 0.75)

    def n(params) -> str:
        return f"{sum(p.numel() for p in params):,}"

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
        "training activations per image at mask 0.75 (float32, saved for backward)": memory.iec(per_image(c, False)),
        "the same with mask tokens in the encoder": memory.iec(per_image(c, True)),
        "largest batch in 80 GiB, AdamW float32 (MAE / mask tokens in the encoder)": batches(c, torch.float32, False),
        "largest batch in 80 GiB, AdamW bfloat16 autocast (MAE / mask tokens in the encoder)":
            batches(c, torch.bfloat16, True),
    }


def per_image(cfg, baseline: bool) -> int:
    """Bytes saved for backward per image (batch 2 minus batch 1: the few batch-independent bytes cancel)."""
    saved = [sum(s.bytes for s in memory.saved_stages(cfg, b, 0.75, mask_tokens_in_encoder=baseline)) for b in (1, 2)]
    return saved[1] - saved[0]


def batches(cfg, dtype, amp: bool) -> str:
    options = {"mode": "train", "optimizer": "adamw", "dtype": dtype, "amp": amp}
    mae, baseline = (memory.largest_batch_for(cfg, 80 * 2**30, 0.75, mask_tokens_in_encoder=b, **options)
                     for b in (False, True))
    return f"{mae} / {baseline}"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_readme_table_matches_models(name):
    assert readme_problems(name) == []


def test_readme_check_can_fail():
    rows = table()
    assert rows[""] == [v.title for v in VARIANTS.values()]  # one column per registered variant, in order
    real = expected
    try:
        globals()["expected"] = lambda name: {**real(name), "encoder depth": "13"}
        assert readme_problems("mae_vit_base_patch16") != []
    finally:
        globals()["expected"] = real
