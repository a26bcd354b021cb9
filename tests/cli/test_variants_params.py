"""`mae variants` and `mae params`: the JSON checked against counts the tests take from the models
themselves, and the official counts (known facts of the official model) against the shipped listing."""

from __future__ import annotations

import copy
import json
import math

import pytest

import mae_core.views.params as params_service
from mae_core.models import create_model, get_variant, list_models

OFFICIAL_TOTALS = {  # the official models' parameter counts (facts; also in DESIGN.md)
    "mae_vit_base_patch16": 111_907_840,
    "mae_vit_large_patch16": 329_541_888,
    "mae_vit_huge_patch14": 657_074_508,
}


def numel(params) -> int:
    return sum(p.numel() for p in params)


# --- mae variants ------------------------------------------------------------------------------------

def test_variants_json_lists_the_registry_with_counted_parameters(cli_json):
    rows = cli_json("variants")["variants"]
    assert [r["name"] for r in rows] == list_models()
    for r in rows:
        model = create_model(r["name"], device="meta")
        cfg = model.config
        assert r["total_params"] == numel(model.parameters())
        assert r["trainable_params"] == numel(p for p in model.parameters() if p.requires_grad)
        assert r["encoder_params"] + r["decoder_params"] == r["total_params"]
        assert r["num_patches"] == (cfg.img_size // cfg.patch_size) ** 2
        assert r["num_visible"] == int(r["num_patches"] * (1 - r["mask_ratio"]))
        assert r["patch_dim"] == cfg.patch_size**2 * cfg.in_chans
        assert (r["embed_dim"], r["depth"], r["num_heads"]) == (cfg.embed_dim, cfg.depth, cfg.num_heads)
        assert get_variant(r["short"]).name == r["name"]


def test_variants_paper_numbers(cli_json):
    rows = {r["short"]: r for r in cli_json("variants")["variants"]}
    assert rows["huge"]["num_patches"] == 256 and rows["huge"]["num_visible"] == 64
    assert rows["base"]["num_patches"] == 196 and rows["base"]["num_visible"] == 49
    for r in rows.values():
        assert (r["decoder_embed_dim"], r["decoder_depth"], r["decoder_num_heads"]) == (512, 8, 16)
        assert r["total_params"] == OFFICIAL_TOTALS[r["name"]]


def test_variants_table(cli):
    result = cli("variants")
    assert result.exit_code == 0, result.stderr
    for title in ("ViT-B/16", "ViT-L/16", "ViT-H/14", "657,074,508"):
        assert title in result.stdout


# --- mae params --------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", list_models())
def test_params_json_equals_the_model_and_the_official_count(cli_json, variant):
    doc = cli_json("params", "--variant", variant)
    model = create_model(variant, device="meta")
    counts = doc["counts"]
    assert counts["total"] == numel(model.parameters())
    assert counts["trainable"] == numel(p for p in model.parameters() if p.requires_grad)
    assert counts["fixed"] == model.encoder.pos_embed.numel() + model.decoder.pos_embed.numel()
    assert counts["encoder"] == numel(model.encoder.parameters())
    assert counts["decoder"] == numel(model.decoder.parameters())
    assert doc["fixed_names"] == ["encoder.pos_embed", "decoder.pos_embed"]
    assert doc["official"]["total"] == OFFICIAL_TOTALS[variant]
    assert doc["difference"] == {k: 0 for k in counts}
    assert doc["verified"] is True and doc["mismatches"] == []


def test_params_official_count_is_computed_from_the_listing(official_reference):
    """The official column is summed from the shipped listing's shapes; it equals the test copy's totals."""
    for name in list_models():
        listed = official_reference[name]
        expected = sum(math.prod(v["shape"]) for v in listed["parameters"].values())
        assert params_service.official_counts(name).total == expected == listed["total_params"]
        assert params_service.official_counts(name).trainable == listed["trainable_params"]


@pytest.mark.parametrize("alias", ["huge", "mae_vit_huge_patch14", "mae_vit_huge_patch14_dec512d8b", "MAEViTHuge",
                                   "ViT-H/14", "HUGE"])
def test_params_accepts_every_registry_name(cli_json, alias):
    assert cli_json("params", "--variant", alias, "--depth", "0")["variant"] == "mae_vit_huge_patch14"


def test_params_breakdown_depths(cli_json):
    model = create_model("large", device="meta")
    total = numel(model.parameters())

    top = cli_json("params", "-m", "large", "--depth", "1")["modules"]
    assert [m["name"] for m in top] == ["encoder", "decoder"]
    assert sum(m["params"] for m in top) == total
    assert sum(m["share"] for m in top) == pytest.approx(1.0)

    rows = {m["name"]: m for m in cli_json("params", "-m", "large", "--depth", "3")["modules"]}
    last = f"encoder.blocks.{model.config.depth - 1}"
    assert rows[last]["params"] == numel(model.encoder.blocks[-1].parameters())
    assert rows[last]["share"] == pytest.approx(rows[last]["params"] / total)
    assert rows["encoder.pos_embed"]["trainable"] == 0
    assert rows["decoder.pred"]["params"] == numel(model.decoder.pred.parameters())
    assert max(m["depth"] for m in rows.values()) == 3

    assert cli_json("params", "-m", "large", "--depth", "0")["modules"] == []


def test_params_table(cli):
    result = cli("params", "--variant", "huge")
    assert result.exit_code == 0, result.stderr
    assert "657,074,508" in result.stdout and "PASS" in result.stdout
    assert "decoder.pos_embed" in result.stdout  # the fixed tables are named


def test_params_exits_1_when_the_count_differs_from_the_official(cli, monkeypatch):
    """A listing in which one official shape differs: the report says so, and the exit code is 1."""
    listing = copy.deepcopy(params_service._official_listing())
    listing["mae_vit_base_patch16"]["parameters"]["decoder_pred.bias"]["shape"] = [769]
    monkeypatch.setattr(params_service, "_official_listing", lambda: listing)

    result = cli("params", "--variant", "base", "--json")
    assert result.exit_code == 1, result.stderr

    doc = json.loads(result.stdout)
    assert doc["verified"] is False
    assert doc["difference"]["total"] == -1 and doc["difference"]["decoder"] == -1
    assert any("decoder_pred.bias" in m for m in doc["mismatches"])

    table = cli("params", "--variant", "base")
    assert table.exit_code == 1 and "FAIL" in table.stdout
