"""`mae classify`: the top-k ImageNet-1k classes of a fine-tuned (or linear-probe) MAE for image files.

Paper: MAE Sec. 4 / Table 3 (the fine-tuned classifiers) and Appendix A.1; the official evaluation
transform (short side 256 bicubic, centre crop 224, ImageNet mean/std).
Service: :func:`mae_core.views.classify.classify`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mae_cli.common import (BadInput, DeviceOpt, ImageOpt, SeedOpt, VariantOpt, WeightsOpt,
                            check_images, esc, note, out, progress, resolve_device, run)

TopOpt = Annotated[int, typer.Option("--top", "-k", help="How many classes per image (1 to the class count).")]
ResizeOpt = Annotated[str, typer.Option(
    "--resize", help="eval (the official evaluation transform: short side 256, bicubic, centre crop 224, "
                     "torchvision's arithmetic), center-crop (short side to 224, centre) or stretch (224 x 224).")]


def command(weights: WeightsOpt = None, image: ImageOpt = None, top: TopOpt = 5, resize: ResizeOpt = "eval",
            variant: VariantOpt = None, seed: SeedOpt = 0, device: DeviceOpt = "cpu") -> None:
    """Classify image files with a fine-tuned MAE: the --top most probable ImageNet-1k classes of each,
    with names and softmax probabilities. --weights: a fine-tuned or linear-probe checkpoint (official
    finetune/mae_finetuned_vit_*.pth, main_finetune.py / main_linprobe.py output, timm names); without it,
    --variant (default vit_base_patch16) builds an untrained seeded classifier.
    The input is prepared as the official evaluation does (main_finetune.py --eval). Without --weights the
    classifier is untrained and its classes mean nothing.

    JSON (--json), one document with the keys:
      model, title, weights (null without), head, num_classes, labels (the class names' source, or null
      when the classifier has no ImageNet-1k head: indices only), resize, images (list of str), notes,
      top: with one image, that image's list of {index, label, probability} (most probable first); with
      several images, one such list per image, in --image order.
    """

    run(lambda: compute(weights, image, top, resize, variant, seed, device), render)


def compute(weights: Path | None, image: list[Path] | None, top: int, resize: str, variant: str | None, seed: int,
            device: str) -> dict[str, Any]:
    from mae_core.io.images import RESIZE_PRESETS
    from mae_core.views.classify import classify

    if not image:
        raise BadInput("give an image file to classify with --image FILE (repeat it for several)")
    if top < 1:
        raise BadInput(f"--top {top}: give at least 1 class per image")
    preset = resize.strip().lower()
    if preset not in RESIZE_PRESETS:
        raise BadInput(f"--resize {resize!r} is not a preset; use {' or '.join(RESIZE_PRESETS)}")
    check_images(image)
    dev = resolve_device(device)
    with progress("classifying"):
        report = classify(weights, list(image), top=top, resize=preset,
                          classifier=variant or "vit_base_patch16", seed=seed, device=dev)
    for line in report["notes"]:
        note(line)
    if len(report["top"]) == 1:
        report["top"] = report["top"][0]
    return report


def render(r: dict[str, Any]) -> None:
    from rich.table import Table

    per_image = [r["top"]] if r["top"] and isinstance(r["top"][0], dict) else r["top"]
    out.print(f"{esc(r['title'])} classifier ({esc(r['model'])}): {esc(r['head'])}; weights: "
              f"{esc(r['weights'] or 'none (untrained)')}; input: {esc(r['resize'])} preprocessing", highlight=False)
    for path, rows in zip(r["images"], per_image, strict=True):
        table = Table(title=esc(path))
        for column in ("rank", "class", "label", "probability"):
            table.add_column(column, justify="right" if column in ("rank", "class", "probability") else "left")
        for rank, row in enumerate(rows, 1):
            table.add_row(str(rank), str(row["index"]), esc(row["label"] or "-"), f"{row['probability']:.4f}")
        out.print(table)
    if r["labels"]:
        out.print(f"class names: {esc(r['labels'])}", highlight=False)
