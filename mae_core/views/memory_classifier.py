"""How much memory the fine-tuned MAE needs: one fine-tuning or linear-probing step, or a forward pass.

Paper: MAE Sec. 4 ("end-to-end fine-tuning" and "linear probing" of the pre-trained encoder) and
Appendix A.1: fine-tuning runs the encoder on *every* patch (no masking: 1 + L tokens in each block,
four times the pre-training encoder's at mask 0.75), with drop path, global pooling + ``fc_norm``, label
smoothing 0.1 and AdamW over every weight, the position table included (Table 9); linear probing freezes
the encoder and trains a ``BatchNorm1d(affine=False)`` + Linear head on the cls token with LARS (Table 10).

Shapes: a config, a batch B and a :class:`ClassifierStep` in; bytes per stage out, in the same
:class:`~mae_core.views.memory.Stage` / :class:`~mae_core.views.memory.MemoryEstimate` terms as the
pre-training closed form of :mod:`mae_core.views.memory` (whose per-block terms it reuses), and checked
the same way: byte for byte against ``saved_tensors_hooks`` and the live-tensor peak on the CPU
(:mod:`mae_core.views.memory_measured`).

What a fine-tuning step keeps for backward, beyond the blocks of :func:`~mae_core.views.memory.block_saved`
on T = 1 + L tokens: the images (the patch convolution's input), each dropped branch's per-sample
multiplier (B, 1, 1) (drop path: two per block whose rate is above 0, i.e. all but the first), the pooled
features and their LayerNorm statistics, the head's input, and the loss's log-probabilities (B, K) with
the targets' indices. A linear probe, encoder frozen, builds no graph until the head: it keeps the head's
input and the loss's tensors only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from ..config import MAEConfig
from ..errors import SettingError
from .memory import (INDEX, MODES, OPTIMIZERS, MemoryEstimate, Precision, Stage, block_peak, block_saved,
                     layer_norm_saved, linear_saved, optimizer_bytes, precision)

CLASSIFIER_STAGES = ("finetune", "linprobe")


@dataclass(frozen=True)
class ClassifierStep:
    """What a classifier step runs, as ``main_finetune.py`` / ``main_linprobe.py`` set it up.

    stage: ``finetune`` (every weight trained, global pool + ``fc_norm``, label smoothing) or ``linprobe``
        (encoder frozen, cls token + ``norm``, BatchNorm + Linear head, plain cross-entropy).
    num_classes: K.
    drop_path_rate: the last block's stochastic-depth rate (fine-tuning; FINETUNE.md: 0.1 / 0.2 / 0.3).
    smoothing: label smoothing (fine-tuning: 0.1, Table 9; 0: plain cross-entropy).
    global_pool: mean of the patch tokens + ``fc_norm`` (True) or the cls token after ``norm`` (False);
        None: the stage's (main_finetune.py: --global_pool; main_linprobe.py: the cls token).
    """

    stage: str = "finetune"
    num_classes: int = 1000
    drop_path_rate: float = 0.0
    smoothing: float = 0.1
    global_pool: bool | None = None

    def __post_init__(self) -> None:
        if self.stage not in CLASSIFIER_STAGES:
            raise ValueError(f"unknown classifier stage {self.stage!r}; use finetune or linprobe")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if self.global_pool is None:
            object.__setattr__(self, "global_pool", not self.linear_probe)

    @classmethod
    def of(cls, head: Any) -> ClassifierStep:
        """The step of a classifier as built or read (a ``VisionTransformer`` or a checkpoint's
        ``ClassifierSpec``: its ``linear_probe``, ``num_classes`` and ``global_pool``), for sizing its forward."""
        return cls("linprobe" if head.linear_probe else "finetune", num_classes=max(1, head.num_classes),
                   global_pool=head.global_pool)

    @classmethod
    def fine_tuning(cls, name: str) -> ClassifierStep:
        """Fine-tuning of the classifier ``name`` (or of the MAE variant's) as FINETUNE.md runs it: its drop path."""
        from ..models import get_classifier

        return cls("finetune", drop_path_rate=get_classifier(name).finetune_drop_path)

    @property
    def linear_probe(self) -> bool:
        return self.stage == "linprobe"

    @property
    def label_smoothing(self) -> float:
        return 0.0 if self.linear_probe else self.smoothing  # main_linprobe.py: torch.nn.CrossEntropyLoss()

    @property
    def default_optimizer(self) -> str:
        return "lars" if self.linear_probe else "adamw"

    def check_batch(self, batch: int, mode: str) -> None:
        """A linear-probing step trains a BatchNorm on the batch's statistics: at least 2 images (PyTorch
        refuses 1). Raises :class:`~mae_core.errors.SettingError`."""
        if self.linear_probe and mode == "train" and batch < 2:
            raise SettingError("batch", "a linear-probing step trains a BatchNorm on the batch's statistics, "
                                        "which needs at least 2 images; use --batch 2 or more", given=str(batch))

    def dropped_blocks(self, depth: int) -> int:
        """Blocks whose drop-path rate is above 0 (timm's ``linspace(0, rate, depth)``: all but the first)."""
        from ..drop_path import drop_path_rates

        return sum(r > 0.0 for r in drop_path_rates(self.drop_path_rate, depth)) if not self.linear_probe else 0


# --- training: bytes saved for backward --------------------------------------------------------------

def loss_saved(B: int, K: int, smoothing: float, pr: Precision) -> int:
    """The loss keeps the log-probabilities (B, K) and the targets (B,) (int64, the index of a ``gather``).

    With label smoothing (``recipe.label_smoothing_cross_entropy``, timm's ``LabelSmoothingCrossEntropy``)
    ``log_softmax`` runs in the logits' dtype; ``cross_entropy`` (no smoothing) runs in float32 under CPU
    autocast and keeps a 0-dim ``total_weight`` beside them. (CUDA's autocast runs both in float32.)
    """
    if smoothing > 0:
        return B * K * pr.matmul + B * INDEX
    return B * K * pr.residual + B * INDEX + pr.residual


def saved_stages(cfg: MAEConfig, batch: int, step: ClassifierStep | None = None,
                 pr: Precision | None = None) -> list[Stage]:
    """Bytes each stage of one fine-tuning or linear-probing step keeps for backward.

    Returns:
        One :class:`~mae_core.views.memory.Stage` per step of the forward pass: ``patch_embed``, ``blocks``,
        ``pool``, ``head``, ``loss`` (a linear probe: ``head`` and ``loss`` only; its encoder is frozen).
    """
    step, pr = step or ClassifierStep(), pr or precision()
    B, D, K, T = batch, cfg.embed_dim, step.num_classes, 1 + cfg.num_patches
    loss = Stage("loss", "cross-entropy" + (" with label smoothing" if step.label_smoothing else ""),
                 loss_saved(B, K, step.label_smoothing, pr))
    if step.linear_probe:  # no graph before the Linear: the BatchNorm has no weights, its input no gradient
        # (and no input gradient is needed, so autocast's copy of the weight is not kept either)
        return [Stage("head", "head (BatchNorm, then Linear: its input)", B * D * pr.matmul), loss]
    block = block_saved(B, T, D, cfg.num_heads, int(D * cfg.mlp_ratio), pr)
    dropped = step.dropped_blocks(cfg.depth)
    images = B * cfg.in_chans * cfg.image_hw[0] * cfg.image_hw[1] * pr.matmul
    patch_copy = D * cfg.patch_dim * pr.matmul if pr.weight_copies else 0
    if step.global_pool:  # fc_norm on the mean (B, D); the head reads fc_norm's output
        pool = Stage("pool", "global pool and fc_norm", layer_norm_saved(B, 1, D, pr))
        head = linear_saved(B, 1, D, K, pr)
    else:  # norm on every token; the head reads token 0, a view: the whole normed sequence is kept
        pool = Stage("pool", "norm and the cls token", layer_norm_saved(B, T, D, pr))
        head = (B * D * pr.matmul if pr.weight_copies else B * T * D * pr.residual) + \
            (D * K * pr.matmul if pr.weight_copies else 0)  # autocast: a (B, D) low-precision copy instead
    return [
        Stage("patch_embed", "patch embedding (the images)", images + patch_copy),
        Stage("blocks", f"{cfg.depth} blocks ({T} tokens each" + (f", drop path in {dropped}" if dropped else "")
              + ")", cfg.depth * block + dropped * 2 * B * pr.matmul, cfg.depth),
        pool,
        Stage("head", "head (Linear)", head),
        loss,
    ]


# --- inference: the largest set of tensors alive at once ---------------------------------------------

def autocast_cache(cfg: MAEConfig, step: ClassifierStep, pr: Precision) -> int:
    """Autocast keeps a low-precision copy of every weight and bias a product used, until it exits."""
    if not pr.weight_copies:
        return 0
    D, hidden, K = cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio), step.num_classes
    block = 4 * D * D + 2 * D * hidden + 3 * D + D + hidden + D  # qkv, proj, fc1, fc2: weights, then biases
    return (D * cfg.patch_dim + D + cfg.depth * block + D * K + K) * pr.matmul


def inference_stages(cfg: MAEConfig, batch: int, step: ClassifierStep | None = None,
                     pr: Precision | None = None) -> list[Stage]:
    """The peak bytes alive during each stage of a forward pass without autograd (``model.eval()``), tensors
    kept from earlier stages included (the input images and the weights excluded: they exist before it).

    Exact in float32 and native low precision; under autocast an upper bound (every weight copy counted
    from the start).
    """
    step, pr = step or ClassifierStep(), pr or precision()
    B, L, D, K = batch, cfg.num_patches, cfg.embed_dim, step.num_classes
    T = 1 + L
    seq = B * T * D * pr.residual  # (B, 1 + L, D): the blocks' input and output
    tokens = B * L * D * pr.residual  # the patch tokens with their positions
    conv = B * L * D * pr.matmul  # the patch convolution's output
    images_cast = B * cfg.in_chans * cfg.image_hw[0] * cfg.image_hw[1] * pr.matmul if pr.weight_copies else 0
    cls = D * pr.residual  # cls_token + its position, (1, 1, D), before it is expanded over the batch
    pooled = B * D * pr.residual
    cast = B * D * pr.matmul if pr.weight_copies else 0  # autocast: the head's low-precision copy of its input
    logits = B * K * pr.matmul
    if step.global_pool:  # the mean of the patch tokens (B, D), then fc_norm's output and statistics
        pool = seq + pooled + pooled + 2 * B * pr.stats
        head = pooled + cast + logits
    else:  # norm over every token, then token 0 (a view: the whole normed sequence stays alive)
        pool = seq + seq + 2 * B * T * pr.stats
        head = seq + (pooled if step.linear_probe else 0) + cast + logits  # linear probe: BatchNorm's output
    stages = [
        Stage("patch_embed", "patch embedding, positions and cls",
              max(images_cast + conv + tokens, tokens + cls + seq)),
        Stage("blocks", f"block ({T} tokens)", block_peak(B, T, D, cfg.num_heads, int(D * cfg.mlp_ratio), pr)),
        Stage("pool", "global pool and fc_norm" if step.global_pool else "norm and the cls token", pool),
        Stage("head", "head", head),
    ]
    cache = autocast_cache(cfg, step, pr)
    return stages + ([Stage("autocast_cache", "autocast's low-precision weight copies", cache)] if cache else [])


def inference_peak(cfg: MAEConfig, batch: int, step: ClassifierStep | None = None, pr: Precision | None = None) -> int:
    """Bytes a forward pass without autograd adds at its peak: the largest stage, plus autocast's weight copies."""
    stages = inference_stages(cfg, batch, step, pr)
    return (max(s.bytes for s in stages if s.key != "autocast_cache")
            + sum(s.bytes for s in stages if s.key == "autocast_cache"))


# --- weights, gradients, optimizer state, and the total ----------------------------------------------

@functools.lru_cache(maxsize=32)
def parameter_counts(cfg: MAEConfig, step: ClassifierStep) -> tuple[int, int, int, int, int]:
    """(parameter values, trainable values, trainable tensors, floating-point buffer values, bytes of the
    other buffers) of the classifier ``step`` trains, counted on a ``meta``-device model. A linear probe
    trains its head only; its BatchNorm's running statistics are buffers (a mean and a variance per
    feature, cast with the weights, and an int64 counter)."""
    from ..classifier import VisionTransformer

    model = VisionTransformer(cfg, num_classes=step.num_classes, global_pool=step.global_pool,
                              linear_probe=step.linear_probe, device="meta")
    trainable = [p for name, p in model.named_parameters() if not step.linear_probe or name.startswith("head.")]
    floating = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    other = sum(b.numel() * b.element_size() for b in model.buffers() if not b.is_floating_point())
    return (sum(p.numel() for p in model.parameters()), sum(p.numel() for p in trainable), len(trainable), floating,
            other)


def estimate(cfg: MAEConfig, batch: int, step: ClassifierStep | None = None, *, mode: str = "inference",
             dtype: torch.dtype = torch.float32, amp: bool = False, optimizer: str | None = None) -> MemoryEstimate:
    """The memory one classifier forward pass (``inference``) or one fine-tuning / linear-probing step
    (``train``) needs, as :func:`mae_core.views.memory.estimate` for the MAE.

    ``optimizer``: the stage's own by default (AdamW for fine-tuning, LARS for linear probing), or none,
    sgd, adamw, lars. The training total is weights + gradients + optimizer state + images + everything
    saved for backward + the largest stage's working set (the transient, an estimate of the backward's).
    """
    step = step or ClassifierStep()
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use inference or train")
    optimizer = optimizer or step.default_optimizer
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    pr = precision(dtype, amp)
    total_params, trainable, tensors, buffer_values, buffer_bytes = parameter_counts(cfg, step)
    weights = (total_params + buffer_values) * pr.weights + buffer_bytes  # the BatchNorm statistics included
    images = batch * cfg.in_chans * cfg.image_hw[0] * cfg.image_hw[1] * pr.images
    inference = inference_stages(cfg, batch, step, pr)
    if mode == "inference":
        peak = inference_peak(cfg, batch, step, pr)
        return MemoryEstimate(mode, batch, 0.0, pr, "none", weights, 0, 0, images, [], inference, peak,
                              weights + images + peak)
    saved = saved_stages(cfg, batch, step, pr)
    transient = max(s.bytes for s in inference if s.key != "autocast_cache")
    gradients = trainable * pr.weights
    opt = optimizer_bytes(optimizer, trainable, tensors, pr)
    total = weights + gradients + opt + images + sum(s.bytes for s in saved) + transient
    return MemoryEstimate(mode, batch, 0.0, pr, optimizer, weights, gradients, opt, images, saved, inference,
                          transient, total)
