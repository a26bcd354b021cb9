"""Image presets: ``stretch`` (default) reproduces the official demo's input tensor bit for bit;
``center-crop`` keeps the aspect ratio. The stored photo is a 320 x 213 JPEG (not square, so the two
presets differ; noisy, so every resampled value is a real test of the arithmetic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mae_core.errors import ImageError
from mae_core.io.images import load_batch, load_image, normalize

PHOTO = Path(__file__).resolve().parents[1] / "data" / "photo_320x213.jpg"


def demo_pipeline(path: Path) -> torch.Tensor:
    """The official demo's preprocessing, written out as its notebook does it (demo/mae_visualize.ipynb):
    resize with Pillow's default filter, divide by 255 in float64, ImageNet mean/std, NCHW, float32."""
    from PIL import Image

    imagenet_mean = np.array([0.485, 0.456, 0.406])
    imagenet_std = np.array([0.229, 0.224, 0.225])
    img = Image.open(path)
    img = img.resize((224, 224))
    img = np.array(img) / 255.0
    img = img - imagenet_mean
    img = img / imagenet_std
    x = torch.tensor(img).unsqueeze(dim=0)
    x = torch.einsum("nhwc->nchw", x)
    return x.float()


def test_default_preset_is_the_official_demo_bit_for_bit():
    ours = normalize([load_image(PHOTO, 224)])
    demo = demo_pipeline(PHOTO)
    assert ours.dtype == demo.dtype == torch.float32 and ours.shape == demo.shape == (1, 3, 224, 224)
    assert torch.equal(ours, demo)
    batch, described = load_batch([str(PHOTO)], 224, 1, 0)
    assert torch.equal(batch, demo) and described == [str(PHOTO)]


def test_float32_arithmetic_would_not_be_bit_exact():
    """Why normalize works in float64: the float32 version of the same formula differs in the last bits."""
    arr = load_image(PHOTO, 224)
    x = torch.from_numpy(arr).float().div(255.0).permute(2, 0, 1).unsqueeze(0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert not torch.equal((x - mean) / std, demo_pipeline(PHOTO))


def test_center_crop_keeps_the_aspect_ratio():
    from PIL import Image

    crop = load_image(PHOTO, 224, resize="center-crop")
    stretch = load_image(PHOTO, 224, resize="stretch")
    assert crop.shape == stretch.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert not np.array_equal(crop, stretch)
    with Image.open(PHOTO) as im:  # 320 x 213 -> 337 x 224 (short side 224; 320 * 224 / 213 = 336.5), centre 224
        expected = np.asarray(im.convert("RGB").resize((337, 224), Image.BICUBIC).crop((56, 0, 280, 224)))
    assert np.array_equal(crop, expected)


def test_unknown_preset_is_refused():
    with pytest.raises(ImageError, match="center-crop"):
        load_image(PHOTO, 224, resize="squash")


def test_resize_option_reaches_the_model_input():
    """`mae forward --resize center-crop` feeds the centre-cropped image; the default feeds the demo's tensor."""
    import json

    from typer.testing import CliRunner

    from mae_cli.app import app

    runner = CliRunner()
    means = {}
    for preset in ("stretch", "center-crop"):
        result = runner.invoke(app, ["forward", "--image", str(PHOTO), "--resize", preset, "--json", "--warmup", "0"])
        assert result.exit_code == 0, result.output
        means[preset] = json.loads(result.stdout)["pred"]["mean"]
    assert means["stretch"] != means["center-crop"]
    bad = runner.invoke(app, ["forward", "--image", str(PHOTO), "--resize", "squash"])
    assert bad.exit_code == 2 and "center-crop" in bad.stderr
