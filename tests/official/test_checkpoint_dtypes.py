"""Half-precision and float64 checkpoints (issue 12, class 4): they load, cast to float32 with a note, and
`mae compare-official` passes on them (the reference gets the same cast weights)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core.io.safetensors_file import write_safetensors
from mae_core.loading.weights import build_model, load_weights
from mae_core.models import create_model

runner = CliRunner()


@pytest.fixture(scope="module")
def official():
    torch.manual_seed(0)
    return create_model("base", device="cpu").official_state_dict()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_half_precision_checkpoint_loads_and_compare_official_passes(tmp_path, official, dtype, fmt):
    half = {k: v.to(dtype) for k, v in official.items()}
    path = tmp_path / f"mae_base_{dtype}.{fmt}"
    if fmt == "pth":
        torch.save({"model": half}, path)
    else:
        write_safetensors(path, half)
    loaded = load_weights(path)
    name = str(dtype).removeprefix("torch.")
    assert loaded.variant == "mae_vit_base_patch16" and loaded.file_dtypes == {name: len(official)}
    assert any(name in n and "cast to float32" in n for n in loaded.notes)
    model = build_model(loaded.variant, loaded)
    for key, tensor in model.official_state_dict().items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, half[key].float()), key

    result = runner.invoke(app, ["compare-official", "--weights", str(path), "--reference", "timm", "--batch", "1",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is True and any("cast to float32" in n for n in data["notes"])


def test_float64_checkpoint_is_rounded_to_float32(tmp_path, official):
    path = tmp_path / "mae_base_f64.pth"
    torch.save({"model": {k: v.double() for k, v in official.items()}}, path)
    loaded = load_weights(path, "base")
    assert loaded.file_dtypes == {"float64": len(official)} and any("rounded to float32" in n for n in loaded.notes)
    assert all(torch.equal(loaded.state_dict[k], official[k]) for k in official)  # float32 -> 64 -> 32 is exact
