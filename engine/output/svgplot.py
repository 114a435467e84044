"""Inline SVG charts for the build report: vertical bars (grouped or stacked), horizontal bars and
histograms (filled or as outlines, linear or log x).

Each function returns one ``<svg>`` element: plain shapes and text, no script, no external font or
image, so the report stays a single self-contained file that any browser renders offline.
Drawing six charts takes milliseconds, where a plotting library's import and rasterizing took
seconds of every build.
"""
from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np

WIDTH, HEIGHT = 560, 300
FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"
AXIS = "#57606a"
GRID = "#eaeef2"


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def fmt(v: float) -> str:
    """Tick label: 0, 12, 1.5, 1,200, 25k, 3.2M."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e4:
        return f"{v / 1e3:g}k"
    if a >= 1000 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.3g}"


def nice_ticks(hi: float, n: int = 5) -> list[float]:
    """0 .. at least ``hi`` in about ``n`` steps of 1, 2, 2.5 or 5 times a power of ten."""
    if hi <= 0:
        return [0.0, 1.0]
    raw = hi / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    k = math.ceil(hi / step - 1e-9)
    return [i * step for i in range(k + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten spanning [lo, hi] (with 2 and 5 between them when the range is short)."""
    a, b = math.floor(math.log10(max(lo, 1e-12))), math.ceil(math.log10(max(hi, lo * 10)))
    ticks = [10.0 ** p for p in range(a, b + 1)]
    if b - a <= 2:
        ticks = sorted(t * m for t in ticks for m in (1, 2, 5))
    return [t for t in ticks if lo <= t <= hi]


class Canvas:
    """A plot area with axes: data coordinates mapped to pixels, elements collected as SVG text."""

    def __init__(self, title: str, xlabel: str = "", ylabel: str = "", left: int = 62, bottom: int = 58,
                 width: int = WIDTH, height: int = HEIGHT) -> None:
        self.w, self.h = width, height
        self.x0, self.x1 = left, width - 14
        self.y0, self.y1 = height - bottom, 30  # pixel rows of the y axis' bottom and top
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.parts: list[str] = []
        self.legend: list[tuple[str, str, bool]] = []

    def px(self, f: float) -> float:
        return self.x0 + f * (self.x1 - self.x0)

    def py(self, f: float) -> float:
        return self.y0 - f * (self.y0 - self.y1)

    def rect(self, x: float, y: float, w: float, h: float, color: str, tip: str = "") -> None:
        t = f"<title>{_e(tip)}</title>" if tip else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{color}">{t}</rect>')

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1, dash: bool = False) -> None:
        d = ' stroke-dasharray="4 3"' if dash else ""
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"{d}/>')

    def text(self, x: float, y: float, s: str, anchor: str = "middle", size: int = 11, rotate: int = 0, color: str = "#24292f") -> None:
        r = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}"{r}>{_e(s)}</text>')

    def y_axis(self, ticks: Sequence[float], to_frac) -> None:
        for t in ticks:
            y = self.py(to_frac(t))
            self.line(self.x0, y, self.x1, y, GRID)
            self.text(self.x0 - 5, y + 4, fmt(t), anchor="end", size=10, color=AXIS)

    def x_axis_values(self, ticks: Sequence[float], to_frac) -> None:
        for t in ticks:
            x = self.px(to_frac(t))
            self.line(x, self.y0, x, self.y0 + 4, AXIS)
            self.text(x, self.y0 + 16, fmt(t), size=10, color=AXIS)

    def x_axis_labels(self, labels: Sequence[str], centers: Sequence[float]) -> None:
        for s, c in zip(labels, centers):
            x = self.px(c)
            self.text(x + 4, self.y0 + 12, s if len(s) <= 18 else s[:17] + "…", anchor="end", size=10, rotate=-25)

    def svg(self) -> str:
        self.line(self.x0, self.y0, self.x1, self.y0, AXIS)
        self.line(self.x0, self.y0, self.x0, self.y1, AXIS)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{self.w}" height="{self.h}" '
               f'viewBox="0 0 {self.w} {self.h}" style="{FONT};background:#fff">',
               f"<title>{_e(self.title)}</title>"]
        out.append(f'<text x="{self.w / 2:.0f}" y="18" font-size="13" font-weight="600" text-anchor="middle">{_e(self.title)}</text>')
        out += self.parts
        if self.xlabel:
            out.append(f'<text x="{(self.x0 + self.x1) / 2:.0f}" y="{self.h - 6}" font-size="11" text-anchor="middle">{_e(self.xlabel)}</text>')
        if self.ylabel:
            yc = (self.y0 + self.y1) / 2
            out.append(f'<text x="13" y="{yc:.0f}" font-size="11" text-anchor="middle" transform="rotate(-90 13 {yc:.0f})">{_e(self.ylabel)}</text>')
        y = self.y1 + 4
        for label, color, outline in self.legend:
            x = self.x1 - 130
            if outline:
                out.append(f'<line x1="{x}" y1="{y + 5}" x2="{x + 14}" y2="{y + 5}" stroke="{color}" stroke-width="2"/>')
            else:
                out.append(f'<rect x="{x}" y="{y}" width="14" height="10" fill="{color}"/>')
            out.append(f'<text x="{x + 19}" y="{y + 9}" font-size="10">{_e(label if len(label) <= 20 else label[:19] + "…")}</text>')
            y += 14
        out.append("</svg>")
        return "".join(out)


def bars(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
         stacked: bool = False, ylabel: str = "") -> str:
    """Vertical bars per category: one bar per series side by side, or the series stacked."""
    c = Canvas(title, ylabel=ylabel)
    vals = np.asarray([list(v) for _, v, _ in series], dtype=float).reshape(len(series), len(categories))
    top = float(vals.sum(axis=0).max() if stacked else vals.max()) if vals.size else 0.0
    ticks = nice_ticks(top)
    hi = ticks[-1]
    c.y_axis(ticks, lambda t: t / hi)
    n = max(len(categories), 1)
    slot = 1.0 / n
    width = slot * 0.7 / (1 if stacked else max(len(series), 1))
    for k, (label, _, color) in enumerate(series):
        c.legend.append((label, color, False))
        for i, cat in enumerate(categories):
            v = vals[k, i]
            base = vals[:k, i].sum() if stacked else 0.0
            left = slot * (i + 0.15) + (0 if stacked else k * width)
            if v > 0:
                c.rect(c.px(left), c.py((base + v) / hi), c.px(left + width) - c.px(left),
                       c.py(base / hi) - c.py((base + v) / hi), color, f"{cat}: {label} {v:,.0f}")
    c.x_axis_labels(list(categories), [slot * (i + 0.5) for i in range(len(categories))])
    return c.svg()


def hbars(title: str, labels: Sequence[str], values: Sequence[float], color: str, xlabel: str = "") -> str:
    """Horizontal bars, first label on top."""
    c = Canvas(title, xlabel=xlabel, left=150, bottom=40)
    vals = np.asarray(values, dtype=float)
    ticks = nice_ticks(float(vals.max()) if vals.size else 0.0)
    hi = ticks[-1]
    c.x_axis_values(ticks, lambda t: t / hi)
    n = max(len(labels), 1)
    slot = 1.0 / n
    for i, (label, v) in enumerate(zip(labels, vals)):
        top = 1.0 - slot * (i + 0.15)
        y_top, y_bot = c.py(top), c.py(top - slot * 0.7)
        c.rect(c.x0, y_top, c.px(v / hi) - c.x0, y_bot - y_top, color, f"{label}: {fmt(v)}")
        c.text(c.x0 - 5, (y_top + y_bot) / 2 + 4, label if len(label) <= 24 else label[:23] + "…", anchor="end", size=10)
    return c.svg()


def histogram(title: str, series: Sequence[tuple[str, np.ndarray, str]], bins: np.ndarray, log_x: bool = False,
              outline: bool = False, xlabel: str = "", ylabel: str = "", vline: float | None = None) -> str:
    """Counts of values per bin for each series: filled bars, or outlines to compare series."""
    c = Canvas(title, xlabel=xlabel, ylabel=ylabel)
    bins = np.asarray(bins, dtype=float)
    counts = [np.histogram(np.asarray(v, dtype=float), bins=bins)[0] for _, v, _ in series]
    top = max((int(k.max()) for k in counts if k.size), default=0)
    ticks = nice_ticks(float(top))
    hi = ticks[-1]
    lo_x, hi_x = float(bins[0]), float(max(bins[-1], vline or bins[-1]))
    if log_x:
        lo_x = max(lo_x, 1e-9)
        span = math.log10(hi_x) - math.log10(lo_x) or 1.0

        def fx(v: float) -> float:
            return (math.log10(max(v, lo_x)) - math.log10(lo_x)) / span
        xt = log_ticks(lo_x, hi_x)
    else:
        span = (hi_x - lo_x) or 1.0

        def fx(v: float) -> float:
            return (v - lo_x) / span
        xt = [t for t in nice_ticks(hi_x) if lo_x <= t <= hi_x]
    c.y_axis(ticks, lambda t: t / hi)
    c.x_axis_values(xt, fx)
    for (label, _, color), k in zip(series, counts):
        if len(series) > 1 or outline:
            c.legend.append((label, color, outline))
        if outline:
            pts = [(c.px(fx(bins[0])), c.py(0))]
            for j, n in enumerate(k):
                y = c.py(n / hi)
                pts += [(c.px(fx(bins[j])), y), (c.px(fx(bins[j + 1])), y)]
            pts.append((c.px(fx(bins[-1])), c.py(0)))
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            c.parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.5"><title>{_e(label)}</title></polyline>')
        else:
            for j, n in enumerate(k):
                if n:
                    x1, x2 = c.px(fx(bins[j])), c.px(fx(bins[j + 1]))
                    c.rect(x1 + 0.5, c.py(n / hi), max(x2 - x1 - 1, 1), c.py(0) - c.py(n / hi), color,
                           f"{fmt(bins[j])}-{fmt(bins[j + 1])}: {n:,}")
    if vline is not None:
        x = c.px(fx(vline))
        c.line(x, c.y0, x, c.y1, "#cf222e", 1, dash=True)
    return c.svg()
