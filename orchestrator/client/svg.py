"""Small inline-SVG charts for the HTML report: no JavaScript, no network, no dependency.

A `Plot` maps data to a fixed-size drawing area with linear, logarithmic or categorical axes
and collects SVG elements; `Plot.svg()` returns the `<svg>` text. Every data mark carries the
class `mark` (and a `<title>` tooltip), so a test can count what a chart drew.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
STATUS_COLOURS = {"Completed": "#2ca02c", "InProgress": "#1f77b4", "Stopping": "#ff7f0e",
                  "Stopped": "#ff7f0e", "Failed": "#d62728"}


def fmt(value: float) -> str:
    return f"{value:.4g}"


class Axis:
    """Data → pixel along one axis: `kind` is "linear", "log" or "category"."""

    def __init__(self, values: Sequence[Any], lo: float, hi: float, kind: str = "linear",
                 categories: Sequence[str] | None = None) -> None:
        self.kind, self.lo_px, self.hi_px = kind, lo, hi
        if kind == "category":
            self.categories = list(categories or dict.fromkeys(str(v) for v in values))
            return
        nums = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if kind == "log":
            nums = [math.log10(v) for v in nums if v > 0] or [0.0]
        self.vmin, self.vmax = (min(nums), max(nums)) if nums else (0.0, 1.0)
        if self.vmin == self.vmax:
            self.vmin, self.vmax = self.vmin - 0.5, self.vmax + 0.5
        pad = (self.vmax - self.vmin) * 0.05
        self.vmin, self.vmax = self.vmin - pad, self.vmax + pad

    def __call__(self, value: Any) -> float:
        if self.kind == "category":
            n = len(self.categories)
            i = self.categories.index(str(value)) if str(value) in self.categories else 0
            return self.lo_px + (i + 0.5) * (self.hi_px - self.lo_px) / max(n, 1)
        v = math.log10(float(value)) if self.kind == "log" else float(value)
        return self.lo_px + (v - self.vmin) / (self.vmax - self.vmin) * (self.hi_px - self.lo_px)

    def ticks(self, count: int = 5) -> list[tuple[float, str]]:
        """Round values inside the axis: 1/2/5 × 10^k steps (linear), powers of ten (log)."""
        if self.kind == "category":
            return [(self(c), c) for c in self.categories]
        if self.kind == "log":
            lo, hi = math.ceil(self.vmin), math.floor(self.vmax)
            exponents = list(range(lo, hi + 1)) or [round((self.vmin + self.vmax) / 2, 1)]
            values = [10.0 ** e for e in exponents]
            if len(values) < 3:  # within a decade or two: 1, 2, 5 × 10^k
                values = [m * 10.0 ** e for e in range(math.floor(self.vmin),
                                                       math.ceil(self.vmax) + 1)
                          for m in (1, 2, 5) if self.vmin <= math.log10(m * 10.0 ** e)
                          <= self.vmax] or values
        else:
            raw = (self.vmax - self.vmin) / count
            magnitude = 10 ** math.floor(math.log10(raw))
            step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
            first = math.ceil(self.vmin / step)
            values = [k * step for k in range(first, math.floor(self.vmax / step) + 1)]
        return [(self(v), fmt(v)) for v in values]


class Plot:
    """One chart: axes with ticks and labels, then marks added by the caller."""

    def __init__(self, chart: str, xs: Sequence[Any], ys: Sequence[Any], *, x_label: str,
                 y_label: str, x_kind: str = "linear", y_kind: str = "linear",
                 x_categories: Sequence[str] | None = None,
                 y_categories: Sequence[str] | None = None,
                 width: int = 640, height: int = 300) -> None:
        self.chart, self.width, self.height = chart, width, height
        left, right, top, bottom = 70, width - 15, 12, height - 42
        self.x = Axis(xs, left, right, x_kind, x_categories)
        self.y = Axis(ys, bottom, top, y_kind, y_categories)
        self.parts: list[str] = [
            f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
            'class="frame"/>']
        for px, label in self.x.ticks():
            self.parts.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{bottom}" '
                              f'y2="{bottom + 4}" class="tick"/><text x="{px:.1f}" '
                              f'y="{bottom + 16}" class="tl" text-anchor="middle">'
                              f'{escape(label[:14])}</text>')
        for py, label in self.y.ticks():
            self.parts.append(f'<line x1="{left - 4}" x2="{left}" y1="{py:.1f}" y2="{py:.1f}" '
                              f'class="tick"/><text x="{left - 6}" y="{py + 4:.1f}" '
                              f'class="tl" text-anchor="end">{escape(label[:10])}</text>')
        self.parts.append(f'<text x="{(left + right) / 2}" y="{height - 6}" class="al" '
                          f'text-anchor="middle">{escape(x_label)}</text>')
        self.parts.append(f'<text transform="translate(14,{(top + bottom) / 2}) rotate(-90)" '
                          f'class="al" text-anchor="middle">{escape(y_label)}</text>')

    def point(self, x: Any, y: Any, title: str, colour: str = PALETTE[0], r: float = 4,
              shape: str = "circle") -> None:
        px, py = self.x(x), self.y(y)
        if shape == "cross":
            d = (f"M{px - r:.1f},{py - r:.1f}L{px + r:.1f},{py + r:.1f}"
                 f"M{px - r:.1f},{py + r:.1f}L{px + r:.1f},{py - r:.1f}")
            self.parts.append(f'<path d="{d}" class="mark cut" stroke="{colour}">'
                              f'<title>{escape(title)}</title></path>')
            return
        self.parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r}" fill="{colour}" '
                          f'class="mark"><title>{escape(title)}</title></circle>')

    def line(self, xs: Sequence[Any], ys: Sequence[Any], title: str, colour: str = PALETTE[0],
             step: bool = False, cls: str = "mark line") -> None:
        pts = [(self.x(x), self.y(y)) for x, y in zip(xs, ys, strict=True)]
        if not pts:
            return
        d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
        for (_, py0), (px, py) in zip(pts, pts[1:], strict=False):
            d += f"H{px:.1f}V{py:.1f}" if step else f"L{px:.1f},{py:.1f}"
            del py0
        self.parts.append(f'<path d="{d}" class="{cls}" stroke="{colour}">'
                          f'<title>{escape(title)}</title></path>')

    def bar(self, x0: Any, x1: Any, y: Any, title: str, colour: str, hatch: bool = False,
            thickness: float = 16) -> None:
        px0, px1, py = self.x(x0), self.x(x1), self.y(y)
        fill = "url(#hatch)" if hatch else colour
        self.parts.append(f'<rect x="{px0:.1f}" y="{py - thickness / 2:.1f}" '
                          f'width="{max(px1 - px0, 2):.1f}" height="{thickness}" fill="{fill}" '
                          'stroke="#fff" stroke-width="2" class="mark bar"><title>{escape(title)}</title>'
                          '</rect>')

    def svg(self) -> str:
        defs = ('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffd8a8"/>'
                '<line x1="0" y1="0" x2="0" y2="6" stroke="#ff7f0e" stroke-width="3"/>'
                '</pattern></defs>')
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" '
                f'data-chart="{escape(self.chart)}" viewBox="0 0 {self.width} {self.height}" '
                f'width="{self.width}" height="{self.height}" role="img">{defs}'
                + "".join(self.parts) + "</svg>")
