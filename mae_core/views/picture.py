"""A titled grid of image panels as one PNG, drawn with Pillow (the layout of the official MAE demo).

Paper: MAE Fig. 2 / Fig. 3 (each row: masked input, reconstruction, original).

Shapes: panels are uint8 arrays (S, S, 3), all the same size; the picture is one row per image and
one column per panel, a title strip above every panel and an optional header line on top.
Text uses Pillow's default font, so the picture needs no font files. Pillow (a dependency of the
package) is imported only when a picture is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..io.files import atomic_write

BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


@dataclass(frozen=True)
class Layout:
    """Where everything goes, in pixels. Boxes are (left, top, right, bottom), right/bottom exclusive."""

    rows: int
    cols: int
    panel: int  # S: side of one square panel
    header: bool = True
    margin: int = 8  # around the whole picture
    gap: int = 8  # between panels, horizontally and between rows
    title_height: int = 18  # the strip above each panel
    header_height: int = 20  # the line above the first row

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole picture."""
        width = 2 * self.margin + self.cols * self.panel + (self.cols - 1) * self.gap
        height = (2 * self.margin + self._header() + self.rows * (self.title_height + self.panel)
                  + (self.rows - 1) * self.gap)
        return width, height

    def _header(self) -> int:
        return self.header_height if self.header else 0

    def title_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        left = self.margin + col * (self.panel + self.gap)
        top = self.margin + self._header() + row * (self.title_height + self.panel + self.gap)
        return left, top, left + self.panel, top + self.title_height

    def panel_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        left, _, right, bottom = self.title_box(row, col)
        return left, bottom, right, bottom + self.panel


def to_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) floats in [0, 1] -> uint8 (H, W, 3), rounded to the nearest level."""
    return (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def default_font(size: int = 12):
    """Pillow's built-in font (its FreeType version at ``size`` when available, else the bitmap one)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, OSError):  # Pillow < 10.1 or no FreeType: fixed bitmap font
        return ImageFont.load_default()


def render(panels: list[list[np.ndarray]], titles: list[list[str]], header: str | None = None):
    """Compose the picture.

    Args:
        panels: ``panels[row][col]``, uint8 (S, S, 3), every row with the same number of panels.
        titles: ``titles[row][col]``, drawn centred above each panel (shortened with "..." to fit).
        header: one line above the first row, or ``None``.

    Returns:
        a ``PIL.Image.Image`` (RGB) of size :attr:`Layout.size`.
    """
    from PIL import Image, ImageDraw

    rows, cols = len(panels), len(panels[0])
    side = panels[0][0].shape[0]
    layout = Layout(rows, cols, side, header=header is not None)
    picture = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(picture)
    font = default_font()
    if header is not None:
        width = layout.size[0] - 2 * layout.margin
        draw.text((layout.margin, layout.margin + 2), _fit(draw, header, font, width), fill=TEXT, font=font)
    for r in range(rows):
        for c in range(cols):
            picture.paste(Image.fromarray(panels[r][c], "RGB"), layout.panel_box(r, c)[:2])
            left, top, right, bottom = layout.title_box(r, c)
            text = _fit(draw, titles[r][c], font, right - left)
            text_width = draw.textlength(text, font=font)
            draw.text((left + (right - left - text_width) / 2, top + 2), text, fill=TEXT, font=font)
    return picture


def _fit(draw, text: str, font, width: float) -> str:
    """``text`` shortened with "..." until it is at most ``width`` pixels wide."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def save_png(picture, path: str | Path) -> None:
    """Write the picture as PNG, all or nothing (no metadata, so the file depends on the pixels only)."""
    with atomic_write(path, what="picture") as f:
        picture.save(f, format="PNG")
