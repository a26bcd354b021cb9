"""Attention maps of the MAE, put back on the image grid: per block and head, rollout, and the decoder's mix.

Paper: MAE Sec. 3 (the encoder attends over cls + the *visible* tokens only, in shuffled order; the
decoder over cls + every token, mask tokens included, in raster order); Vaswani et al. Eq. 1 (the
probabilities softmax(q k^T / sqrt(hd))); Abnar & Zuidema 2020, "Quantifying Attention Flow in
Transformers" (attention rollout: average the heads, add the identity for the residual path, renormalise
the rows, multiply the blocks' matrices from the first to the last).

Shapes:
    encoder.blocks.{i}.attn (B, heads, 1 + L_keep, 1 + L_keep): token 0 is cls, token 1 + k is patch
    ``ids_keep[b, k]``; decoder.blocks.{i}.attn (B, heads, 1 + L, 1 + L): token 1 + j is patch j.
    cls_map / rollout_map -> (h, w) float grids, NaN where a patch was masked (not seen by the encoder).

    from mae_core.views.attention import attention_maps
    maps = attention_maps(model, imgs, mask_ratio=0.75, noise=noise, blocks="encoder:-1")
    maps.cls_map("encoder.blocks.11.attn", sample=0, head=3)   # (h, w), NaN at masked patches
    maps.rollout(sample=0)                                      # (h, w)

With ``mask_ratio=0`` the encoder sees every patch and these are the classic ViT attention maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import MAEError, SettingError
from .features import raster_noise
from .recorder import parse_blocks, record


@dataclass
class AttentionMaps:
    """Recorded attention probabilities and the masking that says where each token sits."""

    attention: dict[str, Tensor]  # "encoder.blocks.{i}.attn" / "decoder.blocks.{i}.attn" -> (B, heads, T, T)
    ids_keep: Tensor  # (B, L_keep)
    ids_restore: Tensor  # (B, L)
    mask: Tensor  # (B, L): 1 = removed
    grid: tuple[int, int]  # (h, w)
    depth: int  # encoder blocks in the model (the rollout needs every one)

    def tensors(self, heads: list[int] | None = None) -> dict[str, Tensor]:
        """Everything, named as in the file ``mae attention --out`` writes (encoder heads optionally chosen)."""
        out = {}
        for name, probs in self.attention.items():
            out[name] = probs[:, heads] if heads is not None and name.startswith("encoder.") else probs
        out.update(ids_keep=self.ids_keep, ids_restore=self.ids_restore, mask=self.mask)
        return out

    def on_grid(self, values: Tensor, sample: int) -> np.ndarray:
        """(L_keep,) values of the visible tokens in the encoder's order -> (h, w) grid, NaN where masked."""
        h, w = self.grid
        grid = np.full(h * w, np.nan)
        grid[self.ids_keep[sample].cpu().numpy()] = values.detach().double().cpu().numpy()
        return grid.reshape(h, w)

    def cls_map(self, name: str, sample: int = 0, head: int | None = None) -> np.ndarray:
        """How much the cls token attends to each visible patch in block ``name`` (one head, or their mean)."""
        probs = self.attention[name][sample]  # (heads, T, T)
        row = probs.mean(0)[0] if head is None else probs[head, 0]
        return self.on_grid(row[1:], sample)

    def rollout(self, sample: int = 0) -> np.ndarray:
        """Attention rollout (Abnar & Zuidema 2020) over every encoder block: the cls row, on the grid.

        Needs every encoder block recorded (each one's matrix enters the product).
        """
        names = [f"encoder.blocks.{i}.attn" for i in range(self.depth)]
        if not all(n in self.attention for n in names):
            raise MAEError("attention rollout needs every encoder block; record them all (blocks=True)")
        return self.on_grid(rollout(self.attention[n][sample] for n in names)[0, 1:], sample)

    def decoder_mix(self, sample: int = 0) -> list[dict[str, float]]:
        """Per decoder block: the share of the mask tokens' attention that goes to visible patches, to
        other mask tokens and to cls (heads and mask-token queries averaged; the three shares sum to 1)."""
        removed = self.mask[sample].bool()  # (L,)
        rows = []
        for name in sorted((n for n in self.attention if n.startswith("decoder.")), key=lambda n: int(n.split(".")[2])):
            probs = self.attention[name][sample].double().mean(0)  # (1 + L, 1 + L)
            queries = probs[1:][removed]  # (L - L_keep, 1 + L): the mask tokens' rows
            if queries.shape[0] == 0:
                continue
            to_patches = queries[:, 1:]
            rows.append({"block": name, "visible": to_patches[:, ~removed].sum(1).mean().item(),
                         "mask_tokens": to_patches[:, removed].sum(1).mean().item(),
                         "cls": queries[:, 0].mean().item(),
                         "mask_token_share_of_patches": removed.double().mean().item()})
        return rows


def rollout(matrices) -> Tensor:
    """Abnar & Zuidema's rollout: prod over blocks (first applied first) of normalise(mean_heads(A) + I).

    Args:
        matrices: per block, (heads, T, T) attention probabilities, first block first.

    Returns:
        (T, T): row t says how much token t at the output draws on each input token.
    """
    result = None
    for probs in matrices:
        a = probs.double().mean(0)  # (T, T)
        a = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)  # the residual connection
        a = a / a.sum(-1, keepdim=True)
        result = a if result is None else a @ result
    if result is None:
        raise MAEError("attention rollout needs at least one block")
    return result


def check_heads(heads: list[int] | None, num_heads: int) -> list[int] | None:
    """Head indices in range (negative from the end), or an MAEError naming the range."""
    if heads is None:
        return None
    for h in heads:
        if not -num_heads <= h < num_heads:
            raise SettingError("heads", f"head {h} is out of range: each block has {num_heads} heads "
                               f"(0..{num_heads - 1})")
    return sorted({h % num_heads for h in heads})


@torch.no_grad()
def attention_maps(model: nn.Module, imgs: Tensor, *, mask_ratio: float = 0.75, noise: Tensor | None = None,
                   blocks: str | list[str] | bool = True) -> AttentionMaps:
    """Run ``model`` once, recording attention, and return the maps with the masking they need.

    Args:
        model: a :class:`~mae_core.mae.MaskedAutoencoderViT`.
        imgs: (B, C, H, W).
        mask_ratio: fraction of patches removed; 0 keeps every patch (in raster order: the noise is
            then 0, 1, ..., L-1 unless ``noise`` is given).
        noise: (B, L) masking noise; ``None`` with ``mask_ratio > 0`` draws ``torch.rand``.
        blocks: which blocks, as :func:`~mae_core.views.recorder.parse_blocks` takes them
            (``True`` every encoder and decoder block).
    """
    from ..classifier import VisionTransformer

    chosen = parse_blocks(model, blocks)
    if isinstance(model, VisionTransformer):  # a fine-tuned classifier: every patch, raster order, no decoder
        with record(model, attention=chosen, stages=False) as rec:
            model(imgs)
        B, L = imgs.shape[0], model.patch_embed.num_patches
        order = torch.arange(L, device=imgs.device).expand(B, L)
        grid = tuple(model.config.grid_size)
        return AttentionMaps(dict(rec.attention), order, order, torch.zeros(B, L, device=imgs.device), grid,
                             len(model.blocks))
    if noise is None and mask_ratio == 0:
        noise = raster_noise(imgs.shape[0], model.encoder.patch_embed.num_patches, imgs.device)
    with record(model, attention=chosen, stages=False) as rec:
        model(imgs, mask_ratio, noise)
    grid = model.encoder.patch_embed.grid_size
    grid = (grid, grid) if isinstance(grid, int) else tuple(grid)
    m = rec.masking
    return AttentionMaps(dict(rec.attention), m.ids_keep, m.ids_restore, m.mask, grid, len(model.encoder.blocks))


def attention_bytes(cfg, batch: int, mask_ratio: float) -> int:
    """Bytes of every block's recorded probabilities (float32): (B, heads, T, T) per encoder block over
    T = 1 + visible tokens, and per decoder block over T = 1 + L."""
    t_enc, t_dec = 1 + cfg.num_visible(mask_ratio), 1 + cfg.num_patches
    return 4 * batch * (cfg.depth * cfg.num_heads * t_enc ** 2 + cfg.decoder_depth * cfg.decoder_num_heads * t_dec ** 2)


def _check_attention_fits(cfg, batch: int, mask_ratio: float, device) -> None:
    """Refuse a recording whose probabilities alone exceed the memory available (before computing them)."""
    from ..errors import MemoryBudgetError
    from .memory import iec
    from .memory_budget import available_memory

    available = available_memory(device)
    need = attention_bytes(cfg, batch, mask_ratio)
    if available.bytes is not None and need > available.bytes:
        raise MemoryBudgetError(f"recording the attention of {batch} image(s) at {cfg.image_hw[0]}x{cfg.image_hw[1]} "
                                f"px needs {iec(need)} for the probabilities alone, but {iec(available.bytes)} is "
                                f"available ({available.method}); use a smaller image size or batch")


def attention_report(variant: str | None, weights: str | Path | None, images: list[str | Path] | None,
                     batch: int | None, seed: int, *, mask_ratio: float = 0.75, blocks: str = "all",
                     heads: list[int] | None = None, out: str | Path | None = None,
                     png: str | Path | None = None, device: torch.device | str = "cpu",
                     img_size: Any = None, in_chans: int = 3, resize: str = "stretch") -> dict[str, Any]:
    """Everything `mae attention` shows: load, record every block, write the tensors; plain data.

    ``blocks`` (``all`` or encoder indices like ``0,5,-1``) and ``heads`` choose what is written and
    drawn; every block is recorded (the rollout needs them all). Without image files the built-in
    picture is used (``batch`` copies). The masking noise is seeded by
    ``seed`` (its own generator); with ``mask_ratio`` 0 there is no noise: raster order.

    ``png``: also write the picture (:func:`mae_core.views.picture.write_attention_png`).

    ``img_size``, ``in_chans`` and ``resize``: as :func:`mae_core.views.prepare.prepare` (another image size
    or channel count).
    """
    from ..models import get_variant
    from .features import check_output, parse_layers
    from .prepare import prepare, variant_name
    from .sizes import check_mask_ratio, size_overrides

    out_path = check_output(out, (".safetensors",))
    if png is not None and Path(png).suffix.lower() != ".png":
        raise SettingError("png", f"{str(png)!r}: name the picture .png")
    from ..io.files import check_outputs

    check_outputs([(png, "--png"), (out_path, "--out")], [weights, *(images or [])])  # both before any work
    name = variant_name(variant, weights)
    if name is not None:
        cfg = get_variant(name).config
        parse_layers(blocks, cfg.depth, "blocks")
        check_heads(heads, cfg.num_heads)
        check_mask_ratio(mask_ratio, cfg.num_patches)
        sized = size_overrides(name, img_size, in_chans, pictures=True)
        _check_attention_fits(cfg.replace(**sized), len(images) if images else batch or 1, mask_ratio, device)
    prep = prepare(variant, weights, images, batch, seed, device=device, builtin=True, img_size=img_size,
                   in_chans=in_chans, resize=resize, mask_ratio=mask_ratio, classifiers=True)
    cfg = prep.model.config
    if getattr(prep.model, "head", None) is not None:  # a fine-tuned classifier sees every patch
        mask_ratio = 0.0
    check_mask_ratio(mask_ratio, cfg.num_patches)
    chosen = parse_layers(blocks, cfg.depth, "blocks")
    heads = check_heads(heads, cfg.num_heads)
    _check_attention_fits(cfg, int(prep.imgs.shape[0]), mask_ratio, prep.imgs.device)
    noise = None if mask_ratio == 0 or prep.plan is None else prep.plan.noise.to(prep.imgs.device)
    maps = attention_maps(prep.model, prep.imgs, mask_ratio=mask_ratio, noise=noise)
    tensors = {k: v for k, v in maps.tensors(heads).items()
               if not k.startswith("encoder.") or int(k.split(".")[2]) in chosen}
    written = None
    if out_path is not None:
        from .features import save_tensors

        written = save_tensors(tensors, out_path, metadata={"variant": prep.variant, "mask_ratio": str(mask_ratio),
                                                             "heads": ",".join(map(str, heads or []))})
    rows = []
    for i in chosen:
        probs = maps.attention[f"encoder.blocks.{i}.attn"]
        cls_row = probs[:, :, 0, 1:]  # (B, heads, L_keep): the cls token's attention to the visible patches
        rows.append({"block": f"encoder.blocks.{i}", "shape": list(probs.shape),
                     "cls_self": probs[:, :, 0, 0].mean().item(), "cls_max_patch": cls_row.max().item(),
                     "entropy": -(probs.clamp_min(1e-30).log() * probs).sum(-1).mean().item()})
    report = {"variant": prep.variant, "title": prep.title, "weights": prep.weights, "notes": prep.notes,
              "inputs": prep.inputs, "batch": int(prep.imgs.shape[0]), "img_size": list(cfg.image_hw),
              "in_chans": cfg.in_chans, "mask_ratio": mask_ratio, "seed": seed,
              "num_visible": int(maps.ids_keep.shape[1]), "grid": list(maps.grid), "blocks": chosen,
              "heads": heads if heads is not None else list(range(cfg.num_heads)), "encoder": rows,
              "decoder": maps.decoder_mix(0) if mask_ratio > 0 else [],
              "tensors": {k: list(v.shape) for k, v in tensors.items()},
              "out": str(out_path) if out_path is not None else None, "bytes_written": written}
    if png is not None:
        from .picture import write_attention_png

        report["png"] = write_attention_png(png, report, maps, prep)
    else:
        report["png"] = None
    return report
