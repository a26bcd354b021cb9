"""A fourth variant needs one registration: a tiny made-up ``mae_vit_tiny_patch8``, registered here and
nowhere else, is listed, built, counted, traced and measured by every command, named by the unknown-model
message, and checked by the models README test (which then asks for its column).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mae_core import MAEConfig, MaskedAutoencoderViT
from mae_core.models import create_model, get_variant, list_models, register_model, unregister_model
from mae_core.views.flops import closed_form_macs

TINY = "mae_vit_tiny_patch8"
TINY_CONFIG = MAEConfig(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, decoder_embed_dim=32,
                        decoder_depth=1, decoder_num_heads=4)  # made up: small enough for any machine


@pytest.fixture
def tiny():
    @register_model(TINY, short="tiny", title="ViT-Ti/8")  # the one registration
    class MAEViTTiny(MaskedAutoencoderViT):
        default_config = TINY_CONFIG

    yield MAEViTTiny
    unregister_model(TINY)
    assert TINY not in list_models()


def test_registry_builds_it_by_every_name(tiny):
    assert list_models()[-1] == TINY
    for alias in ("tiny", TINY, "MAEViTTiny", "ViT-Ti/8"):
        assert get_variant(alias).name == TINY
    model = create_model("tiny", device="meta")
    assert type(model) is tiny and model.config == TINY_CONFIG
    assert create_model("tiny", device="meta", norm_pix_loss=True).config.norm_pix_loss


def test_registering_a_taken_name_fails(tiny):
    with pytest.raises(ValueError, match="base"):
        register_model("mae_vit_other", short="base", title="ViT-O/8")(tiny)


def test_the_unknown_model_message_names_it(tiny, cli):
    result = cli("params", "--variant", "gigantic")
    assert result.exit_code == 2 and "tiny" in result.stderr and TINY in result.stderr


def test_variants_lists_it(tiny, cli_json, cli):
    rows = {r["name"]: r for r in cli_json("variants")["variants"]}
    row = rows[TINY]
    model = create_model(TINY, device="meta")
    assert row["total_params"] == sum(p.numel() for p in model.parameters())
    assert {k: row[k] for k in TINY_CONFIG.to_dict()} == TINY_CONFIG.to_dict()  # every field, from the config
    assert (row["num_patches"], row["num_visible"], row["patch_dim"]) == (16, 4, 192)
    assert "ViT-Ti/8" in cli("variants").stdout


def test_params_counts_it(tiny, cli_json):
    doc = cli_json("params", "--variant", "tiny")
    model = create_model(TINY, device="meta")
    assert doc["counts"]["total"] == sum(p.numel() for p in model.parameters())
    assert doc["counts"]["encoder"] == sum(p.numel() for p in model.encoder.parameters())


def test_shapes_traces_it(tiny, cli_json):
    doc = cli_json("shapes", "--variant", "tiny", "--batch", "2")
    assert (doc["variant"], doc["num_patches"], doc["num_visible"]) == (TINY, 16, 4)
    shapes = {row["stage"]: row["shape"] for row in doc["stages"]}
    assert shapes["image"] == [2, 3, 32, 32] and shapes["patches (loss target)"] == [2, 16, 192]


def test_flops_counts_it(tiny, cli_json):
    doc = cli_json("flops", "--variant", "tiny")
    assert doc["variant"] == TINY and doc["agree"] is True  # counted by torch == closed form
    stages = {row["stage"]: row for row in doc["stages"]}
    assert stages["total"]["flops_counted"] == 2 * closed_form_macs(TINY_CONFIG, 0.75)["total"]


def test_the_models_readme_check_asks_for_its_column(tiny):
    path = Path(__file__).parents[1] / "core" / "test_models_readme.py"
    spec = importlib.util.spec_from_file_location("models_readme", path)
    readme_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme_test)
    expected, readme_problems = readme_test.expected, readme_test.readme_problems
    assert expected(TINY)["parameters, total"] == f"{sum(p.numel() for p in create_model(TINY).parameters()):,}"
    assert readme_problems(TINY) == [f"models/README.md has no column 'ViT-Ti/8' for {TINY}: add one"]
