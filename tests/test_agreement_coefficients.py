"""The agreement coefficients against their published worked examples, plus properties."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge._agreement import agreement
from jsonl_bridge._agreement_coefficients import (
    Undefined,
    category_counts,
    cohen_kappa,
    coincidences,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from jsonl_bridge.records import Annotation, Rating, Record, Source

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers
# (rows) × 12 units (columns), "." = missing. Unit 12 has one value and is not pairable.
_ = None
OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
UNITS = [[v for v in column if v is not None] for column in zip(*OBSERVERS, strict=True)]

# Fleiss' κ worked example (Wikipedia, "Fleiss' kappa"): 10 subjects × 5 categories,
# the number of the 14 raters who put each subject in each category.
FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_reproduces_the_published_example(level: str, published: float) -> None:
    assert round(krippendorff_alpha(UNITS, level), 3) == published  # type: ignore[arg-type]


def test_the_single_valued_unit_is_dropped_as_krippendorff_defines() -> None:
    without_unit_12 = UNITS[:11]
    assert krippendorff_alpha(without_unit_12) == krippendorff_alpha(UNITS)


def test_ratings_reproduce_krippendorffs_interval_example() -> None:
    """The 2011 paper's 4 × 12 reliability data as star ratings by four users."""
    records = [
        Record(
            id=f"u{unit + 1}",
            source=Source(tool="test", format="jsonl", file="ratings.jsonl", line=unit + 1),
            annotations=[
                Annotation(annotator=user, regions=[Rating(field="stars", value=row[unit])])
                for user, row in zip("ABCD", OBSERVERS, strict=True)
                if row[unit] is not None
            ],
        )
        for unit in range(12)
    ]
    stars = agreement(records).fields["stars"]
    assert stars.kind == "numeric"
    assert stars.n_items == 11  # u12 has one rating
    assert round(stars.metrics["krippendorff_alpha"] or 0, 3) == 0.849
    assert stars.annotators == ["A", "B", "C", "D"]


def test_coincidence_margins_are_the_published_value_totals() -> None:
    """The paper's n_c for values 1..5 over the 40 pairable values: 9, 13, 10, 5, 3."""
    pairable = [unit for unit in UNITS if len(unit) >= 2]
    matrix = coincidences(category_counts(pairable, [1, 2, 3, 4, 5]))
    assert matrix.sum(axis=1).round(9).tolist() == [9, 13, 10, 5, 3]
    assert np.allclose(matrix, matrix.T)


def test_fleiss_kappa_reproduces_the_wikipedia_example() -> None:
    table = np.array(FLEISS, dtype=float)
    assert round(fleiss_kappa(table), 3) == 0.210
    assert round(percent_agreement(table), 3) == 0.378  # P̄ in the same example


def test_cohen_kappa_of_the_textbook_table() -> None:
    """po = 35/50 = 0.70, pe = (25·30 + 25·20)/50² = 0.50, κ = 0.20/0.50 = 0.40."""
    assert cohen_kappa(np.array([[20.0, 5.0], [10.0, 15.0]])) == pytest.approx(0.40)


def test_undefined_coefficients_say_why() -> None:
    same = [["a", "a"], ["a", "a"], ["a", "a"]]
    with pytest.raises(Undefined, match="every value is the same"):
        krippendorff_alpha(same)
    with pytest.raises(Undefined, match="fewer than two items"):
        krippendorff_alpha([[1, 2]], "interval")
    with pytest.raises(Undefined, match="same value to every item"):
        cohen_kappa(np.array([[3.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(Undefined, match="2 to 3 annotators"):
        fleiss_kappa(category_counts([["a", "b"], ["a", "a", "b"]], ["a", "b"]))
    with pytest.raises(Undefined, match="same value to every item"):
        fleiss_kappa(category_counts(same, ["a"]))


def test_an_unknown_level_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha(UNITS, "cardinal")  # type: ignore[arg-type]


def test_fleiss_and_alpha_agree_in_the_limit_with_complete_data() -> None:
    """With every item rated by all m raters, α nominal = κ_Fleiss + (1 − κ)/(N·m)
    (Krippendorff's small-sample correction): α ≥ κ, and the gap is that term."""
    table = np.array(FLEISS, dtype=float)
    units = [[c for c, n in enumerate(row) for _ in range(n)] for row in FLEISS]
    kappa, alpha = fleiss_kappa(table), krippendorff_alpha(units)
    assert alpha == pytest.approx(kappa + (1 - kappa) / table.sum())


values = st.integers(min_value=0, max_value=4)
unit_lists = st.lists(st.lists(values, min_size=2, max_size=4), min_size=2, max_size=12)


@given(unit_lists, st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
def test_alpha_is_at_most_one(units: list[list[int]], level: str) -> None:
    try:
        alpha = krippendorff_alpha(units, level)  # type: ignore[arg-type]
    except Undefined:
        return
    assert alpha <= 1.0 + 1e-12


@given(st.lists(st.tuples(values, st.integers(2, 4)), min_size=2, max_size=12))
def test_perfect_agreement_gives_one_where_defined(
    spec: list[tuple[int, int]],
) -> None:
    units = [[value] * raters for value, raters in spec]
    for level in ("nominal", "ordinal", "interval", "ratio"):
        try:
            alpha = krippendorff_alpha(units, level)  # type: ignore[arg-type]
        except Undefined:
            assert len({value for value, _ in spec}) == 1  # only when nothing varies
            continue
        assert alpha == pytest.approx(1.0)


@given(unit_lists, st.randoms(use_true_random=False))
def test_permuting_items_or_annotators_changes_nothing(
    units: list[list[int]], rng: random.Random
) -> None:
    shuffled = [rng.sample(unit, len(unit)) for unit in rng.sample(units, len(units))]
    for level in ("nominal", "ordinal", "interval", "ratio"):
        try:
            expected = krippendorff_alpha(units, level)  # type: ignore[arg-type]
        except Undefined:
            with pytest.raises(Undefined):
                krippendorff_alpha(shuffled, level)  # type: ignore[arg-type]
            continue
        assert krippendorff_alpha(shuffled, level) == pytest.approx(expected)  # type: ignore[arg-type]
