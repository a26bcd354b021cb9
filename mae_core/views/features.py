"""Features: the encoder's hidden states on the whole image, in patch order, and a pooled vector.

Paper: MAE Sec. 4 "Linear probing" (the cls token of the pre-trained encoder, after its final norm) and
"Partial fine-tuning" / Appendix A.2-A.3 (the official fine-tuning code's ``global_pool``: the patch
tokens of the last block averaged, then a fresh LayerNorm ``fc_norm``). Every patch is kept (mask
ratio 0) and kept in raster order: the masking noise is 0, 1, ..., L-1, so ``argsort`` is the identity
and no seed can change the result.

Shapes:
    imgs (B, C, H, W) -> hidden_states.{i} (B, 1 + L, D) for each chosen block i, latent (B, 1 + L, D),
    pooled (B, D) (``cls``: latent[:, 0]; ``mean``: LayerNorm(mean of block[-1][:, 1:])); token 0 is cls,
    token 1 + j is patch j in raster order.

    from mae_core.views.features import extract_features
    feats = extract_features(model, imgs, layers=[0, -1], pool="mean")
    feats.tensors["pooled"]          # (B, D)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import SettingError
from ..io.files import atomic_write, check_outputs
from .recorder import record

POOLS = ("cls", "mean", "none")
FORMATS = (".safetensors", ".npz")


@dataclass
class Features:
    """What :func:`extract_features` returns: named tensors and one summary row per tensor."""

    layers: list[int]  # the encoder blocks whose outputs are kept (non-negative indices)
    pool: str
    tensors: dict[str, Tensor] = field(default_factory=dict)  # hidden_states.{i}, latent, pooled
    rows: list[dict[str, Any]] = field(default_factory=list)  # name, shape, mean token norm, max |x|, finite


def raster_noise(batch: int, num_patches: int, device: torch.device | str = "cpu") -> Tensor:
    """(B, L) noise 0, 1, ..., L-1: with mask ratio 0, ``random_masking`` keeps every patch in raster order."""
    return torch.arange(num_patches, dtype=torch.float32, device=device).expand(batch, -1).contiguous()


def parse_layers(spec: str | list[int], depth: int, setting: str = "layers") -> list[int]:
    """``"all"``, ``"-1"`` or ``"0,5,11"`` (negative from the end) -> sorted distinct block indices.

    Raises:
        SettingError: (naming ``setting``) an index that is not an integer or is out of range (the
            message gives the range).
    """
    what = "block" if setting == "blocks" else "layer"
    if isinstance(spec, str):
        if spec.strip() == "all":
            return list(range(depth))
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if not parts:
            raise SettingError(setting, f"no {what} given; use all, -1 or a list like 0,5,11")
        try:
            indices = [int(p) for p in parts]
        except ValueError:
            raise SettingError(setting, f"{spec!r}: use all, -1 or a comma-separated list of integers like "
                               "0,5,11") from None
    else:
        indices = list(spec)
    for i in indices:
        if not -depth <= i < depth:
            raise SettingError(setting, f"{what} {i} is out of range: the encoder has {depth} blocks "
                               f"(0..{depth - 1}, or -1 for the last)")
    return sorted({i % depth for i in indices})


def check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise SettingError("pool", f"unknown pool {pool!r}; use one of {', '.join(POOLS)}")
    return pool


def kept_bytes(cfg, writing: bool) -> int:
    """Bytes per image features keep: every block's hidden state, the latent and the pooled vector (float32,
    1 + L tokens each), twice over when they are also written (the file's contiguous copy)."""
    tensors = (cfg.depth + 1) * (1 + cfg.num_patches) * cfg.embed_dim + cfg.embed_dim
    return 4 * tensors * (2 if writing else 1)


def check_output(path: str | Path | None, formats: tuple[str, ...] = FORMATS) -> Path | None:
    """The output file, if its extension is one of ``formats`` (.safetensors or .npz)."""
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() not in formats:
        raise SettingError("out", f"{str(p)!r}: unknown extension {p.suffix or '(none)'!r}; "
                           f"name it {' or '.join(formats)}")
    return p


def mean_pool(last_block: Tensor, ln_eps: float) -> Tensor:
    """The official fine-tuning ``global_pool`` on the pre-trained encoder: (B, 1 + L, D) -> (B, D).

    The patch tokens (cls excluded) of the last block, averaged, then ``fc_norm``: a LayerNorm that the
    fine-tuning code creates fresh (weight 1, bias 0), so before fine-tuning it has no affine part.
    """
    return F.layer_norm(last_block[:, 1:, :].mean(dim=1), last_block.shape[-1:], eps=ln_eps)


@torch.no_grad()
def extract_features(model: nn.Module, imgs: Tensor, *, layers: str | list[int] = "all",
                     pool: str = "cls") -> Features:
    """Hidden states of the chosen encoder blocks, the latent and the pooled vector, on every patch.

    Args:
        model: a :class:`~mae_core.mae.MaskedAutoencoderViT` (only its encoder runs) or an encoder.
        imgs: (B, C, H, W), normalised like the training data.
        layers: blocks to keep, as :func:`parse_layers` takes them.
        pool: ``cls``, ``mean`` or ``none``.
    """
    from ..classifier import VisionTransformer

    encoder = getattr(model, "encoder", model)
    chosen = parse_layers(layers, len(encoder.blocks))
    check_pool(pool)
    B, L = imgs.shape[0], encoder.patch_embed.num_patches
    if isinstance(model, VisionTransformer):  # a fine-tuned classifier: every patch, its own pool (fc_norm / norm)
        with record(model) as rec:
            pooled = model.forward_features(imgs)
        tensors = {f"hidden_states.{i}": rec.stages[f"encoder.blocks.{i}"] for i in chosen}
        tensors["latent"] = rec.stages[f"encoder.blocks.{len(model.blocks) - 1}"]  # no final norm with global pool
        if pool != "none":
            tensors["pooled"] = pooled  # what its head reads
        return Features(chosen, "classifier" if pool != "none" else pool, tensors, _rows(tensors))
    with record(encoder) as rec:
        latent, mask, _ = encoder(imgs, 0.0, raster_noise(B, L, imgs.device))
    if mask.any() or not torch.equal(rec.masking.ids_keep[0], torch.arange(L, device=imgs.device)):
        raise RuntimeError("features: the encoder masked or reordered patches at mask ratio 0 (a bug)")
    tensors = {f"hidden_states.{i}": rec.stages[f"encoder.blocks.{i}"] for i in chosen}
    tensors["latent"] = latent
    if pool == "cls":
        tensors["pooled"] = latent[:, 0]  # the linear probe's input (the official main_linprobe.py)
    elif pool == "mean":
        tensors["pooled"] = mean_pool(rec.stages[f"encoder.blocks.{len(encoder.blocks) - 1}"], encoder.norm.eps)
    return Features(chosen, pool, tensors, _rows(tensors))


def _rows(tensors: dict[str, Tensor]) -> list[dict[str, Any]]:
    rows = []
    for name, t in tensors.items():
        t32 = t.float()
        rows.append({"name": name, "shape": list(t.shape),
                     "mean_token_norm": t32.norm(dim=-1).mean().item(),  # L2 norm of each token (or vector), averaged
                     "max_abs": t32.abs().max().item(), "finite": bool(torch.isfinite(t32).all())})
    return rows


def save_tensors(tensors: dict[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> int:
    """Write named tensors as .safetensors or .npz, atomically; returns the bytes written."""
    p = check_output(path)
    contiguous, storages = {}, set()
    for k, v in tensors.items():
        t = v.detach().cpu().contiguous()
        if t.untyped_storage().data_ptr() in storages:  # a view of another tensor (pooled = latent[:, 0] at
            t = t.clone()                                # batch 1): safetensors refuses shared memory
        storages.add(t.untyped_storage().data_ptr())
        contiguous[k] = t
    if p.suffix.lower() == ".safetensors":
        from safetensors.torch import save

        data = save(contiguous, metadata=metadata)
    else:
        buffer = io.BytesIO()
        np.savez(buffer, **{k: (v.float() if v.dtype == torch.bfloat16 else v).numpy() for k, v in contiguous.items()})
        data = buffer.getvalue()
    with atomic_write(p) as f:
        f.write(data)
    return len(data)


def features_report(variant: str | None, weights: str | Path | None, images: list[str | Path] | None,
                    batch: int | None, seed: int, *, layers: str = "all", pool: str = "cls",
                    out: str | Path | None = None, device: torch.device | str = "cpu",
                    img_size: Any = None, in_chans: int = 3, resize: str = "stretch") -> dict[str, Any]:
    """Everything `mae features` shows: load, extract, optionally write the file; plain data.

    Cheap checks (pool, output extension, layer indices when the variant is known) run before any
    weights are read. ``seed`` only seeds the random initialisation (without weights) and the random
    images (without image files): the features themselves involve no randomness.

    ``img_size``, ``in_chans`` and ``resize``: as :func:`mae_core.views.prepare.prepare` (another image size
    or channel count).
    """
    from ..models import get_variant
    from .prepare import prepare, variant_name

    check_pool(pool)
    out_path = check_output(out)
    check_outputs([(out_path, "--out")], [weights, *(images or [])])
    name = variant_name(variant, weights)
    if name is not None:
        parse_layers(layers, get_variant(name).config.depth)
    prep = prepare(variant, weights, images, batch, seed, device=device,
                   img_size=img_size, in_chans=in_chans, resize=resize, mask_ratio=0.0, classifiers=True,
                   kept_per_image=lambda c: kept_bytes(c, out_path is not None))
    feats = extract_features(prep.model, prep.imgs, layers=layers, pool=pool)
    written = None
    if out_path is not None:
        written = save_tensors(feats.tensors, out_path, metadata={"variant": prep.variant, "pool": pool})
    cfg = prep.model.config
    return {"variant": prep.variant, "title": prep.title, "weights": prep.weights, "notes": prep.notes,
            "inputs": prep.inputs, "batch": int(prep.imgs.shape[0]), "img_size": list(cfg.image_hw),
            "in_chans": cfg.in_chans, "grid": list(cfg.grid_size), "num_patches": cfg.num_patches,
            "layers": feats.layers, "pool": pool, "tensors": feats.rows,
            "out": str(out_path) if out_path is not None else None, "bytes_written": written}
