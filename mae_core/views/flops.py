"""Compute of one MAE forward pass, stage by stage: counted by PyTorch and derived in closed form.

Paper: MAE Sec. 3 "MAE encoder" (the encoder sees only the visible ~25 % of the patches, "which allows
us to train very large encoders with only a fraction of compute") and Table 1c (an encoder with mask
tokens costs 3.3x the FLOPs).

Two independent counts, which must agree exactly:
    * counted: ``torch.utils.flop_counter.FlopCounterMode`` around the real forward pass of a model
      built on the ``meta`` device (shapes only: no memory, no arithmetic, instant);
    * closed form: the matrix products a ViT does, written out from the config (:func:`block_macs`).

Conventions: 1 MAC (multiply-accumulate) = 2 FLOPs. Only matrix products and the patch convolution are
counted, as every FLOP counter does; LayerNorm, GELU, softmax and additions are O(T * D), under 1 %.
The attention's two matrix products (q k^T and the weighted sum of v) are included: several popular
counters miss them when attention runs through ``scaled_dot_product_attention``.

Shapes: a config and a mask ratio in; FLOPs per image (batch 1) out, for T = 1 + L_keep (visible
tokens and cls), T = 1 + L (every token) and the decoder's 1 + L tokens.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

from .baseline import MaskTokensInEncoder
from ..config import MAEConfig
from ..errors import WorkLimitError
from ..mae import MaskedAutoencoderViT


# --- closed form -------------------------------------------------------------------------------------

def block_macs(tokens: int, width: int, mlp_ratio: float = 4.0) -> dict[str, int]:
    """MACs of one Transformer block on ``tokens`` tokens of width ``width``, by matrix product.

    Args:
        tokens: T.
        width: D.
        mlp_ratio: MLP hidden width over D.

    Returns:
        {"qkv": T*D*3D, "attention q k^T": T*T*D, "attention weights v": T*T*D, "proj": T*D*D,
        "mlp": 2*T*D*hidden}; the sum is 12 T D^2 + 2 T^2 D for ``mlp_ratio`` 4.
    """
    T, D = tokens, width
    hidden = int(D * mlp_ratio)
    return {
        "qkv": T * D * 3 * D,
        "attention q k^T": T * T * D,  # every head: (T, hd) @ (hd, T); heads together: T * T * D
        "attention weights v": T * T * D,  # every head: (T, T) @ (T, hd)
        "proj": T * D * D,
        "mlp": T * D * hidden + T * hidden * D,  # fc1 and fc2
    }


def closed_form_macs(config: MAEConfig, mask_ratio: float) -> dict[str, int]:
    """MACs per image of each stage, from the config alone.

    Args:
        config: the model's :class:`MAEConfig`.
        mask_ratio: fraction of patches removed.

    Returns:
        MACs of ``patch_embed``, ``encoder_visible``, ``encoder_all_tokens``, ``decoder``, ``total``,
        ``train`` (forward + backward), ``baseline_total`` and ``baseline_train`` (mask tokens in the encoder).
    """
    L, D, D_dec, P = config.num_patches, config.embed_dim, config.decoder_embed_dim, config.patch_dim
    T_vis, T_all = 1 + config.num_visible(mask_ratio), 1 + L  # the cls token travels with the patches

    def encoder(T: int) -> int:
        return patch_embed + config.depth * sum(block_macs(T, D, config.mlp_ratio).values())

    def decoder(T_in: int) -> int:
        embed = T_in * D * D_dec  # the encoder's T_in tokens projected to the decoder width
        blocks = config.decoder_depth * sum(block_macs(T_all, D_dec, config.mlp_ratio).values())
        pred = T_all * D_dec * P  # the predictor also runs on the cls token, which is then dropped
        return embed + blocks + pred

    patch_embed = L * P * D  # one (p*p*C -> D) linear map per patch
    total = encoder(T_vis) + decoder(T_vis)
    # Backward: every product costs twice its forward (gradient of both operands), except the patch
    # embedding, whose input (the image) needs no gradient.
    train = 3 * total - patch_embed
    return {
        "patch_embed": patch_embed,
        "encoder_visible": encoder(T_vis),
        "encoder_all_tokens": encoder(T_all),
        "decoder": decoder(T_vis),
        "total": total,
        "train": train,
        "baseline_total": encoder(T_all) + decoder(T_all),
        "baseline_train": 3 * (encoder(T_all) + decoder(T_all)) - patch_embed,
    }


# --- counted -----------------------------------------------------------------------------------------

def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything ``fn()`` runs, by ``torch.utils.flop_counter`` (2 per MAC)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def counted_flops(model: MaskedAutoencoderViT, mask_ratio: float) -> dict[str, int]:
    """The same stages as :func:`closed_form_macs`, in FLOPs, counted on the model's own forward pass.

    Build the model on ``meta`` (``create_model(name, device="meta")``): nothing is computed.
    "The encoder on every token" is the encoder run at mask ratio 0.
    """
    cfg = model.config
    device = next(model.parameters()).device
    imgs = torch.zeros(1, cfg.in_chans, *cfg.image_hw, device=device)
    noise = torch.zeros(1, cfg.num_patches, device=device)
    baseline = MaskTokensInEncoder(model)

    def train_step() -> None:
        model(imgs, mask_ratio, noise).loss.backward()

    with torch.no_grad():
        latent, _, ids_restore = model.forward_encoder(imgs, mask_ratio, noise)
        counts = {
            "patch_embed": count_flops(lambda: model.encoder.patch_embed(imgs)),
            "encoder_visible": count_flops(lambda: model.forward_encoder(imgs, mask_ratio, noise)),
            "encoder_all_tokens": count_flops(lambda: model.forward_encoder(imgs, 0.0, noise)),
            "decoder": count_flops(lambda: model.forward_decoder(latent, ids_restore)),
            "total": count_flops(lambda: model(imgs, mask_ratio, noise)),
            "baseline_total": count_flops(lambda: baseline(imgs, mask_ratio, noise)),
        }
    counts["train"] = count_flops(train_step)
    model.zero_grad(set_to_none=True)
    return counts


# --- the report --------------------------------------------------------------------------------------

STAGES: dict[str, str] = {  # key -> what a person reads
    "patch_embed": "patch embedding (all L patches)",
    "encoder_visible": "encoder on the visible tokens",
    "encoder_all_tokens": "same encoder on every token",
    "decoder": "decoder (all tokens)",
    "total": "total forward (MAE)",
    "train": "forward + backward (MAE)",
    "baseline_total": "total forward, mask tokens in encoder",
}


@dataclass(frozen=True)
class StageFlops:
    stage: str  # key of STAGES
    description: str
    tokens: int  # tokens per image the stage's Transformer blocks see (0: not a Transformer stage)
    flops_counted: int  # per image, by torch.utils.flop_counter
    flops_closed_form: int  # per image, 2 x closed-form MACs

    @property
    def macs(self) -> int:
        return self.flops_closed_form // 2

    @property
    def agree(self) -> bool:
        return self.flops_counted == self.flops_closed_form


@dataclass(frozen=True)
class FlopReport:
    variant: str
    mask_ratio: float
    num_patches: int  # L
    num_visible: int  # L_keep
    stages: list[StageFlops]
    block_breakdown: dict[str, int] = field(default_factory=dict)  # MACs of one encoder block, visible tokens

    def stage(self, key: str) -> StageFlops:
        return next(s for s in self.stages if s.stage == key)

    @property
    def agree(self) -> bool:
        return all(s.agree for s in self.stages)

    @property
    def encoder_saving(self) -> float:
        """Encoder work on every token over encoder work on the visible ones (about 1 / (1 - ratio))."""
        return self.stage("encoder_all_tokens").flops_counted / self.stage("encoder_visible").flops_counted

    @property
    def total_saving(self) -> float:
        """Whole forward with mask tokens in the encoder over the MAE's (the paper's Table 1c: 3.3x for ViT-L)."""
        return self.stage("baseline_total").flops_counted / self.stage("total").flops_counted

    @property
    def train_over_forward(self) -> float:
        return self.stage("train").flops_counted / self.stage("total").flops_counted

    def to_dict(self) -> dict:
        return {
            "variant": self.variant,
            "mask_ratio": self.mask_ratio,
            "num_patches": self.num_patches,
            "num_visible": self.num_visible,
            "units": "FLOPs per image (1 MAC = 2 FLOPs); macs = multiply-accumulates",
            "stages": [
                {"stage": s.stage, "description": s.description, "tokens": s.tokens, "macs": s.macs,
                 "flops_counted": s.flops_counted, "flops_closed_form": s.flops_closed_form,
                 "gflops": s.flops_counted / 1e9, "agree": s.agree}
                for s in self.stages
            ],
            "encoder_block_macs": self.block_breakdown,
            "encoder_saving": self.encoder_saving,
            "total_saving_vs_mask_tokens_in_encoder": self.total_saving,
            "train_over_forward": self.train_over_forward,
            "agree": self.agree,
        }


def flop_report(model: MaskedAutoencoderViT, mask_ratio: float = 0.75, variant: str = "") -> FlopReport:
    """Count and derive the FLOPs of every stage of ``model`` (best built on ``meta``).

    Args:
        model: the MAE (its config gives the closed form; its forward pass is counted).
        mask_ratio: fraction of patches removed.
        variant: a name for the report.
    """
    cfg = model.config
    counted = counted_flops(model, mask_ratio)
    closed = closed_form_macs(cfg, mask_ratio)
    T_vis, T_all = 1 + cfg.num_visible(mask_ratio), 1 + cfg.num_patches
    tokens = {"patch_embed": 0, "encoder_visible": T_vis, "encoder_all_tokens": T_all, "decoder": T_all,
              "total": T_vis, "train": T_vis, "baseline_total": T_all}
    stages = [StageFlops(key, desc, tokens[key], counted[key], 2 * closed[key]) for key, desc in STAGES.items()]
    return FlopReport(
        variant=variant or type(model).__name__,
        mask_ratio=mask_ratio,
        num_patches=cfg.num_patches,
        num_visible=cfg.num_visible(mask_ratio),
        stages=stages,
        block_breakdown=block_macs(T_vis, cfg.embed_dim, cfg.mlp_ratio),
    )


def variant_flops(variant: str, mask_ratio: float = 0.75, img_size: str | int | tuple[int, int] | None = None,
                  in_chans: int = 3, stage: Callable[[str], AbstractContextManager] | None = None
                  ) -> tuple[FlopReport, dict]:
    """:func:`flop_report` of a registered variant at another image size or channel count (checked by the
    pipeline's rules, :mod:`mae_core.views.prepare`), built on ``meta``: the report, and its plain data with
    the title and the size added. ``stage``: a progress display around the count."""
    from ..models import create_model, get_variant
    from .sizes import check_mask_ratio, size_overrides, size_text

    spec = get_variant(variant)
    overrides = size_overrides(spec.name, img_size, in_chans)
    cfg = spec.config.replace(**overrides)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    with (stage or (lambda _: nullcontext()))(f"counting the FLOPs of {spec.title} on the meta device"):
        report = flop_report(create_model(spec.name, device="meta", **overrides), mask_ratio, spec.name)
    data = report.to_dict()
    data["title"] = spec.title
    data["img_size"], data["grid"], data["in_chans"] = cfg.to_dict()["img_size"], list(cfg.grid_size), cfg.in_chans
    data["size"] = size_text(cfg)
    return report, data


# --- bounded work: refuse a job that would run for hours (issue 23) --------------------------------------

MAX_MINUTES = 10.0  # a job estimated longer than this is refused unless the user allows it
ALLOW_ENV = "MAE_ALLOW_LONG"  # "1": allow long jobs (what `mae --allow-long` sets)
THROUGHPUT_ENV = "MAE_GFLOPS"  # a stated throughput in GFLOP/s, instead of measuring one
_MEASURE_ABOVE = 1e11  # FLOPs: smaller jobs take seconds anywhere and are never measured


@functools.lru_cache(maxsize=4)
def measured_throughput(device: str = "cpu") -> tuple[float, str]:
    """FLOP/s of this machine on ``device``, and how it was found: ``MAE_GFLOPS`` if set, else the best
    of eight float32 768 x 768 matrix products timed now (a few milliseconds; an upper bound of what a
    whole forward pass reaches, so the time estimated from it is a lower bound)."""
    stated = os.environ.get(THROUGHPUT_ENV)
    if stated:
        try:
            value = float(stated)
        except ValueError:
            value = float("nan")
        if value > 0 and value < 1e9:
            return value * 1e9, f"{THROUGHPUT_ENV}={stated}"
    dev = torch.device(device)
    a = torch.randn(768, 768, device=dev)
    best = float("inf")
    for _ in range(8):  # the best of eight: another process on a shared machine only slows some of them
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        (a @ a).sum().item()
        best = min(best, time.perf_counter() - start)
    return 2 * 768**3 / max(best, 1e-9), "the best of eight 768x768 float32 matmuls timed just now"


def check_work(flops: float, what: str, *, device: torch.device | str = "cpu", allow: bool | None = None,
               max_minutes: float = MAX_MINUTES) -> float | None:
    """Refuse (:class:`~mae_core.errors.WorkLimitError`) a job of ``flops`` estimated to take longer than
    ``max_minutes`` on this machine, unless ``allow`` (default: the ``MAE_ALLOW_LONG=1`` environment
    variable, which ``mae --allow-long`` sets). Returns the estimated minutes (None when not measured)."""
    if flops < _MEASURE_ABOVE:
        return None
    if allow is None:
        allow = os.environ.get(ALLOW_ENV) == "1"
    rate, how = measured_throughput(str(torch.device(device)))
    minutes = flops / rate / 60
    if minutes > max_minutes and not allow:
        raise WorkLimitError(
            f"{what} needs about {flops / 1e12:,.1f} TFLOP: about {minutes:,.0f} minutes on this machine at "
            f"{rate / 1e9:,.0f} GFLOP/s ({how}), more than the {max_minutes:g}-minute limit; use a smaller image "
            f"size or batch, or allow it explicitly (mae --allow-long, or {ALLOW_ENV}=1)")
    return minutes


def classifier_flops(name: str, **overrides: object) -> dict:
    """FLOPs per image of a fine-tuned classifier's forward (MAE Sec. 4: the encoder on *every* patch, then the
    head), counted by ``FlopCounterMode`` on a meta-device model and in closed form; ``agree`` when equal.

    Stages: ``patch_embed``, ``encoder`` (patch embedding and the blocks on 1 + L tokens), ``head``
    (Linear D -> classes; the pooling's mean and LayerNorm are not products), ``total`` and ``train``
    (forward + backward: 3 x total - patch embedding, whose input needs no gradient).
    """
    from ..models import create_model, get_classifier

    info = get_classifier(name)
    model = create_model(info.name, num_classes=1000, global_pool=True, device="meta", **overrides)
    cfg = model.config
    L, D, P, T = cfg.num_patches, cfg.embed_dim, cfg.patch_dim, 1 + cfg.num_patches
    patch = L * P * D
    encoder = patch + cfg.depth * sum(block_macs(T, D, cfg.mlp_ratio).values())
    head = D * model.num_classes
    closed = {"patch_embed": patch, "encoder": encoder, "head": head, "total": encoder + head,
              "train": 3 * (encoder + head) - patch}
    imgs = torch.zeros(1, cfg.in_chans, *cfg.image_hw, device="meta")
    pooled = torch.zeros(1, D, device="meta")

    def train_step() -> None:
        model(imgs).sum().backward()

    with torch.no_grad():
        counted = {"patch_embed": count_flops(lambda: model.patch_embed(imgs)),
                   "encoder": count_flops(lambda: model.forward_tokens(imgs)),
                   "head": count_flops(lambda: model.head(pooled)), "total": count_flops(lambda: model(imgs))}
    counted["train"] = count_flops(train_step)
    tokens = {"patch_embed": L, "encoder": T, "head": 1, "total": T, "train": T}
    stages = [{"stage": k, "tokens": tokens[k], "macs": closed[k], "flops_counted": counted[k],
               "flops_closed_form": 2 * closed[k], "gflops": counted[k] / 1e9, "agree": counted[k] == 2 * closed[k]}
              for k in closed]
    return {"variant": info.name, "title": f"{info.title} classifier", "num_patches": L, "num_classes": 1000,
            "stages": stages, "agree": all(s["agree"] for s in stages), "units": "FLOPs per image, 1 MAC = 2 FLOPs",
            "classifier": True}
