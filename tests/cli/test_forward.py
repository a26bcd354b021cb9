"""`mae forward`: a real ViT-B/16 forward at 224 px on the CPU, checked against sources that do not share
its code.

Expected values come from
    * the official composition on timm (``official_mae.timm_ref``: timm's patch embedding and blocks, its
      own masking, unshuffling, patchify and loss), given the same seeded weights, the same input and the
      same masking noise; and
    * a written-out computation (all weights 0, so every prediction is 0 and the loss is a plain sum).

The command's input and noise are written out here from its documentation: without ``--image``,
``torch.randn(B, 3, 224, 224)`` from a generator seeded with ``--seed``; the masking noise is
``torch.rand(B, L)`` right after ``torch.manual_seed(--seed)``. So a bug in ``mae_core``'s loss,
masking, GELU, attention, decoder or patchify changes the command's numbers but not the expected ones.
ViT-B at batch 1-2 takes well under a second on an idle machine; the bigger variants are covered by
`mae shapes` (meta device).
"""

from __future__ import annotations

import json
import re
import statistics

import pytest
import torch

from mae_core.io.images import load_batch
from mae_core.loading.weights import build_model
from official_mae import load_reference

SEED = 0
L, P = 196, 16  # ViT-B/16 at 224 px: 14 x 14 patches of 16 x 16 pixels


def command_images(batch: int, seed: int = SEED) -> torch.Tensor:
    """What the command feeds the model without --image (its documented seeded random-normal batch)."""
    return torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def command_noise(batch: int, seed: int = SEED) -> torch.Tensor:
    """The masking noise the command's forward draws: one torch.rand(B, L) right after the seed."""
    torch.manual_seed(seed)
    return torch.rand(batch, L)


@pytest.fixture(scope="module")
def reference():
    """``reference(imgs, mask_ratio=0.75, norm_pix_loss=False)`` -> (loss, pred, mask) of the timm
    composition holding the weights the command builds without --weights (seed 0)."""
    weights = build_model("base", None, seed=SEED).official_state_dict()
    refs = {flag: load_reference("timm", "base", state_dict=weights, norm_pix_loss=flag) for flag in (False, True)}

    def forward(imgs: torch.Tensor, mask_ratio: float = 0.75, norm_pix_loss: bool = False):
        with torch.no_grad():
            return refs[norm_pix_loss](imgs, mask_ratio, command_noise(imgs.shape[0]))

    return forward


def test_forward_base_224_cpu_json(cli_json, reference):
    doc = cli_json("forward", "--variant", "base", "--batch", "2")
    loss, pred, mask = reference(command_images(2))

    assert doc["variant"] == "mae_vit_base_patch16" and doc["initialisation"] == "seeded"
    assert any("seeded random initialisation" in note for note in doc["notes"])
    assert (doc["device"], doc["dtype"], doc["precision"], doc["seed"]) == ("cpu", "float32", "float32", SEED)
    # Same process, same weights, same operations: equal to a few float32 ulps.
    assert doc["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert doc["pred_shape"] == [2, L, P * P * 3] and doc["mask_shape"] == [2, L]
    assert doc["masked_fraction"] == [147 / 196, 147 / 196] == mask.mean(dim=1).tolist()
    assert doc["num_visible"] == 49
    assert doc["pred"]["finite"] is True and doc["ok"] is True
    assert doc["pred"]["min"] == pytest.approx(pred.min().item(), rel=1e-5, abs=1e-6)
    assert doc["pred"]["max"] == pytest.approx(pred.max().item(), rel=1e-5, abs=1e-6)
    assert doc["pred"]["mean"] == pytest.approx(pred.mean().item(), rel=1e-4, abs=1e-6)
    assert doc["latency_s"] > 0 and doc["images_per_s"] == pytest.approx(2 / doc["latency_s"])
    assert doc["peak_memory_bytes"] > 0 and doc["memory_method"]
    assert doc["norm_pix_loss"] is False and doc["batch"] == 2


def test_forward_with_image_files(cli_json, reference, image_files):
    doc = cli_json("forward", *[arg for p in image_files for arg in ("--image", str(p))])
    imgs, _ = load_batch([str(p) for p in image_files], 224, len(image_files), SEED)  # decoding, not the model
    loss, _, mask = reference(imgs)
    assert doc["batch"] == len(image_files) and doc["inputs"] == [str(p) for p in image_files]
    assert doc["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert doc["masked_fraction"] == mask.mean(dim=1).tolist()


def test_forward_detects_the_variant_from_the_weights(cli_json, base_zeros_checkpoint):
    """No --variant: the checkpoint's shapes say ViT-B/16. Every weight is 0, so every prediction is 0 and
    the loss is, written out, the mean over the masked patches of each patch's mean squared pixel."""
    doc = cli_json("forward", "--weights", str(base_zeros_checkpoint))
    assert doc["variant"] == "mae_vit_base_patch16" and doc["initialisation"] == "weights"
    assert doc["weights"] == str(base_zeros_checkpoint)
    assert (doc["pred"]["min"], doc["pred"]["max"]) == (0.0, 0.0)

    imgs = command_images(1)[0].double()  # (3, 224, 224)
    patch_mean_square = (imgs**2).reshape(3, 14, P, 14, P).mean(dim=(0, 2, 4)).flatten()  # (L,), raster order
    removed = command_noise(1)[0].argsort()[49:]  # the 147 patches with the largest noise
    assert doc["loss"] == pytest.approx(patch_mean_square[removed].mean().item(), rel=1e-5)
    assert doc["masked_fraction"] == [147 / 196]


def test_non_finite_output_exits_1(cli, make_checkpoint, tmp_path):
    """NaN weights give NaN predictions: the report says so (JSON null) and the exit code is 1."""
    path = make_checkpoint(tmp_path / "nan.pth", "base", float("nan"))
    result = cli("forward", "--weights", str(path), "--json")
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["pred"]["finite"] is False and doc["loss"] is None


def test_bfloat16_autocast_and_repeat(cli_json, reference):
    doc = cli_json("forward", "--dtype", "bfloat16", "--repeat", "2")
    loss, _, _ = reference(command_images(1))
    assert doc["dtype"] == "bfloat16" and "autocast bfloat16" in doc["precision"]
    assert doc["loss"] == pytest.approx(loss.item(), rel=5e-2)  # bfloat16 keeps about 3 significant digits
    assert len(doc["latencies_s"]) == doc["repeat"] == 2
    assert doc["latency_s"] == pytest.approx(statistics.median(doc["latencies_s"]))


def test_forward_table_for_people_with_norm_pix_loss(cli, reference):
    result = cli("forward", "--mask-ratio", "0.5", "--norm-pix-loss")
    assert result.exit_code == 0, result.stderr
    loss, _, _ = reference(command_images(1), mask_ratio=0.5, norm_pix_loss=True)
    shown = re.search(r"(\S+) \(norm_pix_loss\)", result.stdout)
    assert shown and float(shown[1]) == pytest.approx(loss.item(), rel=1e-5)  # printed with 6 digits
    for text in ("(1, 196, 768)", "98 of 196 patches visible", "latency",
                 "images/s", "peak memory", "seeded random initialisation"):
        assert text in result.stdout, text
    assert "note: no --weights" in result.stderr
