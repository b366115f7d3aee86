"""Doccano adapter: the fast loop for one JSONL file gives exactly the general path's records.

The general path (`build_record` on one Row) is the reference: it is what every other export
form goes through and what the golden tests check. Rows are generated around the usual
shapes (categories, texts, span triples, meta keys) and just off them (comments, emoji,
offsets outside the text, floats, booleans, huge ids, other label keys, missing keys), so that
both the fast builders and every fallback to the general path are compared.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jsonl_bridge.adapters import _common, _doccano_fast
from jsonl_bridge.adapters._common import warn_repeated_ids
from jsonl_bridge.adapters._doccano_input import export_files
from jsonl_bridge.adapters._doccano_notes import Notices
from jsonl_bridge.adapters._doccano_offsets import OffsetUnit, has_astral
from jsonl_bridge.adapters._doccano_records import build_record
from jsonl_bridge.adapters._doccano_regions import LabelKind, Settings
from jsonl_bridge.adapters._doccano_rows import Row
from jsonl_bridge.adapters.doccano import read
from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Choice, Record, Source, Span, Text

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` about nine times in ten: the fast path is tested on rows of the usual shapes."""
    return st.integers(0, 9).flatmap(lambda n: odd if n == 0 else usual)


_CHARS = st.characters(blacklist_categories=("Cs",), codec="utf-8", max_codepoint=0x1F600)
texts = st.text(st.characters(max_codepoint=0x7F), max_size=30) | st.text(_CHARS, max_size=30)
"""ASCII texts, and texts with accents, other BMP characters and emoji (astral)."""
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
offsets = st.integers(-2, 40)
_EDGE_INTS = [-(2**63) - 1, -(2**63), 2**63 - 1, 2**63, 2**64 - 1, 2**64 + 1, 10**20 + 1]
"""Around the integers msgspec's bounds allow (int64) and those orjson keeps exact (it reads
the others as floats)."""


@st.composite
def span_items(draw: st.DrawFn, text: str) -> Any:
    """A triple inside (or near) the text, or now and then something that is not one."""
    start = draw(mostly(st.integers(0, max(0, len(text) - 1)), offsets))
    end = draw(mostly(st.integers(start + 1, max(start + 1, len(text))), offsets))
    label = draw(mostly(st.sampled_from(["PER", "ORG"]), st.just("") | texts))
    odd = st.just([float(start), end, label]) | st.lists(json_values, max_size=4) | json_values
    return draw(mostly(st.just([start, end, label]), odd))


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """One doccano row: mostly of the usual shapes, sometimes off them in one or more ways."""
    text = draw(texts)
    ident = draw(mostly(st.integers(1, 10**6), st.sampled_from(_EDGE_INTS) | json_values))
    row: dict[str, Any] = {"id": ident, "text": text}
    if draw(st.booleans()):
        row.update(draw(st.dictionaries(st.sampled_from(["ticket", "doc"]), json_values)))
    categories = st.lists(mostly(st.sampled_from(["positive", "a longer text."]), json_values))
    spans = st.lists(span_items(text), max_size=5)
    mixed = st.lists(span_items(text) | st.sampled_from(["X", "PER", "ab"]), min_size=2)
    row["label"] = draw(mostly(categories | spans, mixed | json_values))
    row["Comments"] = draw(mostly(st.just([]), st.just(["a note"]) | json_values))
    if draw(st.integers(0, 19)) == 0:
        other = st.sampled_from(["cats", "entities", "relations", "bbox", "text", "id"])
        row[draw(other)] = draw(json_values)
    if draw(st.integers(0, 19)) == 0:
        del row[draw(st.sampled_from(sorted(row)))]
    return row


def _general_records(path: Path, offsets: OffsetUnit, label_kind: LabelKind) -> list[Record]:
    """Each line of `path` through the general path, as the reference."""
    file = export_files(path)[0]
    settings_ = Settings(offsets, label_kind, Notices(quiet=True))
    lines = path.read_bytes().split(b"\n")
    return [
        build_record([Row(orjson.loads(line), file, line=number)], settings_)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


@settings(max_examples=300, deadline=None)
@example(  # an id orjson reads as a float (msgspec would keep it exact)
    file_rows=[{"id": -(2**63) - 1, "text": "a", "label": ["X"], "Comments": []}],
    name="all.jsonl",
    offsets_="utf16",
    label_kind="choice",
)
@example(  # above int64, the widest bound msgspec takes: orjson reads it, exactly
    file_rows=[{"id": 2**63, "text": "a", "label": ["X"], "Comments": []}],
    name="all.jsonl",
    offsets_="utf16",
    label_kind="choice",
)
@example(  # a string among span triples, three characters long: it unpacks as a triple
    file_rows=[{"id": 1, "text": "abcd", "label": [[0, 1, "X"], "PER"], "Comments": []}],
    name="all.jsonl",
    offsets_="utf16",
    label_kind="choice",
)
@example(  # offsets after an emoji: UTF-16 units, converted (and cross-checked) by the general path
    file_rows=[{"id": 1, "text": "🎉 Bob", "label": [[3, 6, "PER"]], "Comments": []}],
    name="anna.jsonl",
    offsets_="utf16",
    label_kind="choice",
)
@given(
    file_rows=st.lists(rows(), min_size=1, max_size=8),
    name=st.sampled_from(["all.jsonl", "anna.jsonl"]),
    offsets_=st.sampled_from(["utf16", "codepoints"]),
    label_kind=st.sampled_from(["choice", "text"]),
)
def test_the_fast_loop_gives_the_general_paths_records(
    file_rows: list[dict[str, Any]], name: str, offsets_: OffsetUnit, label_kind: LabelKind
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        lines = [json.dumps(row, ensure_ascii=False) for row in file_rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected = _general_records(path, offsets_, label_kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = list(read(path, {"offsets": offsets_, "label_kind": label_kind}))
    assert got == expected


def _no_general_path(*_: Any) -> Record:
    raise AssertionError("a usual row took the general path")


@pytest.mark.parametrize("meta", [{}, {"ticket": "T-1"}], ids=["no-meta", "meta"])
def test_usual_rows_never_take_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meta: dict[str, Any]
) -> None:
    monkeypatch.setattr(_doccano_fast, "build_record", _no_general_path)
    text = "Alice Martin met Acme Corp in Zürich."
    usual = [
        {"id": 1, "text": text, **meta, "label": ["positive"], "Comments": []},
        {"id": 2, "text": text, **meta, "label": [[0, 12, "PER"], [17, 26, "ORG"]], "Comments": []},
        {"id": 3, "text": text, **meta, "label": [], "Comments": []},
    ]
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in usual), encoding="utf-8")
    records = list(read(path, {"label_kind": "choice"}))
    assert [r.data for r in records] == [{"text": text, **meta}] * 3
    assert records[0].annotations[0].regions == [
        Choice(field="label", labels=["positive"], target="text")
    ]
    assert records[1].annotations[0].regions == [
        Span(field="label", target="text", start=0, end=12, text="Alice Martin", label="PER"),
        Span(field="label", target="text", start=17, end=26, text="Acme Corp", label="ORG"),
    ]
    assert records[2].annotations == []
    as_texts = next(read(path, {"label_kind": "text"})).annotations[0].regions
    assert as_texts == [Text(field="label", value="positive", target="text")]


def test_a_row_refused_by_the_typed_decoder_leaves_the_rest_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first meta key the rows are read as dicts; they are still built fast."""
    monkeypatch.setattr(_doccano_fast, "build_record", _no_general_path)
    rows_ = [
        {"id": 1, "text": "a b", "label": ["X"], "Comments": []},
        {"id": 2, "text": "a b", "doc": "d-2", "label": ["Y"], "Comments": []},
        {"id": 3, "text": "a b", "label": [[0, 1, "Z"]], "Comments": []},
    ]
    path = tmp_path / "anna.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows_), encoding="utf-8")
    records = list(read(path, {"label_kind": "choice"}))
    assert [r.id for r in records] == ["1", "2", "3"]
    assert [r.data for r in records] == [
        {"text": "a b"},
        {"text": "a b", "doc": "d-2"},
        {"text": "a b"},
    ]
    assert {r.annotations[0].annotator for r in records} == {"anna"}
    assert [r.source.line for r in records] == [1, 2, 3]


def test_a_row_with_an_odd_value_leaves_the_typed_decoder_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a row with other keys (meta keys) turns the typed decoder off for the rest of the
    file; a row of the usual keys that it refuses (a negative offset, an empty label, a float
    id) is read as a dict alone."""
    from_dict = _doccano_fast.UsualRows.from_dict
    dict_lines: list[int] = []

    def spy(self: _doccano_fast.UsualRows, values: dict[str, Any], line: int) -> Record | None:
        dict_lines.append(line)
        return from_dict(self, values, line)

    monkeypatch.setattr(_doccano_fast.UsualRows, "from_dict", spy)
    rows_ = [
        {"id": 1, "text": "a b", "label": [[-1, 1, "X"]], "Comments": []},
        {"id": 2, "text": "a b", "label": [[0, 1, ""]], "Comments": []},
        {"id": 3.0, "text": "a b", "label": ["Y"], "Comments": []},
        {"id": 4, "text": "a b", "label": [[0, 1, "Z"]], "Comments": []},
        {"id": 5, "text": "a b", "doc": "d-5", "label": ["Y"], "Comments": []},
        {"id": 6, "text": "a b", "label": ["Y"], "Comments": []},
    ]
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows_), encoding="utf-8")
    records = list(read(path, {"label_kind": "choice"}))
    assert [r.id for r in records] == ["1", "2", "3", "4", "5", "6"]
    assert dict_lines == [1, 2, 3, 5, 6]  # row 4 typed; from row 5 on, dicts
    assert records == _general_records(path, "utf16", "choice")
    assert records[0].problems and records[1].problems  # the general path says what is wrong


@pytest.mark.parametrize("long_line", [2, 3])
def test_a_jsonl_line_above_the_limit_is_refused_where_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, long_line: int
) -> None:
    """The stream marks line ends itself (no mark() a row): the bound is on one line, and the
    error names the byte where that line starts. Lines just under the limit pass."""
    monkeypatch.setattr(_common, "MAX_TASK_BYTES", 100_000)
    lines = [
        json.dumps({"id": n, "text": "a" * 90_000, "label": ["X"], "Comments": []}).encode() + b"\n"
        for n in range(1, 5)
    ]
    lines[long_line - 1] = lines[long_line - 1].replace(b"a" * 90_000, b"a" * 300_000)
    path = tmp_path / "all.jsonl"
    path.write_bytes(b"".join(lines))
    start = sum(len(line) for line in lines[: long_line - 1])
    records = read(path, {"label_kind": "choice"})
    with pytest.raises(InputError) as refused:
        for _ in records:
            pass
    assert f"refused: one row (from about byte {start}) is larger than" in str(refused.value)
    lines[long_line - 1] = lines[0]
    path.write_bytes(b"".join(lines))
    assert len(list(read(path, {"label_kind": "choice"}))) == 4


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=50))
def test_has_astral_says_whether_utf16_units_and_code_points_differ(text: str) -> None:
    """Whatever the characters (ASCII, Latin-1, other BMP, astral), and so however CPython
    stores the string (1, 2 or 4 bytes a character), which the check reads off its size."""
    assert has_astral(text) == (len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text))


_ID_SOURCE = Source(tool="t", format="f", file="x")


def _repeats_reference(ids: list[str]) -> tuple[int, str | None]:
    seen: set[str] = set()
    repeats, first = 0, None
    for ident in ids:
        if ident in seen:
            repeats += 1
            first = first if first is not None else ident
        seen.add(ident)
    return repeats, first


ids_ = st.lists(st.integers(1, 30).map(str) | st.sampled_from(["a", "b", "img_2", "img_10"]))


@settings(max_examples=300, deadline=None)
@given(ids=ids_ | ids_.map(lambda ids: sorted(ids, key=lambda i: (len(i), i))))
def test_repeated_ids_are_counted_in_and_out_of_order(ids: list[str]) -> None:
    """warn_repeated_ids (adapters/_common.py) keeps growing ids in a list and turns it into
    a set at the first id that does not grow: the count and the first repeat are those of a
    plain set, before and after that turn."""
    records = [Record(id=ident, source=_ID_SOURCE) for ident in ids]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(warn_repeated_ids(iter(records), "x")) == records
    repeats, first = _repeats_reference(ids)
    said = [str(w.message) for w in caught if "repeat the id" in str(w.message)]
    if repeats:
        assert len(said) == 1 and f"x: {repeats} task(s) repeat" in said[0]
        assert f"(first: {first!r})" in said[0]
    else:
        assert said == []
