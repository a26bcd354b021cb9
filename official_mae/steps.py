"""Optimizer steps against the official training code: same init, batches and noise; loss, lr and weights.

Paper: MAE Appendix A.1 (pre-training recipe), as ``main_pretrain.py`` + ``engine_pretrain.py`` run it.
Our side is ``mae_core``'s model and :mod:`mae_core.recipe` (groups, AdamW, :func:`~mae_core.recipe.train_steps`).
The official side is the user's clone, imported as it is: ``models_mae.py``, ``util/lr_sched.py`` and
``engine_pretrain.py``'s ``train_one_epoch`` (with ``util/misc.py``'s ``MetricLogger`` and
``NativeScalerWithGradNormCount``), and the parameter groups of ``main_pretrain.py``'s call, timm's
``add_weight_decay`` (``param_groups_weight_decay`` on timm >= 0.6: the same rule for a non-zero decay).
``main_pretrain.py`` itself is not imported (it asserts timm 0.3.2 and needs torchvision's datasets).

The smallest shims, each inside one module's namespace and only while the steps run:

* ``engine_pretrain``'s ``torch.cuda.amp.autocast()`` is a null context and ``torch.cuda.synchronize()``
  does nothing (mixed precision is off: the claim is float32 on the CPU);
* ``util/misc``'s ``NativeScalerWithGradNormCount`` is built with a disabled ``GradScaler`` (scale 1,
  ``step`` = ``optimizer.step()``); its gradient-norm computation runs and changes nothing;
* ``models_mae``'s ``torch.rand`` returns the masking noise of micro-batch i (as ``compare-official``);
* the official ``optimizer.step`` is wrapped to record the step and to advance our loop by one step, so
  the two run in lock-step and each step's weights are compared at once (no copies kept);
* the engine's prints go to stderr.

Shapes: imgs (micro-batches, B, C, H, W), noise (micro-batches, B, L) -> one row per optimizer step.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor, nn

from mae_core.config import MAEConfig

from .imports import ReferenceUnavailable, require_timm
from .official import injected_noise
from .shims import _ProxyModule, compatibility_shims, isolated_import_path

_IMPORTED: dict[Path, SimpleNamespace] = {}

TRAINING_FILES = ("models_mae.py", "engine_pretrain.py", "util/lr_sched.py", "util/misc.py")


def import_official_training(src: str | Path) -> SimpleNamespace:
    """``models_mae``, ``util.lr_sched``, ``util.misc``, ``engine_pretrain`` (and ``util.lr_decay``,
    ``util.lars``, ``engine_finetune`` where present) from the clone ``src``, imported together with the
    compatibility shims (so the engine's ``lr_sched`` is the module returned). Once per folder."""
    from .official import check_official_source

    path = Path(src).expanduser()
    check_official_source(path)
    key = path.resolve()
    missing = [f for f in TRAINING_FILES if not (key / f).is_file()]
    if missing:
        raise ReferenceUnavailable(f"official source {str(path)!r} has no {', '.join(missing)}; pass the root of a "
                                   "full facebookresearch/mae clone with --official-src")
    if key in _IMPORTED:
        return _IMPORTED[key]
    require_timm()
    names = tuple(sorted({p.stem for p in key.iterdir() if p.suffix == ".py" or p.is_dir()}))
    modules: dict[str, Any] = {}
    try:
        with isolated_import_path(key, names), compatibility_shims() as applied:
            for name in ("models_mae", "util.lr_sched", "util.misc", "engine_pretrain"):
                modules[name] = importlib.import_module(name)
            for name, file in (("util.lr_decay", "util/lr_decay.py"), ("util.lars", "util/lars.py"),
                               ("engine_finetune", "engine_finetune.py")):
                if (key / file).is_file():
                    modules[name] = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - whatever the user's code raises, say where it came from
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ReferenceUnavailable(f"importing the official training code from {str(key)!r} failed "
                                   f"({type(exc).__name__}: {first}); is it the facebookresearch/mae source?") from None
    _IMPORTED[key] = SimpleNamespace(
        models_mae=modules["models_mae"], lr_sched=modules["util.lr_sched"], misc=modules["util.misc"],
        engine_pretrain=modules["engine_pretrain"], lr_decay=modules.get("util.lr_decay"),
        lars=modules.get("util.lars"), engine_finetune=modules.get("engine_finetune"), shims=list(applied),
        src=key)
    return _IMPORTED[key]


def official_pretrain_groups(model: nn.Module, weight_decay: float) -> tuple[list[dict], str]:
    """``main_pretrain.py``'s groups: timm's ``add_weight_decay(model, weight_decay)`` (timm 0.3.2), or on a
    timm that no longer has it, ``param_groups_weight_decay`` (same rule and order for a decay > 0)."""
    timm = require_timm().timm
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            import timm.optim.optim_factory as optim_factory
        except ImportError:
            optim_factory = None
    if optim_factory is not None and hasattr(optim_factory, "add_weight_decay"):
        return optim_factory.add_weight_decay(model, weight_decay), f"timm {timm.__version__} add_weight_decay"
    from timm.optim import param_groups_weight_decay

    if not weight_decay:
        raise ReferenceUnavailable(f"timm {timm.__version__} has no add_weight_decay, and its "
                                   "param_groups_weight_decay puts everything in one group for a weight decay of 0: "
                                   "compare with a non-zero --weight-decay")
    return (param_groups_weight_decay(model, weight_decay),
            f"timm {timm.__version__} param_groups_weight_decay (0.3.2's add_weight_decay rule)")


@contextlib.contextmanager
def _cpu_engine(engine: types.ModuleType, misc: types.ModuleType):
    """Inside ``engine`` only: autocast is a null context, ``torch.cuda.synchronize`` does nothing; inside
    ``misc`` only: ``torch.cuda.amp.GradScaler()`` is a disabled scaler. Restored afterwards."""
    amp = _ProxyModule(torch.cuda.amp, {"autocast": lambda *a, **k: contextlib.nullcontext(),
                                        "GradScaler": lambda *a, **k: torch.amp.GradScaler("cuda", enabled=False)})
    cuda = _ProxyModule(torch.cuda, {"synchronize": lambda *a, **k: None, "amp": amp})
    shimmed = _ProxyModule(torch, {"cuda": cuda})
    saved = {m: m.__dict__.get("torch") for m in (engine, misc)}
    for m, original in saved.items():
        if original is not torch:
            raise ReferenceUnavailable(f"the official {m.__name__}.py does not `import torch` as `torch`; cannot "
                                       "disable CUDA autocast and the gradient scaler there")
    try:
        engine.torch = shimmed
        misc.torch = shimmed
        yield
    finally:
        for m, original in saved.items():
            m.torch = original


@contextlib.contextmanager
def _official_exit():
    """The official loop calls ``sys.exit(1)`` on a non-finite loss; say so instead of leaving the process."""
    try:
        yield
    except SystemExit:
        raise ReferenceUnavailable("the official training loop stopped (sys.exit): its loss was not finite "
                                   "(NaN or inf); check the weights and images") from None


def _max_diff(ours: dict[str, Tensor], ref: dict[str, Tensor]) -> tuple[float, str | None]:
    worst, where = 0.0, None
    for name, t in ref.items():
        d = (ours[name].detach().double() - t.detach().double()).abs().max().item() if t.numel() else 0.0
        if d > worst or (d != d):  # NaN counts as a difference
            worst, where = d, name
    return worst, where


def pretrain_steps(config: MAEConfig, official_src: str | Path, imgs: Tensor, noises: Tensor, *, lr: float,
                   warmup_epochs: float, epochs: float, min_lr: float, weight_decay: float, accum_iter: int,
                   mask_ratio: float = 0.75, seed: int = 0, epoch: int = 0,
                   model: nn.Module | None = None) -> dict[str, Any]:
    """Run ``len(imgs) // accum_iter`` optimizer steps of pre-training on both sides and compare each step.

    Args:
        config: the model's configuration (both sides are built from it; the official one by its own
            factory or class).
        official_src: the official clone.
        imgs: (S, B, C, H, W), S = steps x accum_iter micro-batches; noises: (S, B, L).
        lr: the absolute learning rate; warmup_epochs, epochs, min_lr: the schedule; the S micro-batches
            are one epoch (the data loader's length), starting at ``epoch``.
        model: our model (default: built from ``config`` with ``seed``); it is trained in place.

    Returns:
        ``steps``: [{step, loss: {ours, official}, lr: [{group, weight_decay, ours, official}],
        max_param_diff, worst_param, passed}], ``groups`` (names per group, both sides), ``passed``,
        ``first_failure``, ``notes``.
    """
    from mae_core import recipe
    from mae_core.mae import MaskedAutoencoderViT

    from .official import OfficialReference

    off = import_official_training(official_src)
    if model is None:
        torch.manual_seed(seed)
        model = MaskedAutoencoderViT(config)
    ref = OfficialReference(config, official_src)
    ref.load_official_state_dict({k: v.detach().clone() for k, v in model.official_state_dict().items()})
    official = ref.model
    official_model_module = ref.module

    # the official groups and optimizer, as main_pretrain.py builds them
    off_groups, rule = official_pretrain_groups(official, weight_decay)
    off_opt = torch.optim.AdamW(off_groups, lr=lr, betas=(0.9, 0.95))
    # ours
    named = recipe.official_named_parameters(model)
    groups = recipe.pretrain_param_groups(named, weight_decay)
    opt = recipe.make_optimizer("pretrain", groups, lr)

    def loss_fn(m: nn.Module, batch: Tensor, i: int) -> Tensor:
        return m(batch, mask_ratio, noises[i]).loss

    ours_iter = recipe.iter_train_steps(model, list(imgs), opt, loss_fn, lr=lr, warmup_epochs=warmup_epochs,
                                        epochs=epochs, min_lr=min_lr, accum_iter=accum_iter, epoch=epoch)
    lock = LockStep(official, off_opt, ours_iter, named, groups, accum_iter)
    official.register_forward_hook(lambda _m, _i, out: lock.official_losses.append(out[0].item()))
    misc, engine = off.misc, off.engine_pretrain
    args = SimpleNamespace(accum_iter=accum_iter, mask_ratio=mask_ratio, lr=lr, min_lr=min_lr,
                           warmup_epochs=warmup_epochs, epochs=epochs)
    loader = [(img, torch.zeros(img.shape[0], dtype=torch.long)) for img in imgs]
    with _cpu_engine(engine, misc):
        scaler = misc.NativeScalerWithGradNormCount()
        with (injected_noise(official_model_module, noises, sequence=True) as calls,
              contextlib.redirect_stdout(sys.stderr)):
            with _official_exit():
                engine.train_one_epoch(official, loader, off_opt, torch.device("cpu"), epoch, scaler,
                                       log_writer=None, args=args)
    if len(calls) != len(imgs):
        raise ReferenceUnavailable(f"the official forward drew its masking noise {len(calls)} times for {len(imgs)} "
                                   "micro-batches, so the same noise cannot be injected")
    return {
        "stage": "pretrain", "official_rule": rule, "shims": off.shims, **lock.result(len(imgs)),
        "notes": ["mixed precision and the gradient scaler are off on both sides (float32 on the CPU); "
                  "engine_pretrain.py's CUDA autocast and synchronize are shimmed to no-ops"],
    }


def finetune_steps(model: nn.Module, official_src: str | Path, imgs: Tensor, targets: Tensor, *, lr: float,
                   warmup_epochs: float, epochs: float, min_lr: float, weight_decay: float, layer_decay: float,
                   accum_iter: int, smoothing: float = 0.1, seed: int = 0, epoch: int = 0) -> dict[str, Any]:
    """Fine-tuning optimizer steps: our classifier (:class:`mae_core.classifier.VisionTransformer`, global
    pool, its drop path) with :func:`mae_core.recipe.finetune_param_groups`, AdamW and
    :func:`mae_core.recipe.label_smoothing_cross_entropy`, against the official ``models_vit.py`` (same
    sizes and drop path rate), ``util/lr_decay.py``'s groups, timm's ``LabelSmoothingCrossEntropy`` and
    ``engine_finetune.py``'s ``train_one_epoch`` (no mixup / cutmix, no gradient clipping: the published
    commands' ``--clip_grad`` is unset). Drop path draws from the global RNG: both sides reseed it with
    ``seed + i`` before micro-batch i, so they drop the same samples.

    Shapes: imgs (S, B, C, H, W), targets (S, B) class indices; S = steps x accum_iter.
    """
    from functools import partial

    from mae_core import recipe

    from .classifier import import_official_vit

    off = import_official_training(official_src)
    if off.engine_finetune is None or off.lr_decay is None:
        raise ReferenceUnavailable(f"official source {str(official_src)!r} has no engine_finetune.py or "
                                   "util/lr_decay.py; pass a full facebookresearch/mae clone")
    vit, shims = import_official_vit(official_src)
    c = model.config
    rate = max((getattr(b, "drop_path_rate", 0.0) for b in model.blocks), default=0.0)
    with torch.device("meta"):
        official = vit.VisionTransformer(
            img_size=c.img_size, patch_size=c.patch_size, in_chans=c.in_chans, num_classes=model.num_classes,
            embed_dim=c.embed_dim, depth=c.depth, num_heads=c.num_heads, mlp_ratio=c.mlp_ratio, qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=c.ln_eps), global_pool=model.global_pool,
            drop_path_rate=model.drop_path_rate)
    official.load_state_dict({k: v.detach().clone() for k, v in model.official_state_dict().items()}, assign=True)
    for p in official.parameters():
        p.requires_grad_(True)

    off_groups = off.lr_decay.param_groups_lrd(official, weight_decay, no_weight_decay_list=official.no_weight_decay(),
                                               layer_decay=layer_decay)
    off_opt = torch.optim.AdamW(off_groups, lr=lr)
    named = list(model.named_parameters())
    groups = recipe.finetune_param_groups(named, weight_decay, layer_decay)
    opt = recipe.make_optimizer("finetune", groups, lr)

    def loss_fn(m: nn.Module, batch: Tensor, i: int) -> Tensor:
        torch.manual_seed(seed + i)
        return recipe.label_smoothing_cross_entropy(m(batch), targets[i], smoothing)

    ours_iter = recipe.iter_train_steps(model, list(imgs), opt, loss_fn, lr=lr, warmup_epochs=warmup_epochs,
                                        epochs=epochs, min_lr=min_lr, accum_iter=accum_iter, epoch=epoch)
    lock = LockStep(official, off_opt, ours_iter, named, groups, accum_iter)
    forwards: list[int] = []

    def reseed(_module, _inputs):
        torch.manual_seed(seed + len(forwards))
        forwards.append(1)

    official.register_forward_pre_hook(reseed)
    from timm.loss import LabelSmoothingCrossEntropy

    smoothed = LabelSmoothingCrossEntropy(smoothing=smoothing)

    def criterion(outputs: Tensor, target: Tensor) -> Tensor:
        loss = smoothed(outputs, target)
        lock.official_losses.append(loss.item())
        return loss

    misc, engine = off.misc, off.engine_finetune
    args = SimpleNamespace(accum_iter=accum_iter, lr=lr, min_lr=min_lr, warmup_epochs=warmup_epochs, epochs=epochs)
    loader = list(zip(imgs, targets, strict=True))
    with _cpu_engine(engine, misc):
        scaler = misc.NativeScalerWithGradNormCount()
        with contextlib.redirect_stdout(sys.stderr):
            with _official_exit():
                engine.train_one_epoch(official, criterion, loader, off_opt, torch.device("cpu"), epoch, scaler,
                                       None, None, log_writer=None, args=args)
    return {
        "stage": "finetune", "official_rule": "util/lr_decay.py param_groups_lrd", "shims": [*off.shims, *shims],
        **lock.result(len(imgs)),
        "notes": ["mixed precision and the gradient scaler are off on both sides (float32 on the CPU); "
                  "engine_finetune.py's CUDA autocast and synchronize are shimmed to no-ops",
                  "no mixup / cutmix (the published commands use --mixup 0.8 --cutmix 1.0: their random mixing "
                  "is data-side and not part of this comparison); label smoothing "
                  f"{smoothing:g} by timm's LabelSmoothingCrossEntropy on the official side; drop path "
                  f"{rate:g} at the last block, both sides reseeded per micro-batch"],
    }


class LockStep:
    """Runs our loop one optimizer step at a time from inside the official ``optimizer.step`` and compares
    the step at once: each micro-batch's loss (the official ones appended to :attr:`official_losses` by
    the caller's hook), every group's lr, and every parameter (by official name).

    Groups are matched by their tensors (as sets: the order inside a group changes nothing in AdamW) and
    must agree in weight decay and lr scale."""

    def __init__(self, official: nn.Module, off_opt: torch.optim.Optimizer, ours_iter: Any,
                 ours_named: list[tuple[str, Tensor]], ours_groups: list[dict], accum_iter: int):
        self.names_of = {id(p): n for n, p in official.named_parameters()}
        self.official_params = dict(official.named_parameters())
        self.ours = dict(ours_named)
        self.accum_iter = accum_iter
        self.official_losses: list[float] = []
        self.rows: list[dict[str, Any]] = []
        self.groups, self.match = self._match(ours_groups, off_opt)
        step = off_opt.step

        def recorded_step(*a, **k):
            result = step(*a, **k)
            off_lrs = [g["lr"] for g in off_opt.param_groups]
            record = next(ours_iter)
            self._compare(record, off_opt, off_lrs)
            return result

        off_opt.step = recorded_step

    def _match(self, ours_groups: list[dict], off_opt: torch.optim.Optimizer) -> tuple[list[dict], list[int | None]]:
        rows, match, used = [], [], set()
        for j, g in enumerate(off_opt.param_groups):
            names = [self.names_of[id(p)] for p in g["params"]]
            k = next((i for i, o in enumerate(ours_groups) if sorted(o["param_names"]) == sorted(names)), None)
            o = ours_groups[k] if k is not None else None
            used.add(k)
            match.append(k)
            rows.append({"group": j, "weight_decay": g["weight_decay"], "lr_scale": g.get("lr_scale"),
                         "ours": o["param_names"] if o else [], "official": names,
                         "same": o is not None and o["weight_decay"] == g["weight_decay"]
                         and o.get("lr_scale") == g.get("lr_scale")})
        for i, o in enumerate(ours_groups):
            if i not in used:
                rows.append({"group": len(rows), "weight_decay": o["weight_decay"], "lr_scale": o.get("lr_scale"),
                             "ours": o["param_names"], "official": [], "same": False})
        return rows, match

    def _compare(self, record: Any, off_opt: torch.optim.Optimizer, off_lrs: list[float]) -> None:
        worst, where = _max_diff(self.ours, self.official_params)
        taken = self.official_losses[len(self.official_losses) - self.accum_iter:]
        lrs = [{"group": j, "weight_decay": g["weight_decay"],
                "ours": record.lrs[k] if k is not None else None, "official": v}
               for j, (g, v, k) in enumerate(zip(off_opt.param_groups, off_lrs, self.match, strict=True))]
        same = record.losses == taken and all(r["ours"] == r["official"] for r in lrs) and worst == 0.0
        self.rows.append({"step": record.step, "loss": {"ours": record.losses, "official": taken}, "lr": lrs,
                          "max_param_diff": worst, "worst_param": where, "passed": bool(same)})

    def result(self, micro_batches: int) -> dict[str, Any]:
        passed = (all(r["same"] for r in self.groups) and all(r["passed"] for r in self.rows)
                  and len(self.rows) == micro_batches // self.accum_iter)
        first = next((f"groups ({r['group']})" for r in self.groups if not r["same"]),
                     next((f"step {r['step']}" for r in self.rows if not r["passed"]), None))
        return {"groups": self.groups, "steps": self.rows, "passed": passed, "first_failure": None if passed else first}


def _micro_batches(config: MAEConfig, micro: int, images: list[str] | None, batch: int, seed: int,
                   resize: str) -> tuple[Tensor, list[str]]:
    """``micro`` micro-batches (micro, B, C, H, W): the images of ``images`` each time, or seeded random normal
    images (seed + i); and the description of the first."""
    from mae_core.io.images import load_batch

    imgs, described = [], []
    for i in range(micro):
        x, names = load_batch(images or None, config.img_size, batch, seed + i, config.in_chans, resize=resize)
        imgs.append(x)
        described = described or names
    return torch.stack(imgs), described


def _lr_and_epoch(pub: Any, epoch: int | None) -> tuple[float, int]:
    """The published absolute lr (blr x effective batch / 256) and the epoch the steps run as (default: the
    last warm-up epoch)."""
    from mae_core import recipe

    lr = recipe.absolute_lr(pub.blr, pub.batch_size, pub.accum_iter, pub.world_size)
    return lr, pub.warmup_epochs - 1 if epoch is None else epoch


def _report(spec: Any, steps: int, accum_iter: int, imgs: Tensor, described: list[str], seed: int, epoch: int,
            lr: float, result: dict[str, Any], *, mask_ratio: float | None = None, norm_pix_loss: bool | None = None,
            weights: str | None = None) -> dict[str, Any]:
    """The report of either stage: what ran (plain data), then the groups and steps of :class:`LockStep`."""
    return {"variant": spec.name, "title": spec.title, "steps_requested": steps, "accum_iter": accum_iter,
            "batch": int(imgs.shape[1]), "images": described, "seed": seed, "mask_ratio": mask_ratio,
            "norm_pix_loss": norm_pix_loss, "epoch": epoch, "lr": lr,
            "weights": weights or f"seeded initialisation (seed {seed})", **result}


def compare_steps(variant: str, *, official_src: str | Path, steps: int, accum_iter: int = 1, batch: int = 2,
                  images: list[str] | None = None, seed: int = 0, mask_ratio: float = 0.75,
                  epoch: int | None = None, norm_pix_loss: bool | None = None, weights: Any = None,
                  overrides: dict | None = None, resize: str = "stretch") -> dict[str, Any]:
    """The service behind ``mae compare-official --steps N``: N pre-training optimizer steps of ``variant``
    under its published recipe (:func:`mae_core.recipe.published`), ours against the official loop.

    The absolute lr is the published one (blr x the published effective batch / 256); the N x accum_iter
    micro-batches are one epoch of the data loader, run as epoch ``epoch`` (default: the last warm-up
    epoch, so the rate is near its peak and still in the warm-up). Micro-batch i has the images of
    ``images`` (each time) or seeded random normal images (seed + i), and its own masking noise (seed + i).
    """
    from mae_core import recipe
    from mae_core.loading.weights import build_model
    from mae_core.models import get_variant

    from .compare import make_noise

    spec = get_variant(variant)
    pub = recipe.published("pretrain", spec.short)
    overrides = dict(overrides or {})
    if norm_pix_loss is None:
        norm_pix_loss = bool(weights.hints.get("norm_pix_loss")) if weights is not None else False
    model = build_model(spec.name, weights, seed=seed, norm_pix_loss=norm_pix_loss, **overrides)
    config = model.config
    micro = steps * accum_iter
    imgs, described = _micro_batches(config, micro, images, batch, seed, resize)
    noises = torch.stack([make_noise(imgs.shape[1], config.num_patches, seed + i) for i in range(micro)])
    lr, epoch = _lr_and_epoch(pub, epoch)
    result = pretrain_steps(config, official_src, imgs, noises, lr=lr, warmup_epochs=pub.warmup_epochs,
                            epochs=pub.epochs, min_lr=pub.min_lr, weight_decay=pub.weight_decay,
                            accum_iter=accum_iter, mask_ratio=mask_ratio, seed=seed, epoch=epoch, model=model)
    result["notes"] = [*result["notes"], *model.pos_embed_notes,
                       f"published pre-training recipe of {spec.title}: lr {lr:g} (blr {pub.blr:g} x "
                       f"{pub.effective_batch} / 256), warm-up {pub.warmup_epochs}, {pub.epochs} epochs, weight decay "
                       f"{pub.weight_decay:g}; the {micro} micro-batches are epoch {epoch}"]
    return _report(spec, steps, accum_iter, imgs, described, seed, epoch, lr, result, mask_ratio=mask_ratio,
                   norm_pix_loss=norm_pix_loss, weights=getattr(weights, "path", None))


def compare_finetune_steps(variant: str, *, official_src: str | Path, steps: int, accum_iter: int = 1,
                           batch: int = 2, images: list[str] | None = None, seed: int = 0, epoch: int | None = None,
                           num_classes: int = 1000, overrides: dict | None = None,
                           resize: str = "stretch") -> dict[str, Any]:
    """The service behind ``mae compare-official --steps N --stage finetune``: N fine-tuning optimizer steps
    of ``variant``'s classifier (global pool, the published drop path) from our seeded initialisation,
    under the published fine-tuning recipe (layer decay, blr, warm-up), against the official loop.
    Micro-batch i: the images of ``images`` or seeded random normal images (seed + i), and seeded labels."""
    from mae_core import recipe
    from mae_core.classifier import VisionTransformer
    from mae_core.models import get_variant

    spec = get_variant(variant)
    pub = recipe.published("finetune", spec.short)
    config = spec.config.replace(**dict(overrides or {}))
    torch.manual_seed(seed)
    model = VisionTransformer(config, num_classes=num_classes, global_pool=True, drop_path_rate=pub.drop_path)
    micro = steps * accum_iter
    imgs, described = _micro_batches(config, micro, images, batch, seed, resize)
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, num_classes, (micro, imgs.shape[1]), generator=g)
    lr, epoch = _lr_and_epoch(pub, epoch)
    result = finetune_steps(model, official_src, imgs, targets, lr=lr, warmup_epochs=pub.warmup_epochs,
                            epochs=pub.epochs, min_lr=pub.min_lr, weight_decay=pub.weight_decay,
                            layer_decay=pub.layer_decay, accum_iter=accum_iter, seed=seed, epoch=epoch)
    result["notes"] = [*result["notes"],
                       f"published fine-tuning recipe of {spec.title}: lr {lr:g} (blr {pub.blr:g} x "
                       f"{pub.effective_batch} / 256), layer decay {pub.layer_decay}, drop path {pub.drop_path}, "
                       f"warm-up {pub.warmup_epochs}, {pub.epochs} epochs; the {micro} micro-batches are epoch "
                       f"{epoch}; seeded labels of {num_classes} classes"]
    return _report(spec, steps, accum_iter, imgs, described, seed, epoch, lr, result)

