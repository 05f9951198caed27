"""The Figure record every benchmark returns, and the table `make bench` prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure next to its target; `higher_is_better` decides how `ok` reads the target."""

    name: str
    value: float
    unit: str
    target: float
    higher_is_better: bool = False

    @property
    def ok(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def row(self) -> tuple[str, str, str, str]:
        sign = ">=" if self.higher_is_better else "<"
        target = f"{self.target:,.0f}" if float(self.target).is_integer() else f"{self.target:,.1f}"  # 1.5 x, not 2 x
        return (self.name, f"{self.value:,.1f} {self.unit}", f"{sign} {target} {self.unit}",
                "ok" if self.ok else "MISSED")


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of samples, by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[max(0, min(98, round(p) - 1))]


def print_table(figures: Sequence[Figure]) -> None:
    rows = [("figure", "value", "target", "")] + [f.row() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for n, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
