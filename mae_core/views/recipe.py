"""The recipe of one stage for one variant: parameter groups, absolute learning rate, schedule, plot.

Paper: MAE Appendix A.1-A.3 (Tables 8-10), as the official ``main_*.py`` build them; the rules are
:mod:`mae_core.recipe`'s. The service behind ``mae recipe``. No weights are allocated: the models are
built on the meta device (pre-training: our MAE, under official names; fine-tuning and linear probing:
the official ``models_vit.VisionTransformer`` names, ``patch_embed.proj.*``, ``cls_token``,
``pos_embed`` (trained in fine-tuning), ``blocks.i.*``, then ``fc_norm.*`` + ``head.*`` with global
pooling (fine-tuning) or ``norm.*`` + ``head.1.*`` behind a ``BatchNorm1d(affine=False)`` (linear probing
with the class token, everything but the head frozen)).

Input: stage, variant and the options; output: a plain dict (JSON-ready) and, on request, a Pillow
picture of the learning rate over the epochs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import recipe
from ..errors import SettingError

NUM_CLASSES = 1000  # ImageNet-1k, main_finetune.py / main_linprobe.py --nb_classes default


def check_settings(*, batch_size: int, accum_iter: int, world_size: int, blr: float, epochs: float,
                   warmup_epochs: float, min_lr: float, weight_decay: float, layer_decay: float | None) -> None:
    """Refuse settings the schedule cannot take (each message names the option and the fix)."""
    for name, value in (("batch_size", batch_size), ("accum_iter", accum_iter), ("world_size", world_size)):
        if value < 1:
            raise SettingError(name, f"{value} is not a positive count; use 1 or more")
    if not blr >= 0:
        raise SettingError("blr", f"{blr:g} is negative; the base learning rate is >= 0 (published: 1.5e-4, 1e-3, 0.1)")
    if not epochs > 0:
        raise SettingError("epochs", f"{epochs:g} must be above 0")
    if not 0 <= warmup_epochs < epochs:
        raise SettingError("warmup_epochs", f"{warmup_epochs:g} must be at least 0 and below --epochs ({epochs:g}): "
                                            "the cosine half-cycle runs from the end of the warm-up to --epochs")
    if not min_lr >= 0:
        raise SettingError("min_lr", f"{min_lr:g} is negative; use 0 or more")
    if not weight_decay >= 0:
        raise SettingError("weight_decay", f"{weight_decay:g} is negative; use 0 or more")
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise SettingError("layer_decay", f"{layer_decay:g} must be in (0, 1] (published: 0.65 for ViT-B, 0.75 for "
                                          "ViT-L/H; 1 turns the decay off)")


def _meta(shape: tuple[int, ...], trainable: bool = True) -> Tensor:
    t = torch.empty(shape, device="meta")
    t.requires_grad_(trainable)
    return t


def classifier_named_parameters(variant: str, stage: str = "finetune",
                                num_classes: int = NUM_CLASSES) -> list[tuple[str, Tensor]]:
    """Meta tensors with the official fine-tuning (``global_pool``) or linear-probing (class token, BN
    head, frozen trunk) names and shapes, in ``models_vit.VisionTransformer``'s registration order."""
    from ..models import get_variant

    cfg = get_variant(variant).config
    d, p, c = cfg.embed_dim, cfg.patch_size, cfg.in_chans
    hidden = int(d * cfg.mlp_ratio)
    probe = stage == "linprobe"
    train = not probe
    named = [("cls_token", _meta((1, 1, d), train)), ("pos_embed", _meta((1, cfg.num_patches + 1, d), train)),
             ("patch_embed.proj.weight", _meta((d, c, p, p), train)), ("patch_embed.proj.bias", _meta((d,), train))]
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        named += [(b + "norm1.weight", _meta((d,), train)), (b + "norm1.bias", _meta((d,), train)),
                  (b + "attn.qkv.weight", _meta((3 * d, d), train)), (b + "attn.qkv.bias", _meta((3 * d,), train)),
                  (b + "attn.proj.weight", _meta((d, d), train)), (b + "attn.proj.bias", _meta((d,), train)),
                  (b + "norm2.weight", _meta((d,), train)), (b + "norm2.bias", _meta((d,), train)),
                  (b + "mlp.fc1.weight", _meta((hidden, d), train)), (b + "mlp.fc1.bias", _meta((hidden,), train)),
                  (b + "mlp.fc2.weight", _meta((d, hidden), train)), (b + "mlp.fc2.bias", _meta((d,), train))]
    if probe:
        named += [("norm.weight", _meta((d,), False)), ("norm.bias", _meta((d,), False)),
                  ("head.1.weight", _meta((num_classes, d))), ("head.1.bias", _meta((num_classes,)))]
    else:
        named += [("head.weight", _meta((num_classes, d))), ("head.bias", _meta((num_classes,))),
                  ("fc_norm.weight", _meta((d,))), ("fc_norm.bias", _meta((d,)))]
    return named


def stage_named_parameters(stage: str, variant: str) -> list[tuple[str, Tensor]]:
    """The ``(official name, meta tensor)`` pairs the stage's optimizer sees groups of."""
    if stage == "pretrain":
        from ..models import get_variant

        with torch.device("meta"):
            model = get_variant(variant).factory()
        return recipe.official_named_parameters(model)
    return classifier_named_parameters(variant, stage)


def kind_of(name: str, tensor: Tensor) -> str:
    """A short kind for the group table: a token or table by name, else bias / norm / weight."""
    if name in ("cls_token", "mask_token", "pos_embed", "decoder_pos_embed"):
        return name
    if name.endswith(".bias"):
        return "bias"
    parts = name.split(".")
    if len(parts) > 1 and "norm" in parts[-2]:
        return "norm weight"
    if name.startswith("patch_embed"):
        return "patch_embed weight"
    return "weight" if tensor.ndim > 1 else "1-D"


def recipe_report(stage: str, variant: str, *, batch_size: int | None = None, accum_iter: int | None = None,
                  world_size: int | None = None, blr: float | None = None, epochs: float | None = None,
                  warmup_epochs: float | None = None, min_lr: float | None = None,
                  weight_decay: float | None = None, layer_decay: float | None = None,
                  points: int = 100) -> dict[str, Any]:
    """Every option left ``None`` takes the published value of ``stage`` for ``variant``
    (:func:`mae_core.recipe.published`). Returns the groups, the absolute lr and the schedule."""
    from ..models import get_variant

    spec = get_variant(variant)
    pub = recipe.published(stage, spec.short)
    chosen = {
        "batch_size": pub.batch_size if batch_size is None else batch_size,
        "accum_iter": pub.accum_iter if accum_iter is None else accum_iter,
        "world_size": pub.world_size if world_size is None else world_size,
        "blr": pub.blr if blr is None else blr,
        "epochs": pub.epochs if epochs is None else epochs,
        "warmup_epochs": pub.warmup_epochs if warmup_epochs is None else warmup_epochs,
        "min_lr": pub.min_lr if min_lr is None else min_lr,
        "weight_decay": pub.weight_decay if weight_decay is None else weight_decay,
        "layer_decay": (pub.layer_decay if layer_decay is None else layer_decay) if stage == "finetune" else None,
    }
    if stage != "finetune" and layer_decay is not None:
        raise SettingError("layer_decay", f"applies to fine-tuning only, not {stage}; drop it or use --stage finetune")
    check_settings(**chosen)
    lr = recipe.absolute_lr(chosen["blr"], chosen["batch_size"], chosen["accum_iter"], chosen["world_size"])
    named = stage_named_parameters(stage, spec.name)
    groups = recipe.param_groups(stage, named, weight_decay=chosen["weight_decay"],
                                 layer_decay=chosen["layer_decay"] or 0.75)
    trainable = {n for n, t in named if t.requires_grad}
    rows = []
    for g in groups:
        kinds = Counter(kind_of(n, t) for n, t in zip(g["param_names"], g["params"], strict=True))
        row = {"weight_decay": g["weight_decay"], "lr_scale": g.get("lr_scale", 1.0), "params": g["param_names"],
               "tensors": len(g["params"]), "parameters": sum(t.numel() for t in g["params"]),
               "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1]))}
        if stage == "finetune":
            row["layer_id"] = recipe.layer_id_for_vit(g["param_names"][0], recipe.depth_of(trainable) + 1)
        if stage == "linprobe":  # LARS: 1-D tensors get neither the decay nor the trust ratio
            row["lars_exempt"] = [n for n, t in zip(g["param_names"], g["params"], strict=True) if t.ndim <= 1]
        rows.append(row)
    frozen = [n for n, t in named if not t.requires_grad]
    sched = recipe.schedule(lr, warmup_epochs=chosen["warmup_epochs"], epochs=chosen["epochs"],
                            min_lr=chosen["min_lr"], points=points)
    optimizer = {"pretrain": f"AdamW, betas {recipe.PRETRAIN_BETAS}",
                 "finetune": "AdamW, torch's default betas (0.9, 0.999)",
                 "linprobe": f"LARS, momentum {recipe.LARS_MOMENTUM}, trust coefficient {recipe.LARS_TRUST}"}[stage]
    return {
        "stage": stage, "variant": spec.name, "title": spec.title, "settings": chosen,
        "effective_batch": chosen["batch_size"] * chosen["accum_iter"] * chosen["world_size"],
        "lr": lr, "optimizer": optimizer,
        "param_groups": rows, "frozen": frozen,
        "lr_scales": sorted({r["lr_scale"] for r in rows}, reverse=True),
        "schedule": [{"epoch": e, "lr": v} for e, v in sched],
        "published": pub.to_dict(),
        "overridden": sorted(k for k, v in chosen.items() if v != getattr(pub, k)),
    }


def schedule_picture(data: dict[str, Any]):
    """The learning rate over the epochs (one line per distinct lr scale for fine-tuning)."""
    from .plot import line_plot

    scales = data["lr_scales"] if data["stage"] == "finetune" else [1.0]
    series: dict[str, list[tuple[float, float | None]]] = {}
    top = len(scales) - 1  # the head's layer id (num_layers) has scale 1
    for k, s in enumerate(scales):
        label = "lr" if len(scales) == 1 else f"layer {top - k}: x{s:.3g}"
        series[label] = [(p["epoch"], p["lr"] * s) for p in data["schedule"]]
    title = (f"MAE {data['title']} {data['stage']}: lr {data['lr']:.3g} (blr {data['settings']['blr']:g} x "
             f"{data['effective_batch']} / 256), warm-up {data['settings']['warmup_epochs']:g} ep, cosine")
    return line_plot(series, title=title, xlabel="epoch", ylabel="learning rate", markers=False, x_ticks="auto")


def write_schedule_picture(data: dict[str, Any], path: str | Path, what: str = "plot") -> str:
    """:func:`schedule_picture` written to ``path`` as PNG, all or nothing (``what`` names it in an error)."""
    from ..io.files import atomic_write

    picture = schedule_picture(data)
    with atomic_write(path, what=what) as f:
        picture.save(f, format="PNG")
    return str(path)
