"""`mae forward`: a real ViT-B/16 forward at 224 px on the CPU, checked against the same forward run here.

ViT-B at batch 1-2 takes well under a second on an idle machine; the bigger variants are covered by
`mae shapes` (meta device). The reference model is built once per module (seed 0, as the command's default).
"""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from mae_core.io.images import load_batch
from mae_core.loss import masked_mse_loss
from mae_core.io.weights import build_model

SEED = 0


@pytest.fixture(scope="module")
def reference():
    """``reference(images, batch)`` -> (imgs, loss, pred, mask): the command's forward, written out with the
    seeded model, the command's input batch and the seeded masking noise."""
    model = build_model("base", None, seed=SEED).eval()

    def forward(images: list[str] | None, batch: int, mask_ratio: float = 0.75):
        imgs, _ = load_batch(images, 224, batch, SEED)
        torch.manual_seed(SEED)
        with torch.no_grad():
            loss, pred, mask = model(imgs, mask_ratio)
        return imgs, loss, pred, mask

    return forward


def test_forward_base_224_cpu_json(cli_json, reference):
    doc = cli_json("forward", "--variant", "base", "--batch", "2")
    imgs, loss, pred, mask = reference(None, 2)

    assert doc["variant"] == "mae_vit_base_patch16" and doc["initialisation"] == "seeded"
    assert any("seeded random initialisation" in note for note in doc["notes"])
    assert (doc["device"], doc["dtype"], doc["precision"], doc["seed"]) == ("cpu", "float32", "float32", SEED)
    assert doc["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert doc["pred_shape"] == list(pred.shape) and doc["mask_shape"] == list(mask.shape)
    assert doc["masked_fraction"] == pytest.approx(mask.mean(dim=1).tolist())
    assert doc["num_visible"] == int((mask[0] == 0).sum())
    assert doc["pred"]["finite"] is True and doc["ok"] is True
    assert doc["pred"]["min"] == pytest.approx(pred.min().item(), rel=1e-4, abs=1e-5)
    assert doc["pred"]["max"] == pytest.approx(pred.max().item(), rel=1e-4, abs=1e-5)
    assert doc["pred"]["mean"] == pytest.approx(pred.mean().item(), rel=1e-3, abs=1e-5)
    assert doc["latency_s"] > 0 and doc["images_per_s"] == pytest.approx(2 / doc["latency_s"])
    assert doc["peak_memory_bytes"] > 0 and doc["memory_method"]
    assert doc["norm_pix_loss"] is False and doc["batch"] == 2


def test_forward_with_image_files(cli_json, reference, image_files):
    doc = cli_json("forward", *sum((["--image", str(p)] for p in image_files), []))
    _, loss, _, mask = reference([str(p) for p in image_files], len(image_files))
    assert doc["batch"] == len(image_files) and doc["inputs"] == [str(p) for p in image_files]
    assert doc["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert doc["masked_fraction"] == pytest.approx(mask.mean(dim=1).tolist())


def test_forward_detects_the_variant_from_the_weights(cli_json, reference, base_zeros_checkpoint):
    """No --variant: the checkpoint's shapes say ViT-B/16. Every weight is 0, so every prediction is 0 and
    the loss is the mean squared target over the masked patches (the mask depends on the seed only)."""
    doc = cli_json("forward", "--weights", str(base_zeros_checkpoint))
    assert doc["variant"] == "mae_vit_base_patch16" and doc["initialisation"] == "weights"
    assert doc["weights"] == str(base_zeros_checkpoint)
    assert (doc["pred"]["min"], doc["pred"]["max"]) == (0.0, 0.0)
    imgs, _, pred, mask = reference(None, 1)
    expected = masked_mse_loss(torch.zeros_like(pred), patchify_base(imgs), mask)
    assert doc["loss"] == pytest.approx(expected.item(), rel=1e-5)


def patchify_base(imgs: torch.Tensor) -> torch.Tensor:
    from mae_core.patch_embed import patchify

    return patchify(imgs, 16)


def test_non_finite_output_exits_1(cli, make_checkpoint, tmp_path):
    """NaN weights give NaN predictions: the report says so (JSON null) and the exit code is 1."""
    path = make_checkpoint(tmp_path / "nan.pth", "base", float("nan"))
    result = cli("forward", "--weights", str(path), "--json")
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["pred"]["finite"] is False and doc["loss"] is None


def test_bfloat16_autocast_and_repeat(cli_json, reference):
    doc = cli_json("forward", "--dtype", "bfloat16", "--repeat", "2")
    _, loss, _, _ = reference(None, 1)
    assert doc["dtype"] == "bfloat16" and "autocast bfloat16" in doc["precision"]
    assert doc["loss"] == pytest.approx(loss.item(), rel=5e-2)  # bfloat16 keeps about 3 significant digits
    assert len(doc["latencies_s"]) == doc["repeat"] == 2
    assert doc["latency_s"] == pytest.approx(statistics.median(doc["latencies_s"]))


def test_forward_table_for_people_with_norm_pix_loss(cli, reference):
    result = cli("forward", "--mask-ratio", "0.5", "--norm-pix-loss")
    assert result.exit_code == 0, result.stderr
    imgs, _, pred, mask = reference(None, 1, mask_ratio=0.5)
    expected = masked_mse_loss(pred, patchify_base(imgs), mask, norm_pix_loss=True)
    for text in (f"{expected.item():.6g} (norm_pix_loss)", "(1, 196, 768)", "98 of 196 patches visible", "latency",
                 "images/s", "peak memory", "seeded random initialisation"):
        assert text in result.stdout, text
    assert "note: no --weights" in result.stderr
