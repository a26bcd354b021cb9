"""The fine-tuned classifier against its references: the official ``models_vit.py`` (the user's clone, run
with shims), timm's ``VisionTransformer`` and transformers' ``ViTForImageClassification``, stage by stage.

Paper: MAE Sec. 4 / Appendix A.1 (fine-tuning and linear probing), as the official code runs them:
``models_vit.VisionTransformer`` (timm's ViT with ``global_pool``), the linear probe's head of
``main_linprobe.py`` (``Sequential(BatchNorm1d(affine=False, eps=1e-6), Linear)``).

Rows (each ``max |ours - reference|``, as :mod:`official_mae.compare`):

    patch_embed   (B, L, D)          the patch tokens, before positions
    blocks.{i}    (B, 1 + L, D)      each block's output
    features      (B, D)             the pooled features the head reads (fc_norm of the mean, or norm's cls)
    logits        (B, num_classes)
    loss          ()                 cross-entropy against labels drawn from the seed
    grad <group>  with ``grad=True``: d loss / d parameter, every parameter

Which reference can express which classifier: the official code and timm (``global_pool='avg'`` with
``fc_norm``, or ``'token'``) every one, the linear probe's head set on them as ``main_linprobe.py`` does;
transformers' ``ViTForImageClassification`` the cls-token classifier with a Linear head only (it has no
mean pooling and no BatchNorm head).

The shim for the official file on today's timm: its ``VisionTransformer`` inherits timm's ``forward``,
which since timm 0.6 calls ``forward_head`` on what ``forward_features`` returns; the official
``forward_features`` already pools to (B, D), so the inherited pooling indexes the wrong axis
(facebookresearch/mae issue #126). On the imported class only (never the user's file), ``forward`` is set
back to timm 0.3.2's ``head(forward_features(x))``.

Shapes: imgs (B, C, H, W) -> a dict of rows (plain data), as :func:`official_mae.compare.compare_models`.
"""

from __future__ import annotations

import contextlib
import os
import types
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mae_core.classifier import VisionTransformer
from mae_core.io.hf_vit_layout import hf_to_official_classifier, official_to_hf_classifier

from .compare import SAME_MACHINE, PERTURBATION, StageResult, compare_gradients, compare_tensor, perturbed, recording
from .imports import ReferenceUnavailable, require_timm, require_transformers
from .official import check_kind, check_source_file, import_source_module

CLASSIFIER_KINDS = ("auto", "official", "timm", "hf")


# --- the official models_vit.py --------------------------------------------------------------------

def check_official_vit_source(path: Path) -> None:
    """Refuse, before anything in it runs, a folder without a ``models_vit.py`` defining
    ``class VisionTransformer`` (read as bounded text, never imported)."""
    check_source_file(path, "models_vit.py", "VisionTransformer", "the official models_vit.py")


def _pooled_forward(self, x):
    """timm 0.3.2's ``VisionTransformer.forward``, which the official models_vit.py was written for."""
    return self.head(self.forward_features(x))


def restore_forward(cls: type) -> bool:
    """Give the official class timm 0.3.2's forward if today's timm's would call ``forward_head`` on its
    pooled features (mae #126). Returns True if it was needed."""
    if "forward" in cls.__dict__ or not hasattr(cls, "forward_head"):
        return False
    cls.forward = _pooled_forward
    return True


def import_official_vit(src: str | os.PathLike) -> tuple[types.ModuleType, list[str]]:
    """Import ``models_vit.py`` from ``src`` with the shims (imported once per directory); the module and
    the shims applied."""
    path = Path(src).expanduser()
    if path.is_file():
        path = path.parent
    check_official_vit_source(path)

    def restored(module: types.ModuleType) -> list[str]:
        return (["forward = head(forward_features(x)) (timm >= 0.6 forward_head, mae #126)"]
                if restore_forward(module.VisionTransformer) else [])

    return import_source_module(path.resolve(), "models_vit", restored)


# --- references ------------------------------------------------------------------------------------

class ClassifierReference:
    """A reference classifier holding the official key names (the official class and timm's), or a
    translation to them (transformers)."""

    kind = ""

    def __init__(self, model: nn.Module, detail: str):
        self.model = model.eval()
        self.detail = detail

    def load_official_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        own = self.model.state_dict()
        sd = {k: v.detach().clone() for k, v in self._to_own(state_dict).items()}
        if set(sd) != set(own):
            raise ReferenceUnavailable(f"the {self.kind} reference's keys differ from ours: missing "
                                       f"{sorted(set(own) - set(sd))[:4]}, extra {sorted(set(sd) - set(own))[:4]}")
        self.model.load_state_dict(sd, strict=True, assign=True)
        for p in self.model.parameters():
            p.requires_grad_(True)

    def _to_own(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        return dict(state_dict)

    def official_grads(self) -> dict[str, Tensor]:
        return {k: p.grad for k, p in self.model.named_parameters() if p.grad is not None}

    def forward(self, imgs: Tensor) -> Tensor:
        return self.model(imgs)

    def stage_modules(self) -> dict[str, nn.Module]:
        m = self.model
        return {"patch_embed": m.patch_embed, **{f"blocks.{i}": b for i, b in enumerate(m.blocks)}}

    def head(self) -> nn.Module:
        return self.model.head


def _linprobe_head(model: nn.Module, dim: int) -> None:
    """``main_linprobe.py``'s hack: the head becomes ``Sequential(BatchNorm1d(affine=False, eps=1e-6), head)``."""
    model.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), model.head)


class OfficialViTReference(ClassifierReference):
    kind = "official"

    def __init__(self, model_ours: VisionTransformer, src: str | os.PathLike):
        module, shims = import_official_vit(src)
        c = model_ours.config
        with torch.device("meta"):
            factory = getattr(module, _official_name(model_ours), None)
            kwargs = dict(num_classes=model_ours.num_classes, global_pool=model_ours.global_pool, img_size=c.img_size,
                          in_chans=c.in_chans)
            if factory is not None and _is_registered_trunk(model_ours):
                model = factory(**kwargs)
            else:
                model = module.VisionTransformer(patch_size=c.patch_size, embed_dim=c.embed_dim, depth=c.depth,
                                                 num_heads=c.num_heads, mlp_ratio=c.mlp_ratio, qkv_bias=True,
                                                 norm_layer=partial(nn.LayerNorm, eps=c.ln_eps), **kwargs)
            if model_ours.linear_probe:
                _linprobe_head(model, c.embed_dim)
        super().__init__(model, f"official models_vit.py from {src} (shims: {', '.join(shims) or 'none needed'})")


class TimmViTReference(ClassifierReference):
    kind = "timm"

    def __init__(self, model_ours: VisionTransformer):
        require_timm()
        import timm
        from timm.models.vision_transformer import VisionTransformer as TimmViT

        c = model_ours.config
        gp = model_ours.global_pool
        with torch.device("meta"):
            model = TimmViT(img_size=c.img_size, patch_size=c.patch_size, in_chans=c.in_chans,
                            num_classes=model_ours.num_classes, global_pool="avg" if gp else "token",
                            embed_dim=c.embed_dim, depth=c.depth, num_heads=c.num_heads, mlp_ratio=c.mlp_ratio,
                            qkv_bias=True, fc_norm=gp, norm_layer=partial(nn.LayerNorm, eps=c.ln_eps))
            if model_ours.linear_probe:
                _linprobe_head(model, c.embed_dim)
        pool = "global_pool='avg', fc_norm=True" if gp else "global_pool='token'"
        super().__init__(model, f"timm {timm.__version__} VisionTransformer({pool})")


class HFViTReference(ClassifierReference):
    kind = "hf"

    def __init__(self, model_ours: VisionTransformer):
        require_transformers()  # the install hint if it is missing
        import transformers as lib
        if model_ours.global_pool or model_ours.linear_probe:
            raise ReferenceUnavailable("transformers' ViTForImageClassification classifies the cls token with a "
                                       "Linear head only: it cannot express global pooling or the linear probe's "
                                       "BatchNorm head; use --reference official or timm")
        c = model_ours.config
        h, w = c.image_hw
        if h != w:
            raise ReferenceUnavailable("transformers' ViTConfig takes a square image_size; use --reference timm")
        config = lib.ViTConfig(hidden_size=c.embed_dim, num_hidden_layers=c.depth, num_attention_heads=c.num_heads,
                               intermediate_size=int(c.embed_dim * c.mlp_ratio), hidden_act="gelu",
                               layer_norm_eps=c.ln_eps, image_size=h, patch_size=c.patch_size,
                               num_channels=c.in_chans, qkv_bias=True, num_labels=model_ours.num_classes,
                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        with torch.device("meta"):
            model = lib.ViTForImageClassification(config)
        super().__init__(model, f"transformers {lib.__version__} ViTForImageClassification (cls token, "
                                f"layer_norm_eps={c.ln_eps:g})")

    def _layers(self) -> nn.ModuleList:
        vit = self.model.vit
        return vit.layers if hasattr(vit, "layers") else vit.encoder.layer

    def _to_own(self, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        return official_to_hf_classifier(state_dict, list(self.model.state_dict()))

    def official_grads(self) -> dict[str, Tensor]:
        grads = {k: p.grad for k, p in self.model.named_parameters() if p.grad is not None}
        return hf_to_official_classifier(grads)

    def forward(self, imgs: Tensor) -> Tensor:
        return self.model(pixel_values=imgs).logits

    def stage_modules(self) -> dict[str, nn.Module]:
        emb = self.model.vit.embeddings.patch_embeddings
        return {"patch_embed": emb, **{f"blocks.{i}": b for i, b in enumerate(self._layers())}}

    def head(self) -> nn.Module:
        return self.model.classifier


# --- building and comparing -----------------------------------------------------------------------------

def _official_name(model: VisionTransformer) -> str:
    from mae_core.models import CLASSIFIERS

    fields = ("patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio", "ln_eps")
    for c in CLASSIFIERS.values():
        if all(getattr(c.config, f) == getattr(model.config, f) for f in fields):
            return c.name
    return ""


def _is_registered_trunk(model: VisionTransformer) -> bool:
    return bool(_official_name(model))


def resolve_classifier_kind(kind: str, official_src: str | os.PathLike | None) -> str:
    """``auto`` -> official if a source is given, else timm; others checked."""
    kind, src = check_kind(kind, official_src, CLASSIFIER_KINDS)
    if kind == "auto":
        return "official" if src is not None else "timm"
    return kind


def build_classifier_reference(kind: str, model: VisionTransformer, official_src: str | os.PathLike | None = None
                               ) -> ClassifierReference:
    from .official import official_source

    kind = resolve_classifier_kind(kind, official_src)
    if kind == "official":
        return OfficialViTReference(model, official_source(official_src))
    if kind == "timm":
        return TimmViTReference(model)
    return HFViTReference(model)


def _head_input(head: nn.Module) -> contextlib.AbstractContextManager:
    captured: dict[str, Tensor] = {}

    @contextlib.contextmanager
    def ctx():
        handle = head.register_forward_pre_hook(lambda _m, args: captured.__setitem__("x", args[0].detach().clone()))
        try:
            yield captured
        finally:
            handle.remove()

    return ctx()


def make_labels(batch: int, num_classes: int, seed: int) -> Tensor:
    """The class labels of the gradient check's cross-entropy: uniform, from their own seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, max(num_classes, 1), (batch,), generator=g)


def compare_classifiers(model: VisionTransformer, reference: ClassifierReference, imgs: Tensor, *, seed: int = 0,
                        atol: float = SAME_MACHINE.atol, rtol: float = SAME_MACHINE.rtol, grad: bool = False) -> dict:
    """Run both classifiers (evaluation mode) on the same images; compare every stage, and with ``grad`` the
    gradient of every parameter of a cross-entropy against seeded labels. Returns plain data."""
    model.eval()
    reference.model.eval()
    ours_stages = {"patch_embed": model.patch_embed, **{f"blocks.{i}": b for i, b in enumerate(model.blocks)}}
    ref_stages = reference.stage_modules()
    if set(ours_stages) != set(ref_stages):
        raise ValueError(f"the {reference.kind} reference has other stages: the models have different depths")
    labels = make_labels(imgs.shape[0], model.num_classes, seed).to(imgs.device)
    context = contextlib.nullcontext() if grad else torch.no_grad()
    with context:
        with recording(ours_stages) as ours_out, _head_input(model.head) as ours_feat:
            logits = model(imgs)
            loss = F.cross_entropy(logits, labels)
        with recording(ref_stages) as ref_out, _head_input(reference.head()) as ref_feat:
            ref_logits = reference.forward(imgs)
            ref_loss = F.cross_entropy(ref_logits, labels)
        if grad:
            for p in [*model.parameters(), *reference.model.parameters()]:
                p.grad = None
            loss.backward()
            ref_loss.backward()
    rows: list[StageResult] = []

    def stage(name: str, a: Tensor | None, b: Tensor | None) -> None:
        if a is None or b is None:
            rows.append(StageResult(name, "-", None, None, False, "not produced by "
                                    + ("our model" if a is None else f"the {reference.kind} reference")))
        else:
            rows.append(compare_tensor(name, a, b, atol, rtol))

    for name in ours_stages:
        stage(name, ours_out.get(name), ref_out.get(name))
    stage("features", ours_feat.get("x"), ref_feat.get("x"))
    stage("logits", logits, ref_logits)
    stage("loss", loss, ref_loss)
    result: dict = {}
    if grad:
        order = list(model.official_state_dict())
        ours_grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
        grad_rows, per_param = compare_gradients(ours_grads, reference.official_grads(), atol, rtol, order)
        rows.extend(grad_rows)
        result["gradients"] = per_param
        for p in [*model.parameters(), *reference.model.parameters()]:
            p.grad = None
    first = next((r.stage for r in rows if not r.passed), None)
    top_ours = logits.detach().argmax(-1).tolist()
    top_ref = ref_logits.detach().argmax(-1).tolist()
    result.update({"stages": [r.to_dict() for r in rows], "passed": first is None, "first_failure": first,
                   "loss": {"ours": float(loss.detach()), "reference": float(ref_loss.detach())},
                   "top1": {"ours": top_ours, "reference": top_ref}})
    return result


def compare_classifier_official(model: VisionTransformer, imgs: Tensor, *, reference: str = "auto",
                                official_src: str | os.PathLike | None = None, seed: int = 0,
                                atol: float = SAME_MACHINE.atol, rtol: float = SAME_MACHINE.rtol, grad: bool = False,
                                perturb: str | None = None, device: torch.device | str = "cpu") -> dict:
    """Our classifier (already holding its weights) against a reference given the same weights: the
    service behind ``mae compare-official`` for a classifier.

    Args:
        model: a :class:`~mae_core.classifier.VisionTransformer`.
        imgs: (B, C, H, W) at the model's size.
        reference: ``auto``, ``official``, ``timm`` or ``hf``.
        official_src: the official clone (else ``$MAE_OFFICIAL_SRC``).
        seed: the labels' seed for the loss.
        perturb: an official parameter name offset by 0.001 (first entry) on the reference side only.
    """
    model = model.to(device).eval()
    ref = build_classifier_reference(reference, model, official_src)
    notes = []
    ref.load_official_state_dict(perturbed(model.official_state_dict(), perturb))
    ref.model.to(device)
    if perturb:
        notes.append(f"first entry of {perturb} offset by {PERTURBATION:g} on the reference side only (--perturb)")
    result = compare_classifiers(model, ref, imgs.to(device), seed=seed, atol=atol, rtol=rtol, grad=grad)
    return {"reference": ref.kind, "reference_detail": ref.detail, "batch": int(imgs.shape[0]), "seed": seed,
            "atol": atol, "rtol": rtol, "grad": grad, "notes": notes, **result}


def compare_classifier_checkpoint(weights: str | os.PathLike | None, images: list[str], *,
                                  classifier: str | None = None, batch: int = 2, seed: int = 0, resize: str = "eval",
                                  reference: str = "auto", official_src: str | os.PathLike | None = None,
                                  atol: float = SAME_MACHINE.atol, rtol: float = SAME_MACHINE.rtol, grad: bool = False,
                                  perturb: str | None = None, device: torch.device | str = "cpu") -> dict:
    """``mae compare-official`` on a classifier: from a fine-tuned / linear-probe checkpoint, or (without
    one) the seeded ``classifier`` with a global-pool head; images from files (``resize`` preset, ``eval``
    = the official evaluation transform) or ``batch`` seeded random normal ones.

    Raises:
        CheckpointError: the file holds no classifier. ReferenceUnavailable: the reference cannot be built
        or cannot express this classifier.
    """
    from mae_core.finetune import build_classifier, read_classifier
    from mae_core.io.images import eval_normalize, load_batch, load_image
    from mae_core.models import create_classifier, get_classifier

    if weights is not None:
        state_dict, spec = read_classifier(weights)
        model = build_classifier(state_dict, spec)
        described_weights = str(weights)
    else:
        torch.manual_seed(seed)
        model = create_classifier(classifier or "vit_base_patch16", global_pool=True).eval()
        described_weights = f"seeded initialisation (seed {seed})"
    if perturb is not None and perturb not in model.state_dict():
        near = [k for k in model.state_dict() if perturb.split(".")[0] in k][:3] or ["blocks.0.attn.qkv.weight"]
        raise KeyError(f"--perturb {perturb!r} is not a parameter of this classifier; use an official name such as "
                       + ", ".join(near))
    if images and resize == "eval":
        imgs = eval_normalize([load_image(p, model.config.img_size, resize="eval") for p in images])
        described = [str(p) for p in images]
    else:
        imgs, described = load_batch(list(images), model.config.img_size, batch, seed, resize=resize)
    name = _official_name(model) or get_classifier(classifier or "vit_base_patch16").name
    result = compare_classifier_official(model, imgs, reference=reference, official_src=official_src, seed=seed,
                                         atol=atol, rtol=rtol, grad=grad, perturb=perturb, device=device)
    pool = "global pool" if model.global_pool else "cls token"
    head = "linear probe (BatchNorm1d + Linear)" if model.linear_probe else "Linear head"
    return {"variant": name, "title": f"{get_classifier(name).title} classifier ({pool}, {head}, "
            f"{model.num_classes} classes)", "weights": described_weights, "images": described,
            "classifier": True, **result}
