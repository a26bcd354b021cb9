"""A titled grid of image panels as one PNG, drawn with Pillow (the layout of the official MAE demo).

Paper: MAE Fig. 2 / Fig. 3 (each row: masked input, reconstruction, original).

Shapes: panels are uint8 arrays (H, W, 3), all the same size; the picture is one row per image and
one column per panel, a title strip above every panel and an optional header line on top.
Also the attention picture (``mae attention --png``) and the colour map its heat panels use.
Text uses Pillow's default font, so the picture needs no font files. Pillow (a dependency of the
package) is imported only when a picture is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    panel: int  # W: width of one panel (its side when square)
    header: bool = True
    margin: int = 8  # around the whole picture
    gap: int = 8  # between panels, horizontally and between rows
    title_height: int = 18  # the strip above each panel
    header_height: int = 20  # the line above the first row
    panel_height: int | None = None  # H of one panel; None: square panels (H = W)

    @property
    def _panel_h(self) -> int:
        return self.panel if self.panel_height is None else self.panel_height

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole picture."""
        width = 2 * self.margin + self.cols * self.panel + (self.cols - 1) * self.gap
        height = (2 * self.margin + self._header() + self.rows * (self.title_height + self._panel_h)
                  + (self.rows - 1) * self.gap)
        return width, height

    def _header(self) -> int:
        return self.header_height if self.header else 0

    def title_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        left = self.margin + col * (self.panel + self.gap)
        top = self.margin + self._header() + row * (self.title_height + self._panel_h + self.gap)
        return left, top, left + self.panel, top + self.title_height

    def panel_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        left, _, right, bottom = self.title_box(row, col)
        return left, bottom, right, bottom + self._panel_h


def to_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) or grayscale (1, H, W) floats in [0, 1] -> uint8 (H, W, 3), rounded to the nearest level."""
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
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
        panels: ``panels[row][col]``, uint8 (H, W, 3), all the same size, every row with the same number of panels.
        titles: ``titles[row][col]``, drawn centred above each panel (shortened with "..." to fit).
        header: one line above the first row, or ``None``.

    Returns:
        a ``PIL.Image.Image`` (RGB) of size :attr:`Layout.size`.
    """
    from PIL import Image, ImageDraw

    rows, cols = len(panels), len(panels[0])
    height, width = panels[0][0].shape[:2]
    layout = Layout(rows, cols, width, header=header is not None, panel_height=None if height == width else height)
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


def save_png(picture, path: str | Path, *, follow_symlink: bool = False) -> None:
    """Write the picture as PNG, all or nothing (no metadata, so the file depends on the pixels only);
    a ``path`` that is a symbolic link is refused unless ``follow_symlink`` (then its target is replaced)."""
    with atomic_write(path, follow_symlink=follow_symlink, what="picture") as f:
        picture.save(f, format="PNG")


# --- attention maps (`mae attention --png`) ------------------------------------------------------------

def attention_picture(image: np.ndarray, maps: list[tuple[str, np.ndarray]], decoder_mix: list[dict],
                      header: str, side: int = 224, per_row: int = 5):
    """Heat maps on the patch grid beside the image, a colour bar, and the decoder's attention mix.

    Args:
        image: uint8 (S, S, 3), the input with its masked patches greyed.
        maps: (title, (h, w) grid) pairs, NaN where the encoder did not see the patch; each panel's colours
            run from its own minimum to its maximum, the range its title states.
        decoder_mix: rows of :meth:`mae_core.views.attention.AttentionMaps.decoder_mix` (may be empty).
        header: one line on top.
    """
    from PIL import Image, ImageDraw

    grid = maps[0][1].shape if maps else None
    panels = [("input (grey: masked)", _square(image, side, grid))]
    for title, grid in maps:
        panel, (lo, hi) = heat_panel(grid, side)
        panels.append((f"{title} ({lo:.3f}-{hi:.3f})", panel))
    cols = min(per_row, len(panels))
    rows = -(-len(panels) // cols)
    layout = Layout(rows, cols, side)
    bar_w, legend_w = 14, 60
    bars_h = 44 + 22 * len(decoder_mix) if decoder_mix else 0
    width = max(layout.size[0] + bar_w + legend_w, 560)
    picture = Image.new("RGB", (width, layout.size[1] + bars_h), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    font = default_font()
    draw.text((layout.margin, layout.margin + 2), _fit(draw, header, font, width - 2 * layout.margin), fill=TEXT,
              font=font)
    for i, (title, panel) in enumerate(panels):
        r, c = divmod(i, cols)
        picture.paste(Image.fromarray(panel, "RGB"), layout.panel_box(r, c)[:2])
        left, top, right, _ = layout.title_box(r, c)
        text = _fit(draw, title, font, right - left)
        draw.text((left + (right - left - draw.textlength(text, font=font)) / 2, top + 2), text, fill=TEXT, font=font)
    # The colour bar: each panel's minimum at the bottom to its maximum at the top, and the masked grey.
    x0 = layout.size[0]
    _, y0, _, y1 = layout.panel_box(0, 0)
    picture.paste(Image.fromarray(colorbar(y1 - y0 - 20, bar_w), "RGB"), (x0, y0))
    draw.text((x0 + bar_w + 4, y0), "max", fill=TEXT, font=font)
    draw.text((x0 + bar_w + 4, y1 - 34), "min", fill=TEXT, font=font)
    draw.rectangle((x0, y1 - 14, x0 + bar_w, y1), fill=BLANK)
    draw.text((x0 + bar_w + 4, y1 - 14), "masked", fill=TEXT, font=font)
    if decoder_mix:
        _decoder_bars(draw, font, decoder_mix, layout.margin, layout.size[1], width - 2 * layout.margin,
                      [tuple(int(v) for v in colormap(np.array([x]))[0]) for x in (0.9, 0.35, 0.0)])
    return picture


def _decoder_bars(draw, font, mix: list[dict], left: int, top: int, width: int, colours: list[tuple]) -> None:
    """One stacked bar per decoder block: where the mask tokens' attention goes (visible / mask / cls)."""
    draw.text((left, top), "decoder: where the mask tokens attend (share of attention, heads and mask tokens "
              "averaged)", fill=TEXT, font=font)
    label_w, legend_w = 70, 190
    bar_w = width - label_w - legend_w
    keys = (("visible", "visible patches"), ("mask_tokens", "other mask tokens"), ("cls", "cls"))
    for i, row in enumerate(mix):
        y = top + 20 + 22 * i
        draw.text((left, y + 2), row["block"].removesuffix(".attn").replace("decoder.blocks.", "block "),
                  fill=TEXT, font=font)
        x = left + label_w
        for (key, _), colour in zip(keys, colours, strict=True):
            w = row[key] * bar_w
            draw.rectangle((x, y, x + w, y + 16), fill=colour)
            x += w
        text = "  ".join(f"{label.split()[0]} {row[key]:.0%}" for key, label in keys)
        draw.text((left + label_w + bar_w + 6, y + 2), text, fill=TEXT, font=font)
    y = top + 20 + 22 * len(mix)
    x = left + label_w
    for (_, label), colour in zip(keys, colours, strict=True):
        draw.rectangle((x, y - 2, x + 10, y + 8), fill=colour)
        draw.text((x + 14, y - 4), label, fill=TEXT, font=font)
        x += 24 + draw.textlength(label, font=font)


def _square(image: np.ndarray, side: int, grid: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (H, W, 3) -> (side, side, 3) by nearest neighbour. With the patch ``grid`` (h, w), the picture
    takes the box a heat map of that grid takes (:func:`heat_panel`: ``side //
    max(h, w)`` pixels a patch, top left, white around), so a non-square input lines up with its maps."""
    from PIL import Image

    if grid is None:
        return np.asarray(Image.fromarray(image, "RGB").resize((side, side), Image.NEAREST))
    h, w = grid
    cell = max(1, side // max(h, w))
    fitted = np.asarray(Image.fromarray(image, "RGB").resize((w * cell, h * cell), Image.NEAREST))
    panel = np.full((side, side, 3), 255, np.uint8)
    panel[: fitted.shape[0], : fitted.shape[1]] = fitted[:side, :side]
    return panel


def write_attention_png(path: str | Path, report: dict[str, Any], maps: Any, prep: Any) -> str:
    """``maps`` (:class:`~mae_core.views.attention.AttentionMaps`) of the first image, drawn as
    ``mae attention --png`` writes it (atomically).

    The input with its masked patches grey; the cls token's attention of each block in ``report["blocks"]``
    (heads averaged, or each head of ``report["heads"]`` when a subset was chosen) on the patch grid; the
    rollout over every encoder block; and where the decoder's mask tokens attend.
    """
    from ..errors import SettingError
    from ..io.images import denormalize
    from .reconstruct import mask_to_pixels

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise SettingError("png", f"{str(p)!r}: name the picture .png")
    cfg = prep.model.config
    seen = 1 - mask_to_pixels(maps.mask[:1].cpu(), cfg.patch_size, maps.grid)  # (1, 1, H, W): 1 where visible
    image = denormalize(prep.imgs[:1].cpu()) * seen + 0.78 * (1 - seen)  # masked patches light grey
    heads = report["heads"] if len(report["heads"]) < cfg.num_heads else [None]
    panels = [(f"block {i} cls" + (f" head {h}" if h is not None else ""),
               maps.cls_map(f"encoder.blocks.{i}.attn", 0, h)) for i in report["blocks"] for h in heads]
    panels.append(("rollout, all blocks", maps.rollout(0)))
    source = f"weights {Path(prep.weights).name}" if prep.weights else "untrained"
    header = (f"{prep.title} attention, mask ratio {report['mask_ratio']:g} ({report['num_visible']} of "
              f"{cfg.num_patches} visible), {source}; {report['inputs'][0]}")
    save_png(attention_picture(to_uint8(image[0]), panels, report["decoder"], header), p)
    return str(p)


# --- colour maps as arrays (the attention picture and the notebooks draw them with Pillow) ---------------

# A perceptually ordered dark-blue -> green -> yellow ramp (viridis-like), as (position, RGB) stops.
_STOPS = np.array([[0.0, 68, 1, 84], [0.25, 59, 82, 139], [0.5, 33, 145, 140], [0.75, 94, 201, 98],
                   [1.0, 253, 231, 37]])
BLANK = (200, 200, 200)  # a patch the encoder did not see


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (..., 3); NaN -> the light grey of a masked patch."""
    v = np.clip(np.nan_to_num(values, nan=0.0), 0, 1)
    rgb = np.stack([np.interp(v, _STOPS[:, 0], _STOPS[:, c]) for c in (1, 2, 3)], axis=-1)
    rgb[np.isnan(values)] = BLANK
    return rgb.round().astype(np.uint8)


def heat_panel(grid: np.ndarray, side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """(h, w) grid -> uint8 (side, side, 3) panel, its colours spread from the grid's own minimum to its
    maximum (NaN: grey), with a patch grid drawn; returns the panel and that (min, max) range."""
    seen = grid[np.isfinite(grid)]
    lo, hi = (float(seen.min()), float(seen.max())) if seen.size else (0.0, 0.0)
    scaled = (grid - lo) / (hi - lo) if hi > lo else np.where(np.isnan(grid), np.nan, 0.5)
    h, w = grid.shape
    cell = max(1, side // max(h, w))
    panel = np.repeat(np.repeat(colormap(scaled), cell, 0), cell, 1)
    panel[::cell, :, :] = panel[::cell, :, :] // 2 + 60  # patch boundaries, so positions can be counted
    panel[:, ::cell, :] = panel[:, ::cell, :] // 2 + 60
    out = np.full((side, side, 3), 255, np.uint8)
    out[: panel.shape[0], : panel.shape[1]] = panel[:side, :side]
    return out, (lo, hi)


def colorbar(height: int, width: int = 14) -> np.ndarray:
    """uint8 (height, width, 3): a panel's maximum at the top, its minimum at the bottom."""
    column = np.linspace(1, 0, height)[:, None].repeat(width, 1)
    return colormap(column)


# --- the demo's picture (``mae mask-demo``: the paper's Fig. 2) ---------------------------------------

def demo_titles(norm_pix: bool, trained: bool) -> list[str]:
    """The panels of one row: original, masked, then the reconstruction (and for a norm_pix_loss model the
    prediction in its normalised space first)."""
    untrained = "" if trained else " (untrained)"
    if norm_pix:
        return ["original", "masked", f"prediction, normalised{untrained}", "de-normalised (visible stats)",
                "de-normalised + visible"]
    return ["original", "masked", f"reconstruction{untrained}", "reconstruction + visible"]


def normalised_to_display(x: Tensor) -> Tensor:
    """Per-patch normalised values -> [0, 1] for viewing: 0 (the patch mean) is mid-grey, +-2 std white/black."""
    return (0.5 + x / 4).clamp(0, 1)


def demo_picture(prep: Any, rec: Any, header: str, path: str | Path | None = None, *,
                 follow_symlink: bool = False) -> tuple[Any, list[str]]:
    """The PNG of a :class:`~mae_core.views.reconstruct.Reconstruction` of ``prep``'s images: one row per image,
    every panel de-normalised with the ImageNet mean/std; written to ``path`` (atomically) when given.
    Returns the picture and the panel titles."""
    from ..io.images import denormalize

    images = prep.imgs
    columns = [denormalize(images), denormalize(rec.masked)]
    if rec.norm_pix_loss:
        columns.append(normalised_to_display(rec.prediction))
    columns += [denormalize(rec.reconstruction), denormalize(rec.pasted)]
    titles = demo_titles(rec.norm_pix_loss, prep.trained_decoder)
    panels, row_titles = [], []
    for i, name in enumerate(prep.inputs):
        panels.append([to_uint8(col[i]) for col in columns])
        masked = int(rec.mask[i].sum())
        first = "original (built-in)" if name == "built-in test image" else f"original: {Path(name).name}"
        row_titles.append([first, f"masked {masked}/{prep.config.num_patches}"] + titles[2:])
    picture = render(panels, row_titles, header)
    if path is not None:
        save_png(picture, path, follow_symlink=follow_symlink)
    return picture, titles
