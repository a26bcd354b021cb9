"""A small line chart drawn with Pillow (no plotting library needed): one line per series, with markers.

Paper: the shape of MAE Fig. 5 (a quantity against the masking ratio). Used by `mae sweep`.

Input: ``series`` maps a name to (x, y) points, ``y`` None for a missing point (the line breaks there).
Output: a ``PIL.Image.Image`` (RGB, ``size`` pixels).
"""

from __future__ import annotations

import math

from .picture import BACKGROUND, TEXT, default_font

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]
GRID = (225, 225, 225)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if high <= low:
        high = low + (abs(low) or 1.0) * 0.1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def line_plot(series: dict[str, list[tuple[float, float | None]]], *, title: str, xlabel: str, ylabel: str,
              size: tuple[int, int] = (720, 460), markers: bool = True, x_ticks: str = "values"):
    """Draw the chart; the y range covers every present point, the x ticks are the x values given
    (``x_ticks="auto"``: about six round values instead, for dense series). ``markers``: a dot per point."""
    from PIL import Image, ImageDraw

    width, height = size
    picture = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(picture)
    font = default_font()
    left, right, top, bottom = 70, width - 20, 60, height - 60  # rows above the frame: title, then y title
    xs = sorted({x for points in series.values() for x, _ in points})
    ys = [y for points in series.values() for _, y in points if y is not None]
    if not xs:
        return picture
    y_ticks = nice_ticks(min(ys), max(ys)) if ys else [0.0, 1.0]
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_low, y_high = y_ticks[0], y_ticks[-1]

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_low) / (x_high - x_low) * (right - left),
                bottom - (y - y_low) / (y_high - y_low) * (bottom - top))

    for y in y_ticks:
        _, yy = px(x_low, y)
        draw.line([(left, yy), (right, yy)], fill=GRID)
        label = f"{y:g}"
        draw.text((left - 8 - draw.textlength(label, font=font), yy - 7), label, fill=TEXT, font=font)
    for x in (xs if x_ticks == "values" else [t for t in nice_ticks(x_low, x_high, 6) if x_low <= t <= x_high]):
        xx, _ = px(x, y_low)
        draw.line([(xx, bottom), (xx, bottom + 5)], fill=TEXT)
        label = f"{x:g}"
        draw.text((xx - draw.textlength(label, font=font) / 2, bottom + 8), label, fill=TEXT, font=font)
    draw.rectangle([left, top, right, bottom], outline=TEXT)
    draw.text(((left + right - draw.textlength(xlabel, font=font)) / 2, bottom + 28), xlabel, fill=TEXT, font=font)
    draw.text((8, top - 30), ylabel, fill=TEXT, font=font)  # clear of the top tick label (at top - 7)
    draw.text(((width - draw.textlength(title, font=font)) / 2, 8), title, fill=TEXT, font=font)

    for i, (name, points) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        run: list[tuple[float, float]] = []
        for x, y in sorted(points) + [(math.inf, None)]:
            if y is None:
                if len(run) > 1:
                    draw.line(run, fill=colour, width=2)
                run = []
                continue
            run.append(px(x, y))
        for x, y in points if markers else []:
            if y is not None:
                cx, cy = px(x, y)
                draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=colour)
        ly = top + 8 + 16 * i
        key = max(110, int(draw.textlength(name, font=font)) + 32)  # room for a longer legend label
        draw.line([(right - key, ly + 6), (right - key + 20, ly + 6)], fill=colour, width=2)
        draw.text((right - key + 26, ly), name, fill=TEXT, font=font)
    return picture
