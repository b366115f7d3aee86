"""Chance-corrected agreement coefficients: Krippendorff's α, Fleiss' κ, Cohen's κ.

Pure arithmetic over *units* (the items: each a list of the values its annotators gave,
missing values left out) or over count tables; numpy is imported when a coefficient runs.
Sources: Krippendorff, K. (2011), "Computing Krippendorff's Alpha-Reliability" (α for
any number of coders, missing values, four levels of measurement); Fleiss, J. L. (1971),
"Measuring nominal scale agreement among many raters" (κ and the mean pairwise agreement
P̄); Cohen, J. (1960), "A coefficient of agreement for nominal scales".

A coefficient that does not exist for the data (no variation, one item, unequal numbers of
raters for Fleiss) raises `Undefined` with the reason, never returns NaN.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")


class Undefined(ValueError):
    """The coefficient has no value for these data; the message says why."""


def category_counts(
    units: Sequence[Sequence[Hashable]], categories: Sequence[Hashable]
) -> NDArray[np.float64]:
    """The items × categories table of how many annotators gave each value to each item."""
    import numpy as np

    column = {category: index for index, category in enumerate(categories)}
    counts = np.zeros((len(units), len(categories)))
    for row, unit in enumerate(units):
        for value in unit:
            counts[row, column[value]] += 1
    return counts


def percent_agreement(counts: NDArray[np.float64]) -> float:
    """Fleiss' P̄: the mean over items of the share of annotator pairs that agree.

    Items may have different numbers of annotators; items with fewer than two are left out.
    """
    raters = counts.sum(axis=1)
    kept = raters >= 2
    if not kept.any():
        raise Undefined("no item has two annotators")
    agreeing = (counts[kept] * (counts[kept] - 1)).sum(axis=1)
    return float((agreeing / (raters[kept] * (raters[kept] - 1))).mean())


def fleiss_kappa(counts: NDArray[np.float64]) -> float:
    """Fleiss' κ over an items × categories count table with the same number of raters per item."""
    raters = counts.sum(axis=1)
    if len(counts) < 2:
        raise Undefined("fewer than two items: chance agreement cannot be estimated")
    if raters.min() != raters.max():
        raise Undefined(
            f"items have {int(raters.min())} to {int(raters.max())} annotators; "
            "Fleiss' κ needs the same number on every item"
        )
    m = raters[0]
    observed = float((((counts * counts).sum(axis=1) - m) / (m * (m - 1))).mean())
    shares = counts.sum(axis=0) / counts.sum()
    expected = float((shares * shares).sum())
    if expected >= 1.0:
        raise Undefined("every annotator gave the same value to every item")
    return (observed - expected) / (1.0 - expected)


def cohen_kappa(table: NDArray[np.float64]) -> float:
    """Cohen's κ from a square contingency table (rows: one annotator, columns: the other)."""
    total = float(table.sum())
    if total < 2:
        raise Undefined("fewer than two items: chance agreement cannot be estimated")
    observed = float(table.trace()) / total
    expected = float((table.sum(axis=1) * table.sum(axis=0)).sum()) / (total * total)
    if expected >= 1.0:
        raise Undefined("both annotators gave the same value to every item")
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha(units: Sequence[Sequence[Hashable]], level: Level = "nominal") -> float:
    """Krippendorff's α = 1 − D_o / D_e, at a level of measurement.

    Items with fewer than two values are not pairable and are dropped, as Krippendorff
    defines. With n pairable values, α = 1 − (n − 1) · Σ_u Σ_{i≠j} δ²/(m_u − 1) /
    Σ_{i≠j over all values} δ², which is the coincidence-matrix form of the 2011 paper.
    Values must be numbers for every level but nominal.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}: one of {', '.join(LEVELS)}")
    kept = [list(unit) for unit in units if len(unit) >= 2]
    if len(kept) < 2:
        raise Undefined(
            "fewer than two items with two values: chance agreement cannot be estimated"
        )
    pairable = sum(len(unit) for unit in kept)
    if level == "nominal":
        within, overall = _nominal_disagreements(kept)
    else:
        within, overall = _numeric_disagreements(kept, level)
    if overall == 0:
        raise Undefined("every value is the same: there is no disagreement to expect")
    return 1.0 - (pairable - 1) * within / overall


def _nominal_disagreements(units: list[list[Hashable]]) -> tuple[float, float]:
    """Σ_u (ordered unequal pairs in u)/(m_u − 1) and the ordered unequal pairs of all values."""
    categories = sorted({value for unit in units for value in unit}, key=repr)
    counts = category_counts(units, categories)
    raters = counts.sum(axis=1)
    within = float(((raters * raters - (counts * counts).sum(axis=1)) / (raters - 1)).sum())
    totals = counts.sum(axis=0)
    overall = float(raters.sum() ** 2 - (totals * totals).sum())
    return within, overall


def _numeric_disagreements(units: list[list[Hashable]], level: Level) -> tuple[float, float]:
    import numpy as np

    arrays = [np.asarray(unit, dtype=float) for unit in units]
    if level == "ordinal":
        arrays = _mid_ranks(arrays)
    if level == "ratio":
        return _ratio_disagreements(arrays)
    # interval: Σ_{i≠j} (x_i − x_j)² = 2 m Σ (x − x̄)², for a unit and for all values alike
    within = sum(2 * len(a) * float(((a - a.mean()) ** 2).sum()) / (len(a) - 1) for a in arrays)
    values = np.concatenate(arrays)
    overall = 2 * len(values) * float(((values - values.mean()) ** 2).sum())
    return within, overall


def _mid_ranks(arrays: list[NDArray[np.float64]]) -> list[NDArray[np.float64]]:
    """Ordinal δ(c, k) = Σ_{g=c..k} n_g − (n_c + n_k)/2 is the difference of the values'
    mid-ranks F(v) = Σ_{g<v} n_g + n_v/2, so ordinal α is interval α on mid-ranks."""
    import numpy as np

    distinct, counts = np.unique(np.concatenate(arrays), return_counts=True)
    mid = np.cumsum(counts) - counts / 2.0
    return [mid[np.searchsorted(distinct, a)] for a in arrays]


def _ratio_disagreements(arrays: list[NDArray[np.float64]]) -> tuple[float, float]:
    """δ² = ((c − k)/(c + k))², taken as 0 when c = k = 0."""
    import numpy as np

    def squared(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        total = a[:, None] + b[None, :]
        difference = a[:, None] - b[None, :]
        ratio = np.divide(difference, total, out=np.zeros_like(total), where=total != 0)
        return ratio * ratio

    within = sum(float(squared(a, a).sum()) / (len(a) - 1) for a in arrays)
    distinct, counts = np.unique(np.concatenate(arrays), return_counts=True)
    overall = float((counts[:, None] * counts[None, :] * squared(distinct, distinct)).sum())
    return within, overall


def coincidences(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Krippendorff's coincidence matrix o_ck from an items × categories count table: each
    ordered pair of values in an item counts 1/(m_u − 1). Rows sum to each value's total."""
    import numpy as np

    raters = counts.sum(axis=1)
    weights = np.zeros_like(raters)
    np.divide(1.0, raters - 1, out=weights, where=raters >= 2)
    weighted = counts * weights[:, None]
    matrix: NDArray[np.float64] = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    return matrix
