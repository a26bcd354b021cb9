"""The tensor shape after each stage of the MAE forward pass, traced through the real modules.

Paper: MAE Sec. 3 (Fig. 1): image -> patches -> patch tokens (ViT Eq. 1) -> + positions -> random
masking keeps the visible subset -> + cls token -> encoder blocks -> latent -> decoder embed -> + mask
tokens, unshuffled -> + positions -> decoder blocks -> per-patch pixel prediction -> loss on the
removed patches.

Nothing here is a hand-written list of shapes: the model runs a real forward pass (on the ``meta``
device for the full-size variants: shapes without memory or arithmetic) and each stage's shape is
read from a tensor the model actually produced, caught by

    * the recorder (:mod:`mae_core.views.recorder`): every stage module and record point
      (``encoder.visible`` is what ``random_masking`` returned, ``encoder.tokens`` the sequence with cls);
    * forward hooks on the model for its input and its outputs (pred, mask, loss);
    * ``model.patchify`` on the same image (the loss target);
    * a ``TorchFunctionMode`` that sees the additions of the fixed sin-cos position tables.

No function or method of the model is replaced while tracing.

Shapes (letters as in ``mae_core/config.py``):
    image (B, C, H, W) -> patches (B, L, p*p*C); tokens (B, L, D) -> visible (B, L_keep, D)
    -> latent (B, 1+L_keep, D) -> decoder (B, 1+L, D_dec) -> pred (B, L, p*p*C); mask (B, L); loss ()
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from . import recorder
from .recorder import Recording


@dataclass
class Stage:
    """One row of the trace."""

    stage: str  # what the tensor is, in the paper's words
    shape: tuple[int, ...]
    traced_at: str  # the module or function whose input or output it is
    part: str  # "input", "encoder", "decoder" or "loss"
    group: str = ""  # rows of one repeated module share a group ("encoder.blocks"), else ""
    repeat: int = 1  # > 1 when identical consecutive rows of a group are collapsed into one


@dataclass
class ShapeTrace:
    """Everything `mae shapes` shows."""

    variant: str | None  # canonical registry name, or None for an unregistered model
    title: str
    device: str
    batch: int
    mask_ratio: float
    img_size: int | list[int]  # H = W, or [H, W]
    patch_size: int
    num_patches: int  # L
    num_visible: int  # L_keep
    stages: list[Stage]
    grid: list[int] = field(default_factory=list)  # [h, w] patches
    in_chans: int = 3  # C

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- tracing -------------------------------------------------------------------------------------

class _SeenShapes:
    """Collects the first tensor seen for each stage key."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[tuple[int, ...], str]] = {}

    def __call__(self, key: str, tensor: Tensor, traced_at: str) -> None:
        self.seen.setdefault(key, (tuple(tensor.shape), traced_at))


def _is_table(t: Any, table: Tensor) -> bool:
    return isinstance(t, Tensor) and (t is table or t._base is table)


class _PositionAdds(TorchFunctionMode):
    """Sees ``tokens + position table`` (the table itself or a slice of it) and records both sides.

    The class token's own ``cls_token + pos_embed[:, :1]`` adds a Parameter, not tokens, and is skipped.
    """

    def __init__(self, tables: dict[str, tuple[Tensor, str]], record: _SeenShapes):
        super().__init__()
        self.tables, self.record = tables, record

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "__name__", "") in ("add", "__add__", "__radd__") and len(args) == 2:
            for part, (table, name) in self.tables.items():
                for tokens, other in (args, args[::-1]):
                    if _is_table(other, table) and isinstance(tokens, Tensor) and not isinstance(tokens, nn.Parameter):
                        self.record(f"{part}:before_positions", tokens, f"x in x + {name}")
                        self.record(f"{part}:positions", out, f"x + {name}")
        return out


# Stage keys of the trace read from the recorder: recorder stage name -> (key, traced_at).
_RECORDED = {
    "encoder.patch_embed": ("patch_tokens", "encoder.patch_embed out"),
    "encoder.visible": ("visible", "random_masking out"),
    "encoder.tokens": ("with_cls", "encoder.blocks.0 in"),
    "encoder.norm": ("latent", "encoder.norm out"),
    "decoder.embed": ("decoder_embed", "decoder.embed out"),
    "decoder.norm": ("decoder_norm", "decoder.norm out"),
    "decoder.pred": ("pred_with_cls", "decoder.pred out"),
}


@contextlib.contextmanager
def _model_hooks(model: nn.Module, record: _SeenShapes) -> Iterator[None]:
    """Forward hooks on the whole model and the decoder: the image in, pred, mask and loss out."""
    handles = [
        model.register_forward_pre_hook(lambda module, args: record("image", args[0], "model input")),
        model.decoder.register_forward_hook(lambda module, args, out: record("pred", out, "decoder out")),
        model.register_forward_hook(lambda module, args, out: record("mask", out[2], "model out .mask")),
        model.register_forward_hook(lambda module, args, out: record("loss", out[0], "model out .loss")),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _from_recording(recording: Recording, record: _SeenShapes) -> None:
    """Copy the recorder's stages into the trace under the trace's keys."""
    for name, tensor in recording.stages.items():
        key, traced_at = _RECORDED.get(name, (name, f"{name} out"))
        record(key, tensor, traced_at)


def _stage_plan(model: nn.Module) -> list[tuple[str, str, str, str]]:
    """(key, stage name, part, group) in the paper's order; shapes come from the trace."""
    enc_blocks = [(f"encoder.blocks.{i}", f"encoder block {i}", "encoder", "encoder.blocks")
                  for i in range(len(model.encoder.blocks))]
    dec_blocks = [(f"decoder.blocks.{i}", f"decoder block {i}", "decoder", "decoder.blocks")
                  for i in range(len(model.decoder.blocks))]
    return [
        ("image", "image", "input", ""),
        ("patches", "patches (loss target)", "input", ""),
        ("patch_tokens", "patch tokens", "encoder", ""),
        ("encoder:positions", "+ positions", "encoder", ""),
        ("visible", "visible tokens", "encoder", ""),
        ("with_cls", "+ cls token", "encoder", ""),
        *enc_blocks,
        ("latent", "latent", "encoder", ""),
        ("decoder_embed", "decoder embed", "decoder", ""),
        ("decoder:before_positions", "+ mask tokens, unshuffled", "decoder", ""),
        ("decoder:positions", "+ positions", "decoder", ""),
        *dec_blocks,
        ("decoder_norm", "decoder norm", "decoder", ""),
        ("pred_with_cls", "pred with cls row", "decoder", ""),
        ("pred", "pred", "decoder", ""),
        ("mask", "mask", "loss", ""),
        ("loss", "loss", "loss", ""),
    ]


def trace_stages(model: nn.Module, batch: int, mask_ratio: float) -> list[Stage]:
    """Run one forward pass of ``model`` on a (B, C, H, W) input on the model's device and return
    the shape of every stage, in the paper's order.

    Args:
        model: a :class:`~mae_core.mae.MaskedAutoencoderViT` (on ``meta`` for shapes without memory).
        batch: B.
        mask_ratio: fraction of patches removed, in [0, 1).

    Raises:
        RuntimeError: a stage was not seen (the model's forward no longer passes through it).
    """
    cfg = model.config
    device = next(model.parameters()).device
    imgs = torch.zeros(batch, cfg.in_chans, *cfg.image_hw, device=device)
    record = _SeenShapes()
    tables = {"encoder": (model.encoder.pos_embed, "encoder.pos_embed"),
              "decoder": (model.decoder.pos_embed, "decoder.pos_embed")}
    with torch.no_grad(), recorder.record(model) as recording, _model_hooks(model, record), \
            _PositionAdds(tables, record):
        model(imgs, mask_ratio)
        record("patches", model.patchify(imgs), "model.patchify out")
    _from_recording(recording, record)

    stages = []
    for key, name, part, group in _stage_plan(model):
        if key not in record.seen:
            raise RuntimeError(f"shape trace: stage {name!r} ({key}) was not seen during the forward pass")
        shape, traced_at = record.seen[key]
        stages.append(Stage(name, shape, traced_at, part, group))
    return stages


def collapse_repeats(stages: list[Stage]) -> list[Stage]:
    """Merge each run of consecutive rows of one group with one shape into a single row (``repeat`` > 1).

    ``encoder block 0`` ... ``encoder block 31``, all (B, 65, 1280), become ``encoder blocks 0-31``.
    """
    merged: list[Stage] = []
    for (group, _), run in itertools.groupby(stages, key=lambda s: (s.group, s.shape) if s.group else (id(s), None)):
        run = list(run)
        if len(run) == 1:
            merged.append(run[0])
            continue
        first, last = run[0].stage.rsplit(" ", 1)[1], run[-1].stage.rsplit(" ", 1)[1]
        plural = run[0].stage.rsplit(" ", 1)[0] + "s"
        merged.append(replace(run[0], stage=f"{plural} {first}-{last}", repeat=len(run),
                              traced_at=f"{group}.{first}-{last} out"))
    return merged


def shape_trace(variant: str, batch: int = 2, mask_ratio: float = 0.75, *, all_blocks: bool = False,
                **overrides: Any) -> ShapeTrace:
    """Trace a registered variant on the ``meta`` device (no weights, no arithmetic).

    Args:
        variant: any registry name.
        batch: B.
        mask_ratio: fraction of patches removed, in [0, 1).
        all_blocks: one row per block instead of one row per run of identical blocks.
        **overrides: config fields changed on the variant (``img_size=(224, 320)``, ``in_chans=1``).
    """
    from ..models import create_model, get_variant

    info = get_variant(variant)
    model = create_model(info.name, device="meta", **overrides)
    cfg = model.config
    stages = trace_stages(model, batch, mask_ratio)
    return ShapeTrace(
        variant=info.name, title=info.title, device="meta", batch=batch, mask_ratio=mask_ratio,
        img_size=list(cfg.img_size) if isinstance(cfg.img_size, tuple) else cfg.img_size,
        patch_size=cfg.patch_size, num_patches=cfg.num_patches,
        num_visible=cfg.num_visible(mask_ratio),
        stages=stages if all_blocks else collapse_repeats(stages),
        grid=list(cfg.grid_size), in_chans=cfg.in_chans,
    )


def classifier_shape_trace(name: str, batch: int = 2, *, all_blocks: bool = False, **overrides: Any) -> ShapeTrace:
    """The shapes of a fine-tuned classifier's forward (MAE Sec. 4; ``models_vit.py``), traced on ``meta``:
    image -> patch tokens -> [cls; tokens] + positions -> blocks -> pooled features -> logits. Every
    patch is seen (no masking); a global-pool head with 1000 classes, as the official fine-tuning default.

    Args:
        name: a classifier name (``vit_base_patch16``).
        batch: B.
        all_blocks: one row per block.
        **overrides: config fields (``img_size=384``).
    """
    from ..models import create_model, get_classifier

    info = get_classifier(name)
    model = create_model(info.name, num_classes=1000, global_pool=True, device="meta", **overrides).eval()
    cfg = model.config
    imgs = torch.zeros(batch, cfg.in_chans, *cfg.image_hw, device="meta")
    seen: dict[str, tuple[int, ...]] = {}
    handles = [model.head.register_forward_pre_hook(lambda m, args: seen.__setitem__("pooled", tuple(args[0].shape))),
               model.head.register_forward_hook(lambda m, args, out: seen.__setitem__("logits", tuple(out.shape)))]
    try:
        with torch.no_grad(), recorder.record(model) as recording:
            model(imgs)
    finally:
        for handle in handles:
            handle.remove()
    stages = [Stage("image", tuple(imgs.shape), "model input", "input"),
              Stage("patch tokens", tuple(recording.stages["encoder.patch_embed"].shape), "patch_embed out", "encoder"),
              Stage("[cls; tokens] + positions", tuple(recording.stages["encoder.tokens"].shape), "tokens out",
                    "encoder")]
    stages += [Stage(f"block {i}", tuple(recording.stages[f"encoder.blocks.{i}"].shape), f"blocks.{i} out", "encoder",
                     "blocks") for i in range(cfg.depth)]
    stages += [Stage("pooled (mean of patch tokens, fc_norm)", seen["pooled"], "head in", "head"),
               Stage("logits", seen["logits"], "head out", "head")]
    return ShapeTrace(variant=info.name, title=f"{info.title} classifier", device="meta", batch=batch, mask_ratio=0.0,
                      img_size=list(cfg.img_size) if isinstance(cfg.img_size, tuple) else cfg.img_size,
                      patch_size=cfg.patch_size, num_patches=cfg.num_patches, num_visible=cfg.num_patches,
                      stages=stages if all_blocks else collapse_repeats(stages), grid=list(cfg.grid_size),
                      in_chans=cfg.in_chans)
