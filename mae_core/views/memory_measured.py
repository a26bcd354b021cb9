"""Memory of a real MAE step, measured, to check the closed form of :mod:`mae_core.views.memory`.

Paper: MAE Sec. 3 (the encoder on the visible tokens, the decoder on all of them): the same stages as
the closed form, measured on the model's own forward pass.

Two measurements, both exact and independent of the CPU, its SIMD width and the thread count:
    * :func:`saved_bytes`: every tensor autograd saves for backward, seen by
      ``torch.autograd.graph.saved_tensors_hooks``, each storage counted once, the parameters left out
      (they are the "weights" row), and only what is still held when the forward pass ends (a branch
      whose output is dropped frees what it saved). Attributed to the stage whose module saved it.
    * :func:`live_peak`: the most bytes of tensors the forward pass itself created that are alive at
      once, tracked on every operation with a ``TorchDispatchMode`` (a kernel's private scratch
      buffers are not tensors and are not seen; on CPU they are a few KiB per thread).

Shapes: imgs (B, C, H, W) and noise (B, L) in; bytes per stage out.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# Which stage a module's operations belong to, and the stage that follows it (the operations of its parent):
# the MAE's (its closed form: mae_core.views.memory) and the classifier's (mae_core.views.memory_classifier).
_ENTER = {"encoder.patch_embed": "patch_embed", "encoder.blocks": "encoder_blocks", "encoder.norm": "encoder_norm",
          "decoder.embed": "decoder_embed", "decoder.blocks": "decoder_blocks", "decoder.norm": "decoder_norm",
          "decoder.pred": "predictor"}
_AFTER = {"encoder.patch_embed": "masking", "decoder.embed": "unshuffle", "decoder.pred": "loss"}
_CLASSIFIER_ENTER = {"patch_embed": "patch_embed", "blocks": "blocks", "fc_norm": "pool", "norm": "pool",
                     "head": "head"}
_CLASSIFIER_AFTER = {"patch_embed": "patch_embed", "blocks": "pool", "head": "loss"}


@contextmanager
def _stage_tracker(model: nn.Module) -> Iterator[list[str]]:
    """Yields a one-item list holding the stage the forward pass is in (module hooks keep it current); for a
    model that is not one of ours, always ``"all"``."""
    from ..classifier import VisionTransformer
    from ..mae import MaskedAutoencoderViT

    if isinstance(model, VisionTransformer):
        root, enter, after = model, _CLASSIFIER_ENTER, _CLASSIFIER_AFTER
    elif isinstance(getattr(model, "model", model), MaskedAutoencoderViT):  # MaskTokensInEncoder wraps one
        root, enter, after = getattr(model, "model", model), _ENTER, _AFTER
    else:  # another implementation (the official classes): one stage, "all"
        yield ["all"]
        return
    current = ["patch_embed"]
    handles = []
    for name, module in root.named_modules():
        key = name.rsplit(".", 1)[0] if name.split(".")[-1].isdigit() else name  # blocks.3 -> blocks
        if key not in enter:
            continue
        handles.append(module.register_forward_pre_hook(lambda *_, s=enter[key]: current.__setitem__(0, s)))
        if key in after and (key != "blocks" or name == f"blocks.{len(root.blocks) - 1}"):  # after the last block
            handles.append(module.register_forward_hook(lambda *_, s=after[key]: current.__setitem__(0, s)))
    try:
        yield current
    finally:
        for handle in handles:
            handle.remove()


class _Held:
    """What the pack hook gives autograd to keep: the saved tensor, weakly referenceable."""

    __slots__ = ("__weakref__", "tensor")

    def __init__(self, tensor: Tensor):
        self.tensor = tensor


def saved_bytes(model: nn.Module, step: Callable[[], Any]) -> dict[str, int]:
    """Bytes autograd keeps for backward after ``step()`` (a forward pass of ``model``), per stage.

    Args:
        model: the model ``step`` runs: the MAE (or the baseline wrapping one), the classifier, or another
            implementation (the official classes: everything in one stage, ``"all"``).
        step: runs the forward pass with autograd on and returns its output (kept alive until counted).

    Returns:
        stage key -> bytes (each storage once, in the first stage that saved it), parameters excluded.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    held: list[tuple[weakref.ref, str, int, int]] = []

    with _stage_tracker(model) as stage:
        def pack(t: Tensor):
            storage = t.untyped_storage()
            if storage.data_ptr() in params:
                return t
            h = _Held(t)
            held.append((weakref.ref(h), stage[0], storage.data_ptr(), storage.nbytes()))
            return h

        def unpack(h):
            return h.tensor if isinstance(h, _Held) else h

        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            output = step()
    counted: dict[int, int] = {}
    per_stage: dict[str, int] = {}
    for ref, where, ptr, nbytes in held:
        if ref() is not None and ptr not in counted:
            counted[ptr] = nbytes
            per_stage[where] = per_stage.get(where, 0) + nbytes
    del output
    return per_stage


class _LiveTensors(TorchDispatchMode):
    """Tracks the storages operations create, and the most bytes of them alive after any operation."""

    def __init__(self, stage: list[str]):
        super().__init__()
        self.stage = stage
        self.alive: dict[int, tuple[StorageWeakRef, int]] = {}
        self.peak: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor):
                storage = t.untyped_storage()
                ptr = storage.data_ptr()
                known = self.alive.get(ptr)
                if ptr not in inputs and (known is None or known[0].expired()):  # a new storage, not a view
                    self.alive[ptr] = (StorageWeakRef(storage), storage.nbytes())
        self.alive = {p: v for p, v in self.alive.items() if not v[0].expired()}
        now = sum(n for _, n in self.alive.values())
        self.peak[self.stage[0]] = max(self.peak.get(self.stage[0], 0), now)
        return out


def live_peak(model: nn.Module, step: Callable[[], Any]) -> dict[str, int]:
    """The most bytes of tensors created by ``step()`` alive at once, per stage (inputs and weights excluded).

    Run it under ``torch.no_grad()`` for an inference peak.
    """
    with _stage_tracker(model) as stage, _LiveTensors(stage) as tracker:
        output = step()
    del output
    return tracker.peak


def train_step_saved(model: nn.Module, imgs: Tensor, mask_ratio: float, noise: Tensor,
                     autocast_dtype: torch.dtype | None = None) -> dict[str, int]:
    """:func:`saved_bytes` of ``model(imgs, mask_ratio, noise)``, optionally under ``torch.autocast``."""
    ctx = torch.autocast(imgs.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()

    def step():
        with ctx:
            return model(imgs, mask_ratio, noise)

    return saved_bytes(model, step)


@dataclass
class _Subject:
    """A model to measure, and its closed form: the MAE (:mod:`.memory`) or a classifier (:mod:`.memory_classifier`)."""

    model: nn.Module
    forward: Callable[[], Any]  # one forward pass (a classifier's: with its loss when training)
    loss: Callable[[Any], Tensor]  # the scalar to back-propagate, from what ``forward`` returned
    estimate: Any  # the MemoryEstimate
    saved: dict[str, int]  # the closed form's saved bytes per stage (train)
    peak: int  # the closed form's inference peak


def _subject(name: str, batch: int, mask_ratio: float, mode: str, dtype: torch.dtype, amp: bool, optimizer: str | None,
             device: torch.device, seed: int, step: Any, overrides: dict[str, Any]) -> _Subject:
    from ..models import create_model, get_classifier, get_variant
    from . import memory as mem
    from . import memory_classifier as cmem

    native = dtype != torch.float32 and not amp
    autocast_dtype = dtype if amp and dtype != torch.float32 else None
    pr = mem.precision(dtype, amp)
    torch.manual_seed(seed)
    if step is None:
        cfg = get_variant(name).config.replace(**overrides)
        model = create_model(name, device=device, **overrides)
    else:
        from ..classifier import VisionTransformer

        step.check_batch(batch, mode)
        cfg = get_classifier(name).config.replace(**overrides)
        model = VisionTransformer(cfg, num_classes=step.num_classes, global_pool=step.global_pool,
                                  linear_probe=step.linear_probe, drop_path_rate=step.drop_path_rate, device=device)
        if step.linear_probe and mode == "train":  # main_linprobe.py: every weight frozen but the head's
            for pname, p in model.named_parameters():
                p.requires_grad_(pname.startswith("head."))
    if native:
        model = model.to(dtype)
    model.train(mode == "train")
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randn(batch, cfg.in_chans, *cfg.image_hw, generator=gen)
    imgs = imgs.to(device=device, dtype=dtype if native else torch.float32)
    noise = torch.rand(batch, cfg.num_patches, generator=gen).to(device)

    def autocast():
        return torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()

    if step is None:
        def forward():
            with autocast():
                return model(imgs, mask_ratio, noise)

        est = mem.estimate(cfg, batch, mask_ratio, mode=mode, dtype=dtype, amp=amp, optimizer=optimizer or "adamw")
        saved = {s.key: s.bytes for s in mem.saved_stages(cfg, batch, mask_ratio, pr)}
        peak = mem.inference_peak(cfg, batch, mask_ratio, pr)
        return _Subject(model, forward, lambda out: out.loss, est, saved, peak)
    from ..recipe import label_smoothing_cross_entropy

    target = torch.randint(0, step.num_classes, (batch,), generator=gen).to(device)

    def classify():
        with autocast():
            logits = model(imgs)
            if mode != "train":
                return logits
            if step.label_smoothing:  # engine_finetune.py's criterion without mixup
                return label_smoothing_cross_entropy(logits, target, step.label_smoothing)
            return torch.nn.functional.cross_entropy(logits, target)

    est = cmem.estimate(cfg, batch, step, mode=mode, dtype=dtype, amp=amp, optimizer=optimizer)
    saved = {s.key: s.bytes for s in cmem.saved_stages(cfg, batch, step, pr)}
    return _Subject(model, classify, lambda loss: loss, est, saved, cmem.inference_peak(cfg, batch, step, pr))


def check_estimate(name: str, batch: int, mask_ratio: float = 0.75, *, mode: str = "train",
                   dtype: torch.dtype = torch.float32, amp: bool = False, optimizer: str | None = None,
                   device: torch.device | str = "cpu", seed: int = 0, step: Any = None,
                   **overrides: Any) -> dict[str, Any]:
    """Run one real step of a registered variant and compare it with its closed form.

    ``step``: None for the MAE (:mod:`mae_core.views.memory`), or a
    :class:`~mae_core.views.memory_classifier.ClassifierStep` for the classifier ``name`` (fine-tuning or
    linear probing, :mod:`mae_core.views.memory_classifier`). ``overrides`` are config fields
    (``img_size=(224, 320)``, ``in_chans=1``): the model is built with them and the closed form reads the
    same config.

    CPU, train: the bytes autograd saves (:func:`saved_bytes`) against the closed form's saved stages,
    stage by stage; they must be equal. CPU, inference: the live tensors' peak (:func:`live_peak`) against
    the closed form's inference peak (equal; under autocast the closed form is an upper bound, as it
    counts every weight copy from the start). CUDA: ``torch.cuda.max_memory_allocated`` over the step
    (weights, images and, in train mode, gradients and optimizer state included) against the estimate's
    total; the difference is reported, not judged (CUDA kernels choose their own workspaces).

    Returns:
        {device, method, measured_bytes, predicted_bytes, difference_bytes, exact, agree, stages}; ``agree``
        is None on CUDA.
    """
    device = torch.device(device)
    subject = _subject(name, batch, mask_ratio, mode, dtype, amp, optimizer, device, seed, step, overrides)
    model, forward, pr = subject.model, subject.forward, subject.estimate.precision
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        if mode == "inference":
            with torch.no_grad():
                forward()
        else:
            opt = _optimizer(subject.estimate.optimizer, model)
            subject.loss(forward()).backward()
            if opt is not None:
                opt.step()
        torch.cuda.synchronize(device)
        measured = torch.cuda.max_memory_allocated(device)
        total = subject.estimate.total
        return {"device": str(device), "method": "torch.cuda.max_memory_allocated over the step",
                "measured_bytes": measured, "predicted_bytes": total, "difference_bytes": total - measured,
                "exact": False, "agree": None, "stages": None}
    if mode == "train":
        measured_stages = saved_bytes(model, forward)
        predicted_stages = subject.saved
        stages = [{"key": k, "measured_bytes": measured_stages.get(k, 0), "predicted_bytes": v,
                   "agree": measured_stages.get(k, 0) == v} for k, v in predicted_stages.items()]
        stray = sorted(set(measured_stages) - set(predicted_stages))
        stages += [{"key": k, "measured_bytes": measured_stages[k], "predicted_bytes": 0, "agree": False}
                   for k in stray]
        measured, predicted = sum(measured_stages.values()), sum(predicted_stages.values())
        return {"device": str(device), "method": "torch.autograd.graph.saved_tensors_hooks, each storage once, "
                                                 "parameters excluded",
                "measured_bytes": measured, "predicted_bytes": predicted, "difference_bytes": predicted - measured,
                "exact": True, "agree": measured == predicted and all(s["agree"] for s in stages),
                "stages": stages}
    with torch.no_grad():
        measured = max(live_peak(model, forward).values())
    predicted = subject.peak
    copies = pr.weight_copies
    return {"device": str(device), "method": "peak of live tensors created by the forward (TorchDispatchMode)",
            "measured_bytes": measured, "predicted_bytes": predicted, "difference_bytes": predicted - measured,
            "exact": not copies, "agree": measured == predicted if not copies else measured <= predicted,
            "stages": None}


def measure_subject(subject: Any, batch: int, mask_ratio: float, device: torch.device, *,
                    stage: Callable[[str], Any] = lambda _: nullcontext(), **options: Any) -> dict[str, Any]:
    """``mae memory --check``: one real step of ``subject`` (a :class:`~mae_core.views.prepare.Subject`) on
    ``device``, after the fit check there, compared with its closed form (:func:`check_estimate`).
    ``options``: mode, dtype, amp, optimizer and step as the report took them; ``stage`` frames the step."""
    from .memory_budget import check_fits

    mode = options["mode"]
    check_fits(subject.config, batch, mask_ratio, what=f"the --check {mode} step of {subject.title}", device=device,
               **options)
    with stage(f"running one {mode} step of {subject.title} at batch {batch} on {device}"):
        return check_estimate(subject.name, batch, mask_ratio, device=device, **options, **subject.overrides)


def _optimizer(name: str, model: nn.Module):
    trainable = [p for p in model.parameters() if p.requires_grad]
    if name == "lars":
        from ..recipe import LARS

        return LARS(trainable, lr=1e-3)
    if name == "sgd":
        return torch.optim.SGD(trainable, lr=1e-3, momentum=0.9)
    if name == "adamw":
        return torch.optim.AdamW(trainable, lr=1e-3)
    return None
