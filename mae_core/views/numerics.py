"""Numerics stage by stage: how large each activation gets, where float16 overflows, how far bfloat16 drifts.

Paper: MAE Sec. 4 / Appendix A.1 trains under mixed precision; ViT-H can reach inf / NaN in float16
(facebookresearch/mae #167). Each stage is one of the recorder's (:mod:`mae_core.views.recorder`):
patch tokens, each encoder block, the latent, the decoder's blocks, its norm and the predictor.

Two forward passes on the same weights, images and masking noise: float32, then the low precision under
``torch.autocast`` (weights stay float32, the matrix products run in float16 / bfloat16, as MAE is
trained). Per stage: the largest |value| of each run (and its share of float16's largest finite value,
65504), whether it is finite, and the error of the low-precision run against float32
(max |a - b| and ||a - b|| / ||b||). With ``grad``, the same for every parameter's gradient of the loss.

Shapes: imgs (B, C, H, W), noise (B, L) in; one row per stage (and per parameter) out.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .recorder import record

FLOAT16_MAX = float(torch.finfo(torch.float16).max)  # 65504


@dataclass
class StageNumerics:
    name: str
    shape: list[int]
    max_abs_float32: float
    max_abs: float  # of the low-precision run (inf when it overflowed; NaN values are skipped)
    float16_share: float  # max_abs / 65504 (low-precision run)
    finite: bool  # the low-precision run has no inf / NaN here
    max_abs_error: float | None  # max |low - float32| (None where either is not finite)
    rel_error: float | None  # ||low - float32|| / ||float32||


@dataclass
class NumericsReport:
    dtype: str
    precision: str
    stages: list[StageNumerics]
    first_nonfinite: str | None  # the first stage (forward order) with inf / NaN in the low-precision run
    float32_finite: bool
    loss_float32: float
    loss: float
    gradients: list[StageNumerics] = field(default_factory=list)  # one row per parameter (with grad)
    first_nonfinite_gradient: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_nonfinite is None and self.first_nonfinite_gradient is None and self.float32_finite

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def kept_bytes(cfg, grad: bool) -> int:
    """Bytes per image the comparison keeps (upper bound, mask ratio 0): every block's output of the
    float32 run and of the low-precision run (held in float32), with their gradients when ``grad``."""
    tokens = 1 + cfg.num_patches
    per_run = tokens * (cfg.depth * cfg.embed_dim + cfg.decoder_depth * cfg.decoder_embed_dim)
    return 4 * 2 * per_run * (2 if grad else 1)


def compare(name: str, low: Tensor, ref: Tensor) -> StageNumerics:
    """One row: sizes and error of ``low`` (any float dtype) against the float32 ``ref``."""
    a, b = low.detach().float(), ref.detach().float()
    finite = bool(torch.isfinite(a).all())
    magnitude = a.abs()
    max_abs = magnitude.nan_to_num(nan=0.0).max().item() if a.numel() else 0.0
    error = rel = None
    if finite and bool(torch.isfinite(b).all()):
        diff = a - b
        error = diff.abs().max().item() if a.numel() else 0.0
        norm = b.norm().item()
        rel = diff.norm().item() / norm if norm > 0 else 0.0
    return StageNumerics(name, list(a.shape), b.abs().nan_to_num(nan=0.0).max().item() if b.numel() else 0.0,
                         max_abs, max_abs / FLOAT16_MAX, finite, error, rel)


def _run(model: nn.Module, imgs: Tensor, mask_ratio: float, noise: Tensor, autocast, grad: bool,
         labels: Tensor | None = None):
    """One recorded forward (and backward): stages, loss, gradients. A classifier (``labels`` given) scores
    its logits with cross-entropy against ``labels``."""
    model.zero_grad(set_to_none=True)
    with contextlib.ExitStack() as stack:
        if not grad:
            stack.enter_context(torch.no_grad())
        rec = stack.enter_context(record(model))
        with autocast():
            if labels is not None:
                logits = model(imgs)
                rec.stages["logits"] = logits.detach()
                loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            else:
                loss = model(imgs, mask_ratio, noise).loss
        if grad:
            loss.float().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None} if grad else {}
    model.zero_grad(set_to_none=True)
    return rec.stages, loss.detach().float().item(), grads


def numerics(model: nn.Module, imgs: Tensor, noise: Tensor, *, dtype: torch.dtype = torch.float16,
             mask_ratio: float = 0.75, grad: bool = False) -> NumericsReport:
    """Compare a low-precision forward (and backward) with float32, stage by stage.

    Args:
        model: a float32 :class:`~mae_core.mae.MaskedAutoencoderViT`.
        imgs: (B, C, H, W).
        noise: (B, L) masking noise, used by both runs so they mask the same patches.
        dtype: ``torch.float16`` or ``torch.bfloat16`` (autocast).
        mask_ratio: fraction of patches removed.
        grad: also compare every parameter's gradient of the loss.
    """
    from ..classifier import VisionTransformer

    device = imgs.device
    name = str(dtype).removeprefix("torch.")
    labels = None
    if isinstance(model, VisionTransformer):  # a classifier: the loss is cross-entropy against its float32 top-1
        with torch.no_grad():
            labels = model(imgs).argmax(dim=-1)
    ref_stages, ref_loss, ref_grads = _run(model, imgs, mask_ratio, noise, contextlib.nullcontext, grad, labels)
    low_stages, low_loss, low_grads = _run(
        model, imgs, mask_ratio, noise, lambda: torch.autocast(device_type=device.type, dtype=dtype), grad, labels)
    stages = [compare(n, low_stages[n], ref_stages[n]) for n in ref_stages]
    gradients = [compare(n, low_grads[n], ref_grads[n]) for n in ref_grads if n in low_grads]
    return NumericsReport(
        dtype=name, precision=f"autocast {name} (weights float32)", stages=stages,
        first_nonfinite=next((s.name for s in stages if not s.finite), None),
        float32_finite=all(torch.isfinite(t).all() for t in ref_stages.values()),
        loss_float32=ref_loss, loss=low_loss, gradients=gradients,
        first_nonfinite_gradient=next((g.name for g in gradients if not g.finite), None),
    )


def numerics_report(variant: str | None, weights: str | Path | None, images: list[str | Path] | None,
                    batch: int | None, seed: int, *, dtype: str = "float16", mask_ratio: float = 0.75,
                    grad: bool = False, device: torch.device | str = "cpu",
                    img_size: Any = None, in_chans: int = 3, resize: str = "stretch") -> dict[str, Any]:
    """Everything `mae numerics` shows (plain data); ``dtype`` is "float16" or "bfloat16".

    ``img_size``, ``in_chans`` and ``resize``: as :func:`mae_core.views.prepare.prepare` (another image size
    or channel count).
    """
    from ..errors import SettingError
    from ..models import get_variant
    from .prepare import prepare, variant_name
    from .sizes import check_mask_ratio
    from .reconstruct import masking_noise

    dtypes = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype.lower() not in dtypes:
        raise SettingError("dtype", f"{dtype!r}: compare float32 with float16 or bfloat16")
    name = variant_name(variant, weights)
    if name is not None:
        check_mask_ratio(mask_ratio, get_variant(name).config.num_patches)
    prep = prepare(variant, weights, images, batch, seed, device=device,
                   img_size=img_size, in_chans=in_chans, resize=resize, mask_ratio=mask_ratio, classifiers=True,
                   kept_per_image=lambda c: kept_bytes(c, grad))
    if getattr(prep.model, "head", None) is not None:  # a fine-tuned classifier sees every patch
        mask_ratio = 0.0
    check_mask_ratio(mask_ratio, prep.model.config.num_patches)
    noise = (prep.plan.noise if prep.plan is not None  # masking_noise(B, L, seed); a classifier has no plan
             else masking_noise(prep.imgs.shape[0], prep.model.config.num_patches, seed)).to(prep.imgs.device)
    result = numerics(prep.model, prep.imgs, noise, dtype=dtypes[dtype.lower()], mask_ratio=mask_ratio, grad=grad)
    return {"variant": prep.variant, "title": prep.title, "weights": prep.weights, "notes": prep.notes,
            "inputs": prep.inputs, "batch": int(prep.imgs.shape[0]), "img_size": list(prep.model.config.image_hw),
            "in_chans": prep.model.config.in_chans, "mask_ratio": mask_ratio, "seed": seed, "grad": grad,
            "float16_max": FLOAT16_MAX, **result.to_dict()}
