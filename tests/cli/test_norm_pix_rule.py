"""One norm-pix rule (issue 22): a ``*_full.pth`` file is read as norm_pix_loss by every command that runs a model.

The official ``*_full.pth`` checkpoints were trained with ``norm_pix_loss`` (their predictions are per-patch
normalised pixels), so their name decides the reconstruction target where the file states none
(:func:`mae_core.views.reconstruct.reconstruction_target`, applied once in :func:`mae_core.views.prepare.prepare`).
Before, ``forward`` and ``compare-official`` read the same file as raw pixels while ``sweep`` and
``mask-demo`` read it as normalised: this test fails on that code.

One small constant ViT-B/16 file (:func:`constant_checkpoint`), one image, the ``grid`` mask (the same patches
for every command at the same seed): the loss each command reports must be the same number, and every
report must say norm_pix_loss from the file name.
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import constant_checkpoint


@pytest.fixture(scope="module")
def full_file(tmp_path_factory):
    return constant_checkpoint(tmp_path_factory.mktemp("full") / "mae_pretrain_vit_base_full.pth", "base", 0.02)


def test_a_full_checkpoint_has_one_target_in_every_command(cli_json, full_file, image_files, tmp_path):
    common = ["--weights", full_file, "--mask", "grid", "--mask-ratio", "0.75", "--seed", "3"]
    fwd = cli_json("forward", "--image", image_files[0], *common)
    demo = cli_json("mask-demo", image_files[0], *common, "-o", tmp_path / "d.png")
    sweep = cli_json("sweep", image_files[0], "--weights", full_file, "--mask", "grid", "--ratios", "0.75",
                     "--seed", "3", "-o", tmp_path / "s.png")
    compare = cli_json("compare-official", "--image", image_files[0], *common, "-r", "timm")
    for name, doc in {"forward": fwd, "mask-demo": demo, "sweep": sweep, "compare-official": compare}.items():
        assert doc["norm_pix_loss"] is True, name
        assert doc["norm_pix_loss_from"] == "file name", name
    loss = fwd["loss"]
    assert demo["images"][0]["loss"] == pytest.approx(loss, rel=1e-5)
    assert sweep["cells"][0]["loss"] == pytest.approx(loss, rel=1e-5)
    assert compare["loss"]["ours"] == pytest.approx(loss, rel=1e-5)
    raw = cli_json("forward", "--image", image_files[0], *common, "--raw-pix")
    assert raw["norm_pix_loss"] is False and raw["loss"] != pytest.approx(loss, rel=1e-3)  # the target matters here
