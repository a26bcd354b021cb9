"""The `official` backend on our fixture tree: every shim is needed, applied, and undone afterwards.

tests/data/official_fixture stands in for a clone of facebookresearch/mae: it calls timm's Block with
qk_scale, builds its position table with np.float and imports torch._six, so it cannot be imported on
today's libraries without the shims (checked first, so the test cannot pass vacuously).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import types

import numpy
import pytest
import torch

import official_mae
from mae_core import MAEConfig, MaskedAutoencoderViT
from mae_core.models import create_model
from mae_core.io.safetensors_file import read_safetensors
from official_mae import ReferenceUnavailable, build_reference, load_reference, resolve_kind
from official_mae.compare import compare_models, make_noise
from official_mae.official import import_official
from official_mae.shims import compatible_block

from .helpers import FIXTURE_SRC, GOLDEN, seeded_images


def _tree_digest() -> dict[str, str]:
    return {str(p.relative_to(FIXTURE_SRC)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(FIXTURE_SRC.rglob("*"))}


_WITHOUT_SHIMS = """
import sys, types
sys.dont_write_bytecode = True
sys.path.insert(0, {src!r})
try:
    import models_mae
except Exception as exc:
    print("import:", type(exc).__name__, str(exc).splitlines()[0])
sys.modules["torch._six"] = types.SimpleNamespace(inf=float("inf"))  # only this shim, by hand
import models_mae
try:
    models_mae.mae_vit_base_patch16()
except Exception as exc:
    print("build:", type(exc).__name__, str(exc).splitlines()[0])
base = models_mae.Block
models_mae.Block = lambda *a, qk_scale=None, **k: base(*a, **k)  # and this one
try:
    models_mae.mae_vit_base_patch16()
except Exception as exc:
    print("build:", type(exc).__name__, str(exc).splitlines()[0])
"""


def test_fixture_needs_every_shim():
    """Without shims the fixture fails on torch._six, then on qk_scale, then on np.float."""
    run = subprocess.run([sys.executable, "-c", _WITHOUT_SHIMS.format(src=str(FIXTURE_SRC))],
                         capture_output=True, text=True, timeout=300)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stderr
    assert len(lines) == 3, lines
    assert lines[0].startswith("import: ModuleNotFoundError") and "torch._six" in lines[0]
    assert lines[1].startswith("build: TypeError") and "qk_scale" in lines[1]
    assert lines[2].startswith("build: AttributeError") and "float" in lines[2]


def test_each_shim_is_applied_and_everything_is_restored(monkeypatch):
    import timm.models.vision_transformer as vit_before

    import official_mae.official as official

    monkeypatch.setattr(official, "_IMPORTED", {})  # a fresh import, under the eyes of this test
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as for most users: Python would write .pyc files
    before_modules = set(sys.modules)
    before_files = _tree_digest()

    module, shims = import_official(FIXTURE_SRC)

    assert any("qk_scale" in s for s in shims)
    assert any("np.float" in s for s in shims)
    assert any("torch._six" in s for s in shims)
    # nothing leaks into the process: numpy, torch, timm and sys.modules are as they were
    assert "float" not in numpy.__dict__
    assert "torch._six" not in sys.modules and "_six" not in torch.__dict__
    assert sys.modules["timm.models.vision_transformer"] is vit_before
    assert not [m for m in set(sys.modules) - before_modules if m.split(".")[0] in ("models_mae", "util")]
    assert str(FIXTURE_SRC) not in sys.path and sys.dont_write_bytecode is False
    # and the user's tree is untouched (not even a __pycache__ folder appears)
    assert _tree_digest() == before_files
    assert module.MaskedAutoencoderViT.__name__ == "MaskedAutoencoderViT"


def test_a_module_called_util_elsewhere_is_not_disturbed(monkeypatch):
    import official_mae.official as official

    monkeypatch.setattr(official, "_IMPORTED", {})  # force a fresh import of the fixture
    other = types.ModuleType("util")
    monkeypatch.setitem(sys.modules, "util", other)
    module, _ = import_official(FIXTURE_SRC)
    assert sys.modules["util"] is other
    assert module.get_2d_sincos_pos_embed.__module__ == "util.pos_embed"


def test_the_shimmed_np_float_builds_the_official_position_tables():
    module, _ = import_official(FIXTURE_SRC)
    model = module.mae_vit_base_patch16()  # built outside the import: np.float is used here
    tables, _ = read_safetensors(GOLDEN / "pos_embed_sincos.safetensors")
    assert torch.equal(model.pos_embed[0], tables["grid14_dim768_cls"])
    assert torch.equal(model.decoder_pos_embed[0], tables["grid14_dim512_cls"])


def test_official_backend_equals_ours_on_vit_b16():
    torch.manual_seed(0)
    model = create_model("base").eval()
    ref = load_reference("official", "base", official_src=FIXTURE_SRC, state_dict=model.official_state_dict())
    assert ref.kind == "official" and "shims" in ref.detail
    imgs, noise = seeded_images(1, 224, seed=5), make_noise(1, 196, seed=6)
    result = compare_models(model, ref, imgs, noise, 0.75, atol=1e-5)
    assert result["passed"], [s for s in result["stages"] if not s["passed"]]


def test_noise_is_injected_into_the_official_masking():
    """Two different noises give two different official masks, each the one that noise dictates."""
    config = MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=16,
                       decoder_depth=1, decoder_num_heads=2)
    ref = build_reference("official", config, official_src=FIXTURE_SRC)
    ref.load_official_state_dict(MaskedAutoencoderViT(config).official_state_dict())
    imgs = seeded_images(2, 32)
    masks = []
    for seed in (1, 2):
        noise = make_noise(2, 16, seed)
        with torch.no_grad():
            _, _, mask = ref.forward(imgs, 0.75, noise)
        expected = torch.zeros(2, 16)
        expected.scatter_(1, noise.argsort(dim=1)[:, 4:], 1.0)  # the 12 largest noise values are removed
        assert torch.equal(mask, expected)
        masks.append(mask)
    assert not torch.equal(*masks)
    with pytest.raises(RuntimeError, match="shape"):
        ref.forward(imgs, 0.75, make_noise(2, 15, 0))


def test_qk_scale_other_than_none_is_refused():
    from timm.models.vision_transformer import Block

    shimmed = compatible_block(Block)
    assert shimmed(dim=8, num_heads=2, qkv_bias=True, qk_scale=None).attn.qkv.bias is not None
    with pytest.raises(ValueError, match="qk_scale"):
        shimmed(dim=8, num_heads=2, qk_scale=0.5)


def test_auto_picks_official_when_a_source_is_given(monkeypatch):
    assert resolve_kind("auto", FIXTURE_SRC) == "official"
    assert resolve_kind("auto", None) == "timm"
    monkeypatch.setenv("MAE_OFFICIAL_SRC", str(FIXTURE_SRC))
    assert resolve_kind("auto") == "official"


@pytest.mark.parametrize("src, words", [(None, "--official-src"), ("/nonexistent/mae", "not a directory"),
                                        (str(GOLDEN), "no models_mae.py")])
def test_official_source_problems_are_one_clear_error(src, words):
    with pytest.raises(ReferenceUnavailable, match=words):
        load_reference("official", "base", official_src=src)


def test_unknown_reference_kind():
    with pytest.raises(ReferenceUnavailable, match="choose one of"):
        resolve_kind("fairseq")


class _RaisingFinder:
    """A meta-path finder that makes importing ``name`` raise ``exc`` (as a broken torchvision does)."""

    def __init__(self, name, exc):
        self.name, self.exc = name, exc

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            raise self.exc
        return None


def _forget(monkeypatch, package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)


def test_timm_failing_with_runtime_error_says_torchvision(monkeypatch):
    _forget(monkeypatch, "timm")
    monkeypatch.setattr(sys, "meta_path", [_RaisingFinder("timm", RuntimeError("operator torchvision::nms does "
                                                                               "not exist"))] + sys.meta_path)
    with pytest.raises(ReferenceUnavailable) as info:
        load_reference("timm", "base")
    message = str(info.value)
    assert "torchvision does not match torch" in message
    assert 'pip install "mae-inspect[reference]"' in message


def test_missing_libraries_give_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ReferenceUnavailable) as info:
        load_reference("auto", "base")
    assert 'pip install "mae-inspect[reference]"' in str(info.value)
    assert "timm" in str(info.value) and "transformers" in str(info.value)


def test_package_imports_without_timm_or_transformers():
    code = ("import sys; sys.modules['timm'] = None; sys.modules['transformers'] = None\n"
            "import official_mae, official_mae.compare, official_mae.official, official_mae.timm_ref, "
            "official_mae.hf_ref, official_mae.shims, official_mae.service\n"
            "import mae_cli.commands.compare\n"
            "print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
    assert official_mae.INSTALL == 'pip install "mae-inspect[reference]"'
