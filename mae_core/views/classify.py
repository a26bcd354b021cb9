"""What a fine-tuned MAE sees in a photo: the top-k ImageNet-1k classes with their probabilities
(``mae classify``).

Paper: MAE Sec. 4 / Table 3 (the fine-tuned classifiers, 83.6 / 85.9 / 86.9 % top-1 for ViT-B/L/H) and
Appendix A.1; the input as the official evaluation prepares it (``util/datasets.py``: short side 256,
bicubic, centre crop 224, ImageNet mean/std; ``mae_core.io.images``, preset ``eval``).

Shapes: images -> (B, 3, 224, 224) -> logits (B, num_classes) -> softmax -> per image the ``top``
``{index, label, probability}`` entries, most probable first.

Class names: ``mae_core/data/imagenet1k_classes.txt`` (1000 lines, index order; its header names the
source). A classifier with another number of classes gets indices only (``label`` null), said once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, SettingError

CLASSES_FILE = Path(__file__).resolve().parents[1] / "data" / "imagenet1k_classes.txt"
IMAGENET_CLASSES = 1000


@cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order (from the shipped data file)."""
    lines = CLASSES_FILE.read_text(encoding="utf-8").splitlines()
    names = tuple(line for line in lines if line and not line.startswith("#"))
    if len(names) != IMAGENET_CLASSES:
        raise ConfigError(f"{CLASSES_FILE} holds {len(names)} class names, not {IMAGENET_CLASSES}; "
                          "reinstall mae-inspect")
    return names


def classes_source() -> str:
    """The data file's header line that names where the class names come from."""
    for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines():
        if "Source:" in line:
            return line.lstrip("# ").strip()
    return str(CLASSES_FILE)


def top_k(logits: torch.Tensor, k: int, labels: tuple[str, ...] | None) -> list[list[dict[str, Any]]]:
    """(B, num_classes) logits -> per image the ``k`` most probable classes (softmax in float32)."""
    probs = logits.detach().float().softmax(dim=-1)
    values, indices = probs.topk(k, dim=-1)
    return [[{"index": int(i), "label": labels[int(i)] if labels else None, "probability": float(p)}
             for p, i in zip(row_p, row_i, strict=True)] for row_p, row_i in zip(values, indices, strict=True)]


def classify(weights: str | Path | None, images: list[str | Path], *, top: int = 5, resize: str = "eval",
             classifier: str = "vit_base_patch16", seed: int = 0, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Classify image files with a fine-tuned or linear-probe checkpoint (or, without one, an untrained
    seeded classifier, whose classes mean nothing).

    Args:
        weights: a classifier checkpoint (official ``finetune/mae_finetuned_vit_*.pth``, a file written by
            ``main_finetune.py`` / ``main_linprobe.py``, timm names); None: seeded, untrained.
        images: image files (one or more).
        top: how many classes per image (1 to the number of classes).
        resize: ``eval`` (the official evaluation transform), ``center-crop`` or ``stretch``.
        classifier: the classifier built without weights.
        seed: its initialisation seed.
        device: where it runs.

    Returns:
        ``{"model", "title", "weights", "head", "num_classes", "labels", "resize", "images", "top" (per
        image a list of {index, label, probability}), "notes"}``.

    Raises:
        SettingError: ``top`` out of range, no images. CheckpointError: the file holds no classifier.
    """
    from ..finetune import build_classifier, read_classifier
    from ..io.images import eval_normalize, load_image, normalize
    from ..models import create_classifier, get_classifier

    if not images:
        raise SettingError("image", "give at least one image file to classify")
    notes: list[str] = []
    if weights is not None:
        state_dict, spec = read_classifier(weights)
        model = build_classifier(state_dict, spec, device=device)
        name, head = spec.name, spec.head
    else:
        torch.manual_seed(seed)
        model = create_classifier(classifier, global_pool=True, device=device).eval()
        name = get_classifier(classifier).name
        head = "fine-tuned (Linear), global pool (fc_norm), 1000 classes"
        notes.append(f"no --weights: the classifier is untrained (seed {seed}), so its classes are meaningless; "
                     "pass a fine-tuned checkpoint (mae download mae_finetuned_vit_base)")
    n = model.num_classes
    if not 1 <= top <= n:
        raise SettingError("top", f"{top} is out of range: the classifier has {n} classes; give 1 to {n}")
    _check_fits(model, len(images), device)  # before any image is read
    labels = imagenet_classes() if n == IMAGENET_CLASSES else None
    if labels is None:
        notes.append(f"the classifier has {n} classes, not ImageNet-1k's {IMAGENET_CLASSES}: indices only, no names")
    size = model.config.img_size
    arrays = [load_image(p, size, resize=resize) for p in images]
    x = eval_normalize(arrays) if resize == "eval" else normalize(arrays)
    with torch.no_grad():
        logits = model(x.to(device))
    return {
        "model": name, "title": get_classifier(name).title, "weights": str(weights) if weights else None,
        "head": head, "num_classes": n, "labels": classes_source() if labels else None, "resize": resize,
        "images": [str(p) for p in images], "top": top_k(logits.cpu(), top, labels), "notes": notes,
    }


def _check_fits(model: Any, count: int, device: torch.device | str) -> None:
    """Refuse a batch of ``count`` images whose forward pass cannot fit or would run for too long
    (:func:`~mae_core.views.memory_budget.check_fits` on the classifier's closed form)."""
    from .memory_classifier import ClassifierStep
    from .prepare import check_forward_fits

    check_forward_fits(model.config, "", count, device, weights_resident=True, classifier=ClassifierStep.of(model),
                       what=f"classifying {count} image(s)")
