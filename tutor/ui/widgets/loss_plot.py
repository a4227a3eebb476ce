"""A loss-curve plot (textual-plotext). Import this module only when a plot is about to
be shown: plotext is not part of the tutor's start-up."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Series:
    """One curve: points (x, y); non-finite y ends the curve."""

    label: str
    xs: list[float]
    ys: list[float]
    color: str = "cyan"
    yside: str = "left"


def clipped(series: Series, top: float | None) -> tuple[list[float], list[float]]:
    """The finite part of the curve, up to where it first leaves through ``top`` (a
    diverging curve exits the plot instead of squashing the others flat)."""
    xs, ys = [], []
    for x, y in zip(series.xs, series.ys):
        if not math.isfinite(y):
            break
        xs.append(x)
        if top is not None and y > top:
            ys.append(top)
            break
        ys.append(y)
    return xs, ys


class LossPlot(PlotextPlot):
    """``show(series, title=…, ylim=…)`` redraws the whole plot."""

    def show(self, series: list[Series], *, title: str = "", xlabel: str = "step",
             ylabel: str = "loss", ylim: tuple[float, float] | None = None,
             right_ylabel: str = "", right_ylim: tuple[float, float] | None = None,
             marker_x: float | None = None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        plt.ylabel(ylabel)
        for s in series:
            top = (ylim[1] if s.yside == "left" else right_ylim[1]) if (
                ylim if s.yside == "left" else right_ylim) else None
            xs, ys = clipped(s, top)
            if xs:
                plt.plot(xs, ys, label=s.label or None, color=s.color, marker="braille", yside=s.yside)
        if ylim is not None:
            plt.ylim(*ylim)
        if right_ylim is not None:
            plt.ylim(*right_ylim, yside="right")
            plt.ylabel(right_ylabel, yside="right")
        if marker_x is not None:
            plt.vertical_line(marker_x, color="white")
        self.refresh()
