"""`mae shapes`: every stage's shape checked against the shape the config implies, for each variant."""

from __future__ import annotations

import pytest

from mae_core.models import get_variant, list_models


def expected_shapes(variant: str, B: int, mask_ratio: float) -> dict[str, tuple[int, ...]]:
    """What each stage must be, from the config's numbers (not from the tracer)."""
    cfg = get_variant(variant).config
    L = (cfg.img_size // cfg.patch_size) ** 2
    keep = int(L * (1 - mask_ratio))
    D, Dd, P = cfg.embed_dim, cfg.decoder_embed_dim, cfg.patch_size**2 * cfg.in_chans
    return {
        "image": (B, cfg.in_chans, cfg.img_size, cfg.img_size),
        "patches (loss target)": (B, L, P),
        "patch tokens": (B, L, D),
        "visible tokens": (B, keep, D),
        "+ cls token": (B, 1 + keep, D),
        f"encoder blocks 0-{cfg.depth - 1}": (B, 1 + keep, D),
        "latent": (B, 1 + keep, D),
        "decoder embed": (B, 1 + keep, Dd),
        "+ mask tokens, unshuffled": (B, 1 + L, Dd),
        f"decoder blocks 0-{cfg.decoder_depth - 1}": (B, 1 + L, Dd),
        "decoder norm": (B, 1 + L, Dd),
        "pred with cls row": (B, 1 + L, P),
        "pred": (B, L, P),
        "mask": (B, L),
        "loss": (),
    }


@pytest.mark.parametrize("variant", list_models())
def test_shapes_json_matches_the_config(cli_json, variant):
    doc = cli_json("shapes", "--variant", variant)
    B, ratio = doc["batch"], doc["mask_ratio"]
    assert (B, ratio, doc["device"]) == (2, 0.75, "meta")
    stages = {}
    for s in doc["stages"]:
        stages.setdefault(s["stage"], []).append(tuple(s["shape"]))
    for name, shape in expected_shapes(variant, B, ratio).items():
        assert name in stages, name
        assert stages[name][0] == shape, name
    # "+ positions" appears twice: after the patch embedding (encoder) and after unshuffling (decoder).
    cfg = get_variant(variant).config
    L = cfg.num_patches
    assert stages["+ positions"] == [(B, L, cfg.embed_dim), (B, 1 + L, cfg.decoder_embed_dim)]
    parts = [s["part"] for s in doc["stages"]]
    assert parts == sorted(parts, key=["input", "encoder", "decoder", "loss"].index)


def test_huge_shows_256_patches_and_64_visible(cli, cli_json):
    doc = cli_json("shapes", "--variant", "huge")
    assert doc["num_patches"] == 256 and doc["num_visible"] == 64
    visible = next(s for s in doc["stages"] if s["stage"] == "visible tokens")
    assert visible["shape"] == [2, 64, 1280]
    result = cli("shapes", "--variant", "huge")
    assert result.exit_code == 0 and "256 patches, 64 visible" in result.stdout


def test_blocks_are_collapsed_by_default_and_expanded_with_all_blocks(cli_json):
    cfg = get_variant("large").config
    collapsed = cli_json("shapes", "-m", "large")["stages"]
    rows = [s for s in collapsed if s["group"] == "encoder.blocks"]
    assert len(rows) == 1 and rows[0]["repeat"] == cfg.depth
    assert rows[0]["traced_at"] == f"encoder.blocks.0-{cfg.depth - 1} out"

    expanded = cli_json("shapes", "-m", "large", "--all-blocks")["stages"]
    enc = [s["stage"] for s in expanded if s["group"] == "encoder.blocks"]
    dec = [s["stage"] for s in expanded if s["group"] == "decoder.blocks"]
    assert enc == [f"encoder block {i}" for i in range(cfg.depth)]
    assert dec == [f"decoder block {i}" for i in range(cfg.decoder_depth)]
    assert all(s["repeat"] == 1 for s in expanded)
    assert len(expanded) == len(collapsed) + cfg.depth - 1 + cfg.decoder_depth - 1


@pytest.mark.parametrize("batch,ratio", [(1, 0.5), (3, 0.9), (2, 0.0)])
def test_batch_and_mask_ratio(cli_json, batch, ratio):
    doc = cli_json("shapes", "--batch", str(batch), "--mask-ratio", str(ratio))
    expected = expected_shapes("base", batch, ratio)
    got = {s["stage"]: tuple(s["shape"]) for s in doc["stages"]}
    for name in ("visible tokens", "latent", "pred", "mask"):
        assert got[name] == expected[name]
    assert doc["num_visible"] == int(doc["num_patches"] * (1 - ratio))


def test_shapes_table(cli):
    result = cli("shapes")
    assert result.exit_code == 0, result.stderr
    for text in ("image", "(2, 3, 224, 224)", "visible tokens", "(2, 49, 768)", "encoder.patch_embed out", "loss"):
        assert text in result.stdout
