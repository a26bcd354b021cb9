"""The recorder against the references' own ways of exposing intermediates, on identical weights and noise.

Must show (issue 14): transformers' ``ViTMAEForPreTraining`` with ``output_hidden_states=True`` and, on its
eager attention path, ``output_attentions=True``: every hidden state and attention tensor within 1e-6 on
this machine, masks identical (its decoder returns neither, so there forward hooks on its layers and on
their attention modules read them). timm's ``vit_base_patch16_224`` loaded with the MAE encoder weights:
``forward_intermediates`` / ``forward_features`` equal the unmasked hidden states and latent of
``mae features`` within 1e-5, and its ``global_pool='avg'`` head input equals ``--pool mean``.
"""

from __future__ import annotations

import pytest
import torch

from mae_core.models import create_model
from mae_core.views.features import extract_features
from mae_core.views.recorder import record
from official_mae.compare import make_noise

from .helpers import seeded_images

TINY = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 3, "num_heads": 4, "decoder_embed_dim": 32,
        "decoder_depth": 2, "decoder_num_heads": 4}


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    return create_model("base").eval()


def _hf_eager(model):
    pytest.importorskip("transformers")
    from official_mae.hf_ref import HFReference

    ref = HFReference(model.config)
    ref.load_official_state_dict(model.official_state_dict())
    hf = ref.model.eval()
    if hasattr(hf, "set_attn_implementation"):
        hf.set_attn_implementation("eager")
    # Its decoder holds a deep copy of the config (and v4 has no setter): make every copy eager.
    for module in hf.modules():
        config = getattr(module, "config", None)
        if config is not None:
            config._attn_implementation = "eager"
    return ref, hf


DIFFS: dict[str, float] = {}


def _close(a, b, name=""):
    """max |a - b| within 1e-6 times the tensor's scale, max(1, max |b|): the decoder's hidden states reach
    |x| ~ 5, where one float32 step is 5e-7, and transformers adds its separate q, k, v in another order."""
    diff, scale = (a - b).abs().max().item(), max(1.0, b.abs().max().item())
    DIFFS[name] = diff
    assert diff <= 1e-6 * scale, f"{name}: {diff:.3g} > 1e-6 x {scale:.3g}"


@pytest.mark.parametrize("size", ["tiny", "base"])
def test_hidden_states_and_attentions_equal_transformers(size, base):
    if size == "tiny":
        torch.manual_seed(0)
        model = create_model("base", **TINY).eval()
    else:
        model = base
    cfg = model.config
    ref, hf = _hf_eager(model)
    ref._set_mask_ratio(0.75)
    imgs, noise = seeded_images(2, cfg.img_size, seed=1), make_noise(2, cfg.num_patches, seed=2)

    layers = hf.decoder.decoder_layers
    seen_hidden, seen_attn = {}, {}
    handles = [layer.register_forward_hook(lambda m, a, out, i=i: seen_hidden.__setitem__(i, out[0] if isinstance(
        out, tuple) else out)) for i, layer in enumerate(layers)]
    handles += [layer.attention.register_forward_hook(lambda m, a, out, i=i: seen_attn.__setitem__(i, out[1]))
                for i, layer in enumerate(layers)]
    handles.append(layers[0].register_forward_pre_hook(lambda m, a: seen_hidden.__setitem__("in", a[0])))
    with torch.no_grad():
        out = hf(pixel_values=imgs, noise=noise, output_hidden_states=True, output_attentions=True)
        with record(model, attention=True) as rec:
            ours = model(imgs, 0.75, noise)
    for h in handles:
        h.remove()

    assert torch.equal(out.mask, ours.mask) and torch.equal(out.ids_restore, rec.masking.ids_restore)
    # Encoder: transformers' tuples, embeddings first, then every layer, in block order.
    mine = [rec.stages["encoder.tokens"], *rec.hidden_states("encoder")]
    assert len(out.hidden_states) == len(mine) == cfg.depth + 1
    for a, b in zip(mine, out.hidden_states, strict=True):
        assert a.shape == b.shape
        _close(a, b, "encoder hidden")
    assert len(out.attentions) == cfg.depth
    for i, b in enumerate(out.attentions):
        a = rec.attention[f"encoder.blocks.{i}.attn"]
        assert a.shape == b.shape == (2, cfg.num_heads, 1 + cfg.num_visible(0.75), 1 + cfg.num_visible(0.75))
        assert (a - b).abs().max().item() <= 1e-6
    # Decoder: read from its layers.
    _close(rec.stages["decoder.tokens"], seen_hidden["in"], "decoder.tokens")
    for i in range(cfg.decoder_depth):
        _close(rec.stages[f"decoder.blocks.{i}"], seen_hidden[i], f"decoder.blocks.{i}")
        a, b = rec.attention[f"decoder.blocks.{i}.attn"], seen_attn[i]
        assert a.shape == b.shape == (2, cfg.decoder_num_heads, 1 + cfg.num_patches, 1 + cfg.num_patches)
        assert (a - b).abs().max().item() <= 1e-6


@pytest.fixture(scope="module")
def timm_models(base):
    timm = pytest.importorskip("timm")
    encoder = {k: v for k, v in base.official_state_dict().items() if not k.startswith(("decoder", "mask_token"))}
    plain = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0).eval()
    missing, unexpected = plain.load_state_dict(encoder, strict=False)
    assert not missing and not unexpected
    pooled = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0, global_pool="avg").eval()
    missing, unexpected = pooled.load_state_dict(encoder, strict=False)
    # The official fine-tuning: the pre-trained norm is not used, fc_norm starts fresh (weight 1, bias 0).
    assert set(missing) == {"fc_norm.weight", "fc_norm.bias"} and set(unexpected) == {"norm.weight", "norm.bias"}
    assert torch.equal(pooled.fc_norm.weight, torch.ones(768)) and torch.equal(pooled.fc_norm.bias, torch.zeros(768))
    return plain, pooled


def test_unmasked_hidden_states_equal_timm(base, timm_models):
    plain, _ = timm_models
    imgs = seeded_images(2, 224, seed=3)
    with torch.no_grad():
        feats = extract_features(base, imgs, layers="all", pool="cls")
        final, intermediates = plain.forward_intermediates(imgs, indices=12, norm=False, output_fmt="NLC",
                                                           return_prefix_tokens=True)
        features = plain.forward_features(imgs)
    assert len(intermediates) == 12
    for i, (patches, prefix) in enumerate(intermediates):
        theirs = torch.cat([prefix, patches], dim=1)  # (B, 1 + L, D): cls, then the patches in raster order
        ours = feats.tensors[f"hidden_states.{i}"]
        assert ours.shape == theirs.shape == (2, 197, 768)
        assert (ours - theirs).abs().max().item() <= 1e-5
    assert (feats.tensors["latent"] - features).abs().max().item() <= 1e-5
    assert (feats.tensors["latent"] - final).abs().max().item() <= 1e-5
    assert (feats.tensors["pooled"] - features[:, 0]).abs().max().item() <= 1e-5  # the linear probe's cls


def test_mean_pool_equals_the_official_fine_tuning_global_pool(base, timm_models):
    _, pooled = timm_models
    imgs = seeded_images(2, 224, seed=4)
    with torch.no_grad():
        ours = extract_features(base, imgs, layers="-1", pool="mean").tensors["pooled"]
        theirs = pooled.forward_head(pooled.forward_features(imgs), pre_logits=True)
    assert ours.shape == theirs.shape == (2, 768)
    assert (ours - theirs).abs().max().item() <= 1e-5
