"""How much memory an MAE needs, stage by stage, for inference and for training: in closed form.

Paper: MAE Sec. 3 "MAE encoder" (the encoder sees only the L_keep visible patches, so its activations
shrink with the mask ratio) and "MAE decoder" (the decoder sees all 1 + L tokens); Table 1c (an encoder
with mask tokens, "w/ [M]", sees every token: the baseline this module also sizes).

Shapes: a config, a batch B and a mask ratio in; bytes out. Each stage below is a short function whose
terms name the tensor autograd keeps for the backward pass and the operation that keeps it (what
``torch.autograd.graph.saved_tensors_hooks`` sees on CPU, counting every storage once and leaving out
the parameters themselves). :mod:`mae_core.views.memory_measured` counts the same bytes on a real
training step; the tests require equality, byte for byte.

Tokens: T_vis = 1 + L_keep in the encoder (cls and the visible patches), T_all = 1 + L in the decoder.
Per token of width D a Transformer block saves 8 D + 2 * hidden values (D = embed width, hidden = the
MLP's) plus its LayerNorm statistics and the attention's log-sum-exp.

Inference (no autograd) keeps nothing for backward; its memory is the largest set of tensors alive at
one moment (:func:`inference_peak`), written out from the order the forward pass creates and drops
them. Training adds the weights' gradients and the optimizer state (AdamW: two moments per trainable
value; the fixed sin-cos tables have neither).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import MAEConfig

INDEX = 8  # int64 indices (argsort, gather)
FLOAT32 = 4  # the mask, the attention's log-sum-exp, the loss's denominator: float32 in every precision
OPTIMIZERS = ("none", "sgd", "adamw", "lars")
MODES = ("inference", "train")


# --- precision: how many bytes each kind of tensor takes -------------------------------------------

@dataclass(frozen=True)
class Precision:
    """Bytes per value of each kind of tensor, for one way of running the model.

    float32: everything 4. Native low precision (weights cast to bfloat16 / float16): everything 2 but
    the float32 ones above. ``torch.autocast`` (weights float32): matrix products, the patch convolution,
    attention and GELU run in the low precision (their inputs are cast copies), the residual stream and
    LayerNorm stay float32, and each weight a product uses is cast once and that copy kept for backward.
    """

    name: str  # "float32", "bfloat16", "bfloat16 autocast", ...
    weights: int  # bytes per parameter value as stored (and per gradient, per optimizer moment)
    residual: int  # the residual stream, LayerNorm in and out, the gathered tokens, the loss's difference
    matmul: int  # inputs and outputs of the linear layers, the patch convolution, attention and GELU
    stats: int  # LayerNorm's saved mean and 1/std (CPU: the input's dtype)
    weight_copies: bool  # autocast: a low-precision copy of every product's weight, saved for backward

    @property
    def images(self) -> int:
        """Bytes per input pixel value: float32, or the native low-precision dtype."""
        return self.residual


def precision(dtype: torch.dtype = torch.float32, amp: bool = False) -> Precision:
    """The :class:`Precision` of ``dtype``, natively (weights cast) or under ``torch.autocast`` (``amp``)."""
    low = torch.empty((), dtype=dtype).element_size()
    name = str(dtype).removeprefix("torch.")
    if dtype == torch.float32:
        return Precision("float32", 4, 4, 4, 4, False)
    if amp:
        return Precision(f"{name} autocast", 4, 4, low, 4, True)
    return Precision(name, low, low, low, low, False)


# --- the stages of a training step: bytes saved for backward ---------------------------------------

def patch_embed_saved(cfg: MAEConfig, B: int, pr: Precision) -> int:
    """The patch convolution saves its input for the weight gradient: the images (autocast: their copy)."""
    images = B * cfg.in_chans * cfg.image_hw[0] * cfg.image_hw[1] * pr.matmul
    weight_copy = cfg.embed_dim * cfg.patch_dim * pr.matmul if pr.weight_copies else 0
    return images + weight_copy


def masking_saved(cfg: MAEConfig, B: int, pr: Precision) -> int:
    """``torch.gather`` of the kept tokens saves its index and its input (positions added)."""
    L, D = cfg.num_patches, cfg.embed_dim
    ids_shuffle = B * L * INDEX  # ids_keep is a slice of ids_shuffle: the whole storage stays
    tokens = B * L * D * pr.residual  # gather's input, all L tokens (PyTorch saves it, not just its shape)
    return ids_shuffle + tokens


def mask_tokens_saved(cfg: MAEConfig, B: int, pr: Precision) -> int:
    """Baseline only: ``torch.where(removed, [M], x)`` saves its boolean condition (B, L, 1)."""
    return B * cfg.num_patches * 1


def layer_norm_saved(B: int, T: int, D: int, pr: Precision) -> int:
    """LayerNorm saves its input and its per-token mean and 1/std."""
    return B * T * D * pr.residual + 2 * B * T * pr.stats


def linear_saved(B: int, T: int, d_in: int, d_out: int, pr: Precision) -> int:
    """A linear layer saves its input (autocast: the low-precision copy) and, under autocast, its weight's copy."""
    return B * T * d_in * pr.matmul + (d_out * d_in * pr.matmul if pr.weight_copies else 0)


def block_saved(B: int, T: int, D: int, heads: int, hidden: int, pr: Precision) -> int:
    """One pre-norm block (ViT Eq. 2-3) on T tokens of width D."""
    copies = (3 * D * D + D * D + 2 * D * hidden) * pr.matmul if pr.weight_copies else 0  # qkv, proj, fc1, fc2
    return (
        layer_norm_saved(B, T, D, pr)  # norm1: the block's input
        + B * T * D * pr.matmul  # qkv: norm1's output (autocast: its low-precision copy)
        + 3 * B * T * D * pr.matmul  # attention: q, k, v (views of the one qkv output: one storage)
        + B * T * D * pr.matmul  # attention: its output; proj's input is a view of it (not counted twice)
        + B * heads * T * FLOAT32  # attention: log-sum-exp per head and query, float32
        + layer_norm_saved(B, T, D, pr)  # norm2: the residual stream after attention
        + B * T * D * pr.matmul  # fc1: norm2's output
        + B * T * hidden * pr.matmul  # GELU: fc1's output
        + B * T * hidden * pr.matmul  # fc2: GELU's output
        + copies
    )


def decoder_embed_saved(cfg: MAEConfig, B: int, T_in: int, pr: Precision) -> int:
    """The decoder's linear embedding saves the encoder's output (its final LayerNorm's output)."""
    return linear_saved(B, T_in, cfg.embed_dim, cfg.decoder_embed_dim, pr)


def unshuffle_saved(cfg: MAEConfig, B: int, pr: Precision) -> int:
    """``torch.gather`` back to raster order saves ids_restore and its input, [visible; mask tokens] (B, L, D_dec)."""
    L = cfg.num_patches
    return B * L * INDEX + B * L * cfg.decoder_embed_dim * pr.residual


def predictor_saved(cfg: MAEConfig, B: int, pr: Precision) -> int:
    """The predictor saves its input, the decoder norm's output, on all 1 + L tokens (cls dropped after)."""
    return linear_saved(B, 1 + cfg.num_patches, cfg.decoder_embed_dim, cfg.patch_dim, pr)


def loss_saved(cfg: MAEConfig, B: int, pr: Precision) -> int:
    """``(pred - target) ** 2`` saves the difference; ``* mask`` the mask; ``/ mask.sum()`` the 0-dim sum."""
    L = cfg.num_patches
    return B * L * cfg.patch_dim * pr.residual + B * L * FLOAT32 + FLOAT32


@dataclass(frozen=True)
class Stage:
    key: str
    description: str
    bytes: int
    count: int = 1  # the blocks: how many identical ones ``bytes`` covers (per block: bytes // count)

    @property
    def per_block(self) -> int:
        return self.bytes // self.count


def saved_stages(cfg: MAEConfig, batch: int, mask_ratio: float = 0.75, pr: Precision | None = None, *,
                 mask_tokens_in_encoder: bool = False) -> list[Stage]:
    """Bytes each stage of one training step keeps for backward.

    Args:
        cfg: the model's config (its grid, channels and widths are all that matter).
        batch: B.
        mask_ratio: fraction of patches removed.
        pr: the precision (:func:`precision`); float32 by default.
        mask_tokens_in_encoder: size the Table 1c baseline (:class:`~mae_core.views.baseline.MaskTokensInEncoder`)
            instead: its encoder sees all 1 + L tokens, its decoder needs no unshuffle.

    Returns:
        One :class:`Stage` per step of the forward pass, in order.
    """
    pr = pr or precision()
    B, L = batch, cfg.num_patches
    D, D_dec = cfg.embed_dim, cfg.decoder_embed_dim
    T_all = 1 + L
    T_enc = T_all if mask_tokens_in_encoder else 1 + cfg.num_visible(mask_ratio)
    enc_block = block_saved(B, T_enc, D, cfg.num_heads, int(D * cfg.mlp_ratio), pr)
    dec_block = block_saved(B, T_all, D_dec, cfg.decoder_num_heads, int(D_dec * cfg.mlp_ratio), pr)
    stages = [Stage("patch_embed", "patch embedding (the images)", patch_embed_saved(cfg, B, pr))]
    if mask_tokens_in_encoder:
        stages.append(Stage("masking", "mask tokens [M] in place of the removed patches",
                            mask_tokens_saved(cfg, B, pr)))
    else:
        stages.append(Stage("masking", "random masking (gather of the visible tokens)", masking_saved(cfg, B, pr)))
    stages += [
        Stage("encoder_blocks", f"{cfg.depth} encoder blocks ({T_enc} tokens each)", cfg.depth * enc_block, cfg.depth),
        Stage("encoder_norm", "encoder norm", layer_norm_saved(B, T_enc, D, pr)),
        Stage("decoder_embed", "decoder embedding", decoder_embed_saved(cfg, B, T_enc, pr)),
    ]
    if not mask_tokens_in_encoder:
        stages.append(Stage("unshuffle", "mask tokens and unshuffle", unshuffle_saved(cfg, B, pr)))
    stages += [
        Stage("decoder_blocks", f"{cfg.decoder_depth} decoder blocks ({T_all} tokens each)",
              cfg.decoder_depth * dec_block, cfg.decoder_depth),
        Stage("decoder_norm", "decoder norm", layer_norm_saved(B, T_all, D_dec, pr)),
        Stage("predictor", "pixel predictor", predictor_saved(cfg, B, pr)),
        Stage("loss", "loss on the removed patches", loss_saved(cfg, B, pr)),
    ]
    return stages


# --- inference: the largest set of tensors alive at once --------------------------------------------

def block_peak(B: int, T: int, D: int, heads: int, hidden: int, pr: Precision) -> int:
    """The most bytes one block's forward pass holds at once, its input included (no autograd).

    The caller's loop keeps the block's input alive throughout; inside, each moment below lists what
    exists just after an operation returns (its inputs are still referenced then).
    """
    r, m = B * T * D * pr.residual, B * T * D * pr.matmul  # one (B, T, D) tensor, residual / product dtype
    cast = m if pr.weight_copies else 0  # autocast: the low-precision copy of a LayerNorm output, for one product
    h = B * T * hidden * pr.matmul  # one (B, T, hidden) tensor
    stats = 2 * B * T * pr.stats
    lse = B * heads * T * FLOAT32
    moments = [
        r + r + stats,  # norm1: input, output, mean and 1/std
        r + r + cast + 3 * m,  # qkv product
        r + r + 3 * m + m + lse,  # attention: q, k, v (one storage), output, log-sum-exp
        r + r + 3 * m + m + m,  # proj (its input a view of the attention output)
        r + m + r,  # x + attn: input, proj output, the new residual
        r + r + r + stats,  # norm2
        r + r + r + cast + h,  # fc1
        r + r + r + h + h,  # GELU: fc1's output and its own
        r + r + r + h + m,  # fc2
        r + r + m + r,  # x + mlp
    ]
    return max(moments)


def _autocast_cache(cfg: MAEConfig, pr: Precision) -> int:
    """Autocast keeps one low-precision copy of every weight and bias a product used, until it exits."""
    if not pr.weight_copies:
        return 0
    D, D_dec, P = cfg.embed_dim, cfg.decoder_embed_dim, cfg.patch_dim

    def block(width: int) -> int:
        hidden = int(width * cfg.mlp_ratio)
        return 4 * width * width + 2 * width * hidden + 3 * width + width + hidden + width  # weights, then biases

    values = (D * P + D + cfg.depth * block(D) + D * D_dec + D_dec + cfg.decoder_depth * block(D_dec)
              + D_dec * P + P)
    return values * pr.matmul


def inference_stages(cfg: MAEConfig, batch: int, mask_ratio: float = 0.75, pr: Precision | None = None, *,
                     mask_tokens_in_encoder: bool = False) -> list[Stage]:
    """The peak bytes alive during each stage of a forward pass without autograd, tensors kept from earlier
    stages included (the input images and the weights excluded: they exist before it).

    Exact for the blocks and the loss (where the peak is, for every paper variant); the masking stage is
    an upper bound within a few hundred bytes (argsort's temporaries).
    """
    pr = pr or precision()
    B, L, P = batch, cfg.num_patches, cfg.patch_dim
    D, D_dec = cfg.embed_dim, cfg.decoder_embed_dim
    T_all = 1 + L
    T_enc = T_all if mask_tokens_in_encoder else 1 + cfg.num_visible(mask_ratio)
    cache = _autocast_cache(cfg, pr)
    conv = B * L * D * pr.matmul  # the patch convolution's output
    tokens = B * L * D * pr.residual  # (B, L, D) after the positions are added
    images_cast = B * cfg.in_chans * cfg.image_hw[0] * cfg.image_hw[1] * pr.matmul if pr.weight_copies else 0
    mask, ids = B * L * FLOAT32, B * L * INDEX
    pred_full = B * T_all * P * pr.matmul  # the predictor's output, cls row included (pred is a view of it)
    # The loss: patchify's copy of the images (the target), pred - target and its square; normalising
    # the target (norm_pix_loss) replaces it, with its per-patch mean, variance and std beside it.
    loss_moment = 3 * B * L * P * pr.residual + (3 * B * L * pr.residual if cfg.norm_pix_loss else 0)
    enc_block = block_peak(B, T_enc, D, cfg.num_heads, int(D * cfg.mlp_ratio), pr)
    dec_block = block_peak(B, T_all, D_dec, cfg.decoder_num_heads, int(D_dec * cfg.mlp_ratio), pr)
    enc_tokens = B * T_enc * D * pr.residual  # the sequence entering the encoder blocks (block 0's input)
    dec_tokens = B * T_all * D_dec * pr.residual  # the same for the decoder
    # encode_tokens / decode_tokens loop over the blocks while their caller still holds block 0's input:
    # from block 1 on, that sequence is alive beside the block's own input.
    enc_first = enc_tokens if cfg.depth > 1 else 0
    dec_first = dec_tokens if cfg.decoder_depth > 1 else 0
    # The predictor: block 0's input, the last block's output, the norm's output (autocast: its copy) and
    # the predictor's output, cls row included (pred is a view of it).
    predictor = dec_tokens + dec_tokens + dec_tokens + (B * T_all * D_dec * pr.matmul if pr.weight_copies else 0)
    if mask_tokens_in_encoder:
        # MaskTokensInEncoder.forward keeps the mask and its boolean copy to the end, the encoder's input
        # sequence until the decoder starts, then the encoder's output (latent) and the decoder's input.
        kept = mask + B * L * 1
        latent = B * T_all * D * pr.residual
        masking = tokens + conv + mask + ids + ids + B * L * 1  # the [M] substitution
        stages = [
            Stage("masking", "masking", masking),
            Stage("encoder_blocks", f"encoder block ({T_enc} tokens)", kept + enc_first + enc_block),
            Stage("decoder_blocks", f"decoder block ({T_all} tokens)", kept + latent + dec_first + dec_block),
            Stage("predictor", "decoder norm and predictor", kept + latent + predictor + pred_full),
            Stage("loss", "loss", kept + latent + dec_tokens + pred_full + loss_moment),
        ]
    else:
        # MAEEncoder.forward keeps the mask, ids_restore and ids_shuffle (under ids_keep) through its blocks;
        # then the MAE keeps its output (latent), the mask and ids_restore to the end.
        kept = mask + 2 * ids
        latent = B * T_enc * D * pr.residual
        visible = B * (T_enc - 1) * D * pr.residual
        masking = tokens + visible + B * L * (FLOAT32 + 2 * INDEX + INDEX + FLOAT32 + 1)  # noise, argsorts, mask
        decoder_kept = latent + mask + ids
        # insert_mask_tokens: the embedded latent, [visible; mask tokens] shuffled, unshuffled, with cls.
        unshuffle = B * (T_enc * pr.matmul + 2 * L * pr.residual) * D_dec + dec_tokens
        stages = [
            Stage("masking", "masking", masking),
            Stage("encoder_blocks", f"encoder block ({T_enc} tokens)", kept + enc_first + enc_block),
            Stage("unshuffle", "mask tokens and unshuffle", decoder_kept + unshuffle),
            Stage("decoder_blocks", f"decoder block ({T_all} tokens)", decoder_kept + dec_first + dec_block),
            Stage("predictor", "decoder norm and predictor", decoder_kept + predictor + pred_full),
            Stage("loss", "loss", decoder_kept + pred_full + loss_moment),
        ]
    return [
        Stage("patch_embed", "patch embedding", images_cast + conv + tokens),
        *stages,
    ] + ([Stage("autocast_cache", "autocast's low-precision weight copies", cache)] if cache else [])


def inference_peak(cfg: MAEConfig, batch: int, mask_ratio: float = 0.75, pr: Precision | None = None, *,
                   mask_tokens_in_encoder: bool = False) -> int:
    """Bytes a forward pass without autograd adds at its peak: the largest stage, plus autocast's weight copies."""
    stages = inference_stages(cfg, batch, mask_ratio, pr, mask_tokens_in_encoder=mask_tokens_in_encoder)
    cache = sum(s.bytes for s in stages if s.key == "autocast_cache")
    return max(s.bytes for s in stages if s.key != "autocast_cache") + cache


# --- weights, gradients, optimizer state -------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def parameter_counts(cfg: MAEConfig) -> tuple[int, int, int]:
    """(all parameter values, trainable values, trainable tensors) of the model the config describes.

    Counted on a ``meta``-device model (shapes only, instant), so it follows any config.
    """
    from ..mae import MaskedAutoencoderViT

    model = MaskedAutoencoderViT(cfg, device="meta")
    trainable = [p for p in model.parameters() if p.requires_grad]
    return sum(p.numel() for p in model.parameters()), sum(p.numel() for p in trainable), len(trainable)


def optimizer_bytes(optimizer: str, trainable: int, tensors: int, pr: Precision) -> int:
    """Optimizer state after its first step, as ``torch.optim`` keeps it.

    sgd: SGD with momentum, one buffer per trainable value; lars (linear probing, ``util/lars.py``): the
    same, its momentum ``mu``. adamw: ``exp_avg`` and ``exp_avg_sq`` per
    trainable value, plus a float32 0-dim ``step`` per parameter tensor. Neither has state for the fixed
    sin-cos tables (``requires_grad=False``).
    """
    if optimizer == "none":
        return 0
    if optimizer in ("sgd", "lars"):
        return trainable * pr.weights
    if optimizer == "adamw":
        return 2 * trainable * pr.weights + tensors * FLOAT32
    raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")


# --- the report --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryEstimate:
    """Every row of `mae memory`, in bytes."""

    mode: str  # inference or train
    batch: int
    mask_ratio: float
    precision: Precision
    optimizer: str
    weights: int  # every parameter, the sin-cos tables included
    gradients: int  # trainable parameters only
    optimizer_state: int
    images: int  # the input batch
    saved: list[Stage]  # train: kept for backward, per stage (empty for inference)
    inference: list[Stage]  # peak alive per stage of a forward without autograd
    transient: int  # inference: the peak over the stages; train: the largest stage's own working set
    total: int

    @property
    def saved_total(self) -> int:
        return sum(s.bytes for s in self.saved)


def estimate(cfg: MAEConfig, batch: int, mask_ratio: float = 0.75, *, mode: str = "inference",
             dtype: torch.dtype = torch.float32, amp: bool = False, optimizer: str = "adamw",
             mask_tokens_in_encoder: bool = False) -> MemoryEstimate:
    """The memory one forward pass (``inference``) or one training step (``train``) needs.

    Args:
        cfg: the model's config.
        batch: B, at least 1.
        mask_ratio: fraction of patches removed.
        mode: ``inference`` (no autograd) or ``train`` (forward + backward + optimizer step).
        dtype: float32, bfloat16 or float16.
        amp: low precision by ``torch.autocast`` over float32 weights, instead of casting the weights.
        optimizer: none, sgd or adamw (train only).
        mask_tokens_in_encoder: size the Table 1c baseline instead of the MAE.

    The training total is weights + gradients + optimizer state + images + everything saved for
    backward + the largest stage's working set on top of it (an estimate of the backward pass's
    transient: the exact figures are the saved bytes, checked by measurement).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use inference or train")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    pr = precision(dtype, amp)
    total_params, trainable, tensors = parameter_counts(cfg)
    weights = total_params * pr.weights
    images = batch * cfg.in_chans * cfg.image_hw[0] * cfg.image_hw[1] * pr.images
    kw = {"mask_tokens_in_encoder": mask_tokens_in_encoder}
    inference = inference_stages(cfg, batch, mask_ratio, pr, **kw)
    if mode == "inference":
        transient = inference_peak(cfg, batch, mask_ratio, pr, **kw)
        return MemoryEstimate(mode, batch, mask_ratio, pr, "none", weights, 0, 0, images, [], inference, transient,
                              weights + images + transient)
    saved = saved_stages(cfg, batch, mask_ratio, pr, **kw)
    transient = _largest_working_set(cfg, batch, mask_ratio, pr, mask_tokens_in_encoder)
    gradients = trainable * pr.weights
    opt = optimizer_bytes(optimizer, trainable, tensors, pr)
    total = weights + gradients + opt + images + sum(s.bytes for s in saved) + transient
    return MemoryEstimate(mode, batch, mask_ratio, pr, optimizer, weights, gradients, opt, images, saved, inference,
                          transient, total)


def _largest_working_set(cfg: MAEConfig, B: int, mask_ratio: float, pr: Precision, baseline: bool) -> int:
    """The largest block's or loss's own peak (what a stage holds beyond what earlier stages keep)."""
    T_enc = 1 + (cfg.num_patches if baseline else cfg.num_visible(mask_ratio))
    D, D_dec, L, P = cfg.embed_dim, cfg.decoder_embed_dim, cfg.num_patches, cfg.patch_dim
    return max(block_peak(B, T_enc, D, cfg.num_heads, int(D * cfg.mlp_ratio), pr),
               block_peak(B, 1 + L, D_dec, cfg.decoder_num_heads, int(D_dec * cfg.mlp_ratio), pr),
               B * L * P * (pr.images + 2 * pr.residual))


def largest_batch(fits: Callable[[int], bool], limit: int = 1 << 40) -> int:
    """The largest B >= 1 with ``fits(B)`` (0 if even B = 1 does not), for ``fits`` monotonic in B."""
    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi < limit and fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def largest_batch_for(cfg: MAEConfig, budget: int, mask_ratio: float = 0.75, **options) -> int:
    """The largest batch whose :func:`estimate` total fits in ``budget`` bytes (options as :func:`estimate`)."""
    return largest_batch(lambda b: estimate(cfg, b, mask_ratio, **options).total <= budget)


def iec(n: float) -> str:
    """Bytes in IEC units: ``1536`` -> ``"1.50 KiB"``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"
