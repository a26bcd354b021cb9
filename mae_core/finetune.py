"""From weights to a classifier: a pre-trained MAE made into one (as ``main_finetune.py`` does), or a
fine-tuned / linear-probe checkpoint recognised and loaded.

Paper: MAE Sec. 4 and Appendix A.1 ("End-to-end fine-tuning", "Linear probing"): fine-tuning starts from
the pre-trained encoder; the decoder is discarded ("after pre-training, the decoder is discarded and the
encoder is applied to uncorrupted images", Sec. 3 "MAE encoder"). What the official
``main_finetune.py`` / ``main_linprobe.py`` do, step by step, and so what :func:`classifier_from_pretrained`
does:

    1. build ``models_vit.<name>(num_classes, drop_path_rate, global_pool)``;
    2. drop ``head.weight`` / ``head.bias`` from the checkpoint if their shapes differ from the model's;
    3. ``interpolate_pos_embed``: resize the position table bicubically if the patch grid differs;
    4. ``load_state_dict(checkpoint, strict=False)``: the expected missing keys are the head (and
       ``fc_norm`` with global pool); the expected unexpected ones are the decoder (``decoder_*``,
       ``mask_token``) and, with global pool, the encoder's final ``norm`` (removed from the model);
    5. a fresh head: truncated normal, std 2e-5 (linear probe: 0.01, behind ``BatchNorm1d(affine=False)``).

Shapes: a state dict in the official flat layout (``{name: tensor}``) -> a
:class:`~mae_core.classifier.VisionTransformer` and a :class:`LoadReport`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .classifier import VisionTransformer, init_fc_norm, init_head
from .errors import CheckpointError, CheckpointMismatchError
from .pos_embed import interpolate_pos_embed

_DECODER_KEYS = ("decoder_", "mask_token")
_HEAD_KEYS = ("head.",)


@dataclass(frozen=True)
class ClassifierSpec:
    """What a classifier checkpoint holds, read from its key names and shapes."""

    name: str  # the classifier ("vit_base_patch16")
    num_classes: int
    global_pool: bool  # fc_norm present, norm absent
    linear_probe: bool  # head.0 (BatchNorm1d) + head.1 (Linear)
    grid: tuple[int, int]  # the patch grid its position table was saved for (square)

    @property
    def head(self) -> str:
        pool = "global pool (fc_norm)" if self.global_pool else "cls token (norm)"
        kind = "linear probe (BatchNorm1d + Linear)" if self.linear_probe else "fine-tuned (Linear)"
        return f"{kind}, {pool}, {self.num_classes} classes"


@dataclass
class LoadReport:
    """What ``load_state_dict(strict=False)`` would report, and which of it is expected."""

    missing: list[str]
    unexpected: list[str]
    expected_missing: list[str]
    expected_unexpected: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def surprising(self) -> list[str]:
        """Keys that are missing or unexpected although ``main_finetune.py`` would not expect it."""
        return ([k for k in self.missing if k not in self.expected_missing]
                + [k for k in self.unexpected if k not in self.expected_unexpected])

    def to_dict(self) -> dict[str, Any]:
        return {"missing_keys": self.missing, "unexpected_keys": self.unexpected,
                "expected_missing": self.expected_missing, "expected_unexpected": self.expected_unexpected,
                "surprising": self.surprising, "notes": self.notes}


def is_classifier_state(state_dict: dict[str, Tensor]) -> bool:
    """True if the (official-layout) state dict has a classification head (``head.weight`` or ``head.1.weight``)
    and no decoder: a pre-trained MAE file with a stray head is an MAE file with one key too many."""
    from .io.weights import DECODER_KEYS

    has_head = "head.weight" in state_dict or "head.1.weight" in state_dict
    return has_head and not any(k.startswith(DECODER_KEYS) for k in state_dict)


def detect_classifier(state_dict: dict[str, Tensor]) -> ClassifierSpec | None:
    """The registered classifier whose trunk the state dict matches (width, depth, patch), with its head,
    or None (no head, or a trunk no classifier has)."""
    from .models import CLASSIFIERS

    if not is_classifier_state(state_dict):
        return None
    linear_probe = "head.1.weight" in state_dict
    head_w = state_dict["head.1.weight" if linear_probe else "head.weight"]
    proj = state_dict.get("patch_embed.proj.weight")
    pos = state_dict.get("pos_embed")
    if proj is None or pos is None or head_w.dim() != 2 or proj.dim() != 4 or pos.dim() != 3:
        return None
    depth = 1 + max((int(k.split(".")[1]) for k in state_dict if k.startswith("blocks.")), default=-1)
    D, p = proj.shape[0], proj.shape[-1]
    side = math.isqrt(pos.shape[1] - 1)
    if side * side != pos.shape[1] - 1:
        return None
    for c in CLASSIFIERS.values():
        cfg = c.config
        if (cfg.embed_dim, cfg.depth, cfg.patch_size, cfg.in_chans) == (D, depth, p, proj.shape[1]):
            return ClassifierSpec(c.name, int(head_w.shape[0]), "fc_norm.weight" in state_dict, linear_probe,
                                  (side, side))
    return None


def expected_keys(model: VisionTransformer) -> tuple[list[str], list[str]]:
    """``main_finetune.py``'s expectations: (missing: the head, and fc_norm with global pool;
    unexpected: the decoder and mask token, and the final norm with global pool)."""
    missing = [k for k in model.state_dict() if k.startswith(_HEAD_KEYS) or k.startswith("fc_norm.")]
    unexpected = ["decoder_*", "mask_token"] + (["norm.weight", "norm.bias"] if model.global_pool else [])
    return missing, unexpected


def _is_expected_unexpected(key: str, model: VisionTransformer) -> bool:
    return key.startswith(_DECODER_KEYS) or (model.global_pool and key in ("norm.weight", "norm.bias"))


def classifier_from_pretrained(name: str, state_dict: dict[str, Tensor], *, num_classes: int = 1000,
                               global_pool: bool = True, drop_path_rate: float = 0.0, linear_probe: bool = False,
                               seed: int = 0, device: torch.device | str = "cpu", **overrides: Any
                               ) -> tuple[VisionTransformer, LoadReport]:
    """A classifier initialised from a pre-trained MAE checkpoint (full or encoder only), as
    ``main_finetune.py`` (``linear_probe=True``: ``main_linprobe.py``) does it.

    Args:
        name: the classifier (``vit_base_patch16``) or its pre-trained variant's name.
        state_dict: the checkpoint in the official flat layout (the ``'model'`` entry of an official file).
        num_classes, global_pool, drop_path_rate, linear_probe: the classifier's head and training options.
        seed: the seed of the fresh head (and of anything else the file does not give).
        device: where the model lives.
        **overrides: config fields, e.g. ``img_size=384``: the position table is then resized bicubically.

    Returns:
        the model (in training mode, as a fine-tuning run starts) and the :class:`LoadReport`.
    """
    from .models import create_classifier

    torch.manual_seed(seed)
    model = create_classifier(name, num_classes=num_classes, global_pool=global_pool,
                              drop_path_rate=drop_path_rate, linear_probe=linear_probe, device="cpu", **overrides)
    checkpoint = dict(state_dict)
    notes = []
    own = model.state_dict()
    for key in ("head.weight", "head.bias"):
        if key in checkpoint and (key not in own or checkpoint[key].shape != own[key].shape):
            notes.append(f"removed {key} from the checkpoint: shape {tuple(checkpoint[key].shape)} does not fit "
                         "the new head")
            del checkpoint[key]
    table = checkpoint.get("pos_embed")
    if table is not None and table.shape[1] != own["pos_embed"].shape[1]:
        checkpoint["pos_embed"] = interpolate_pos_embed(table, model.config.grid_size)
        notes.append(f"pos_embed: {table.shape[1] - 1} patch positions resized bicubically to "
                     f"{model.config.num_patches} ({model.config.grid_size[0]}x{model.config.grid_size[1]}), "
                     "the official interpolate_pos_embed")
    missing = [k for k in own if k not in checkpoint]
    unexpected = [k for k in checkpoint if k not in own]
    trunk = {k: v for k, v in checkpoint.items() if k in own}
    wrong = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in trunk.items() if v.shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"the checkpoint does not fit {name}: {'; '.join(wrong[:3])}", setting="weights")
    with torch.no_grad():
        model.load_state_dict(trunk, strict=False)
        init_head(model.head)  # main_finetune.py: trunc_normal_(head.weight, std=2e-5) after loading
        if any(k.startswith("fc_norm.") for k in missing):
            init_fc_norm(model)
    exp_missing, _ = expected_keys(model)
    exp_unexpected = [k for k in unexpected if _is_expected_unexpected(k, model)]
    dropped = [k for k in unexpected if k.startswith(_DECODER_KEYS)]
    if dropped:
        notes.append(f"dropped the pre-training decoder ({len(dropped)} tensors: mask_token, decoder_*): the "
                     "classifier uses the encoder only")
    report = LoadReport(missing, unexpected, [k for k in missing if k in exp_missing], exp_unexpected, notes)
    return model.to(device).train(), report


def build_classifier(state_dict: dict[str, Tensor], spec: ClassifierSpec | None = None, *,
                     device: torch.device | str = "cpu", **overrides: Any) -> VisionTransformer:
    """The classifier a fine-tuned or linear-probe checkpoint holds, loaded strictly (every key, every
    shape), in evaluation mode. With ``img_size=`` another size, the position table is resized bicubically.

    Raises:
        CheckpointError: the state dict is no classifier, or does not fit it (the message names the keys).
    """
    from .io import checkpoint as layout
    from .models import create_classifier

    spec = spec or detect_classifier(state_dict)
    if spec is None:
        raise CheckpointError("the weights hold no classifier head (head.weight or head.1.weight) on a registered "
                              "trunk; pass a fine-tuned or linear-probe checkpoint", setting="weights")
    model = create_classifier(spec.name, num_classes=spec.num_classes, global_pool=spec.global_pool,
                              linear_probe=spec.linear_probe, device="meta", **overrides)
    sd = dict(state_dict)
    if "pos_embed" in sd and sd["pos_embed"].shape[1] != 1 + model.config.num_patches:
        sd["pos_embed"] = interpolate_pos_embed(sd["pos_embed"], model.config.grid_size)
    expected = model.state_dict(keep_vars=True)
    try:
        layout.check_same_layout(sd, expected, what=f"{spec.name} checkpoint ({spec.head})")
    except CheckpointMismatchError as exc:  # say which keys, as a bad-input error
        raise CheckpointError(str(exc), setting="weights") from None
    for k, v in sd.items():
        if v.is_meta or v.layout != torch.strided or (not v.is_floating_point() and expected[k].is_floating_point()):
            raise CheckpointError(f"{spec.name} checkpoint: tensor {k!r} is {str(v.dtype).removeprefix('torch.')} "
                                  f"{'on meta' if v.is_meta else str(v.layout).removeprefix('torch.')}, not dense "
                                  "floating-point weights; save the checkpoint from a model with real weights",
                                  setting="weights")
    sd = {k: v.to(expected[k].dtype) for k, v in sd.items()}
    model.load_state_dict(sd, assign=True)  # assign keeps each parameter's requires_grad (the model's)
    return model.to(device).eval()


def read_classifier(path: str | Path) -> tuple[dict[str, Tensor], ClassifierSpec]:
    """Read a classifier checkpoint (``.pth`` / ``.safetensors``, official or timm names) safely.

    Raises:
        CheckpointError: unreadable or unsafe file, or no classifier in it.
    """
    from .loading.weights import read_state_dict

    state_dict, _fmt = read_state_dict(path)
    spec = detect_classifier(state_dict)
    if spec is None:
        raise CheckpointError(f"{Path(path).name} holds no classifier (no head.weight on a registered trunk); "
                              "pass a fine-tuned or linear-probe checkpoint", setting="weights")
    return state_dict, spec


CONVERT_TARGETS = ("official", "ours", "safetensors", "hf", "timm")


def hf_vit_config(spec: ClassifierSpec) -> dict[str, Any]:
    """``config.json`` of a transformers ``ViTForImageClassification`` directory for a cls-token classifier."""
    from .models import get_classifier

    c = get_classifier(spec.name).config
    return {"architectures": ["ViTForImageClassification"], "model_type": "vit", "image_size": c.img_size,
            "patch_size": c.patch_size, "num_channels": c.in_chans, "hidden_size": c.embed_dim,
            "num_hidden_layers": c.depth, "num_attention_heads": c.num_heads,
            "intermediate_size": int(c.embed_dim * c.mlp_ratio), "hidden_act": "gelu", "layer_norm_eps": c.ln_eps,
            "qkv_bias": True, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
            "num_labels": spec.num_classes, "initializer_range": 0.02}


def convert_checkpoint(src: str | Path, dst: str | Path, to: str, *, dtype: str = "float32", hf_version: str = "v5",
                       variant: str | None = None,
                       stage: Callable[[str], AbstractContextManager] = lambda _: nullcontext()) -> dict[str, Any]:
    """The service behind ``mae checkpoint convert``: a pre-trained MAE by
    :func:`mae_core.loading.convert.convert`; a fine-tuned or linear-probe classifier, which that refuses,
    by :func:`convert_classifier` (unless ``variant`` asked for an MAE). ``stage``: a progress display."""
    from .loading.convert import convert

    try:
        with stage(f"converting {str(src)[:80]} to {to}, then re-reading and checking it"):
            return convert(src, dst, to, dtype=dtype, hf_version=hf_version, variant=variant)
    except CheckpointError as exc:  # a fine-tuned / linear-probe classifier (models_vit.py)?
        if variant or "classifier" not in str(exc):
            raise
    with stage(f"converting the classifier {str(src)[:80]} to {to}, then checking it"):
        return convert_classifier(src, dst, to, dtype=dtype, hf_version=hf_version)


def convert_classifier(src: str | Path, dst: str | Path, to: str, *, dtype: str = "float32",
                       hf_version: str = "v5") -> dict[str, Any]:
    """``mae checkpoint convert`` for a classifier: write it as ``to`` (official ``{'model': ...}``, ours = the
    same flat names, safetensors, timm = the bare state dict ``timm.create_model(..., global_pool='avg',
    fc_norm=True)`` loads, hf = a ``ViTForImageClassification`` directory for a cls-token Linear head), then
    re-read it with the same reader and check every tensor bit for bit and a forward on the built-in picture.

    Raises:
        CheckpointError: not a classifier; ``hf`` for a head transformers cannot express; the output is the input.
    """
    import json

    from .loading.convert import DTYPES
    from .io.files import atomic_write, show_path
    from .io.hf_vit_layout import official_to_hf_classifier
    from .io.images import builtin_image, eval_normalize
    from .io.safetensors_file import read_safetensors, write_safetensors

    if to not in CONVERT_TARGETS:
        raise CheckpointError(f"conversion target {to!r} is unknown; use one of {', '.join(CONVERT_TARGETS)}")
    if dtype not in DTYPES:
        raise CheckpointError(f"dtype {dtype!r} is not supported; use {', '.join(DTYPES)}")
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and (src.resolve() == dst.resolve()):
        raise CheckpointError(f"output {show_path(dst)} is the input; choose another path (the input is never "
                              "overwritten)")
    state_dict, spec = read_classifier(src)
    if to == "hf" and (spec.global_pool or spec.linear_probe):
        raise CheckpointError(f"transformers' ViTForImageClassification reads the cls token with a Linear head; this "
                              f"checkpoint is a {spec.head} classifier: convert it to official, safetensors or timm",
                              setting="to")
    target = DTYPES[dtype]
    sd = {k: (v.to(target) if v.is_floating_point() else v).contiguous() for k, v in state_dict.items()}
    notes = []
    if to in ("official", "ours", "timm"):
        with atomic_write(dst, what="output checkpoint") as f:
            torch.save({"model": sd} if to == "official" else sd, f)
        written = sd
    elif to == "safetensors":
        write_safetensors(dst, sd, {"format": "pt", "layout": "official", "classifier": spec.name})
        written = sd
    else:
        written = official_to_hf_classifier(sd, version=hf_version)
        if dst.exists() and not dst.is_dir():
            raise CheckpointError(f"output {show_path(dst)} is a file; a transformers checkpoint is a directory")
        dst.mkdir(exist_ok=True)
        write_safetensors(dst / "model.safetensors", written, {"format": "pt"})
        with atomic_write(dst / "config.json", what="output config") as f:
            f.write((json.dumps(hf_vit_config(spec), indent=2) + "\n").encode())
    if to == "hf":
        raw = read_safetensors(dst / "model.safetensors")[0]
    elif to == "safetensors":
        raw = read_safetensors(dst)[0]
    else:
        obj = torch.load(dst, map_location="cpu", weights_only=True)
        raw = obj["model"] if to == "official" else obj
    mismatched = [k for k, v in written.items() if k not in raw or not torch.equal(raw[k], v)]
    back, back_spec = read_classifier(dst)
    x = eval_normalize([builtin_image(224)])
    source = {k: (v.to(target) if v.is_floating_point() else v) for k, v in state_dict.items()}
    with torch.no_grad():
        a = build_classifier(source, spec)(x)
        b = build_classifier(back, back_spec)(x)
    forward = {"compared": "logits", "equal": bool(torch.equal(a, b)), "max_abs_diff": float((a - b).abs().max())}
    return {"input": str(src), "output": str(dst), "to": to, "dtype": dtype, "variant": spec.name,
            "classifier": spec.head, "hf_version": hf_version if to == "hf" else None, "has_decoder": False,
            "norm_pix_loss": None, "tensors": len(written), "tensors_bit_exact": len(written) - len(mismatched),
            "mismatched": mismatched[:20], "unexpected": [k for k in raw if k not in written][:20],
            "forward": forward, "passed": not mismatched and forward["equal"],
            "bytes": sum(f.stat().st_size for f in dst.iterdir()) if dst.is_dir() else dst.stat().st_size,
            "notes": notes}
