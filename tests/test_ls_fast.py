"""Label Studio JSON: the fast builder of usual tasks gives exactly the general path's records.

The general path (`task_record`) is the reference: the golden tests check it, and it is what
every unusual task goes through. Tasks are generated around the usual shapes (choices, text
spans, rectangles, texts, predictions, image and text data) and just off them (ids and
values of other types, float offsets, results without a size, bare shapes, relations, types
this version does not know), so that both the fast builders and every way back to the
general path are compared. Where the fast path builds a record, the general one must build
the same record with no problem and no warning; where it declines, the general one decides.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jsonl_bridge.adapters import _json_value, _ls_fast, label_studio
from jsonl_bridge.adapters._ls_config import LabelConfig
from jsonl_bridge.adapters._ls_fast import UsualTasks
from jsonl_bridge.adapters._ls_json import task_record
from jsonl_bridge.adapters._ls_results import KEPT_ATTRIBUTES, kept_attributes
from jsonl_bridge.adapters._ls_shapes import looks_like_image
from jsonl_bridge.records import Box, Choice, MediaRef, Record, Span, Text

FILE = "export.json"
CONFIG = LabelConfig(
    path="config.xml",
    controls={},
    objects={"img": ("Image", "image"), "doc": ("Text", "text")},
    relation_labels=None,
)
"""Results point at object tags named apart from their data keys (img → image)."""


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` but one time in 25: a task has dozens of such values, and the fast path must be
    tested on the usual shapes (about half the tasks)."""
    return st.integers(0, 24).flatmap(lambda n: odd if n == 24 else usual)


texts = st.text(st.characters(codec="utf-8", max_codepoint=0x1F600), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=5,
)
"""Any JSON value (and the infinities that Python's `json` reads from 1e400)."""
numbers = mostly(st.floats(0, 100) | st.integers(0, 100), json_values)
labels = mostly(st.lists(st.sampled_from(["PER", "ORG", ""]), max_size=2), json_values)

VALUES = {
    "choices": st.fixed_dictionaries({"choices": labels}),
    "labels": st.fixed_dictionaries(
        {"start": mostly(st.integers(0, 30), numbers), "end": st.integers(0, 40) | numbers},
        optional={"text": mostly(texts, json_values)},
    ).map(lambda value: {**value, "labels": ["PER"]})
    | st.fixed_dictionaries({"labels": labels}, optional={"start": numbers, "end": numbers}),
    "rectanglelabels": st.fixed_dictionaries(
        {k: numbers for k in ("x", "y", "width", "height")},
        optional={"rotation": numbers, "rectanglelabels": labels},
    ).map(lambda value: {"rectanglelabels": ["cat"], **value}),
    "textarea": st.fixed_dictionaries({"text": mostly(st.lists(texts, max_size=2), labels)}),
    "rating": st.fixed_dictionaries({"rating": numbers}),
    "taxonomy": st.fixed_dictionaries({"taxonomy": st.lists(labels, max_size=2)}),
    "rectangle": st.fixed_dictionaries({k: numbers for k in ("x", "y", "width", "height")}),
    "polygonlabels": st.fixed_dictionaries(
        {"points": st.lists(st.lists(numbers, min_size=2, max_size=2), max_size=3)},
        optional={"polygonlabels": labels},
    ),
    "newtype": st.fixed_dictionaries({"x": numbers}),
}
RESULT_TYPES = st.sampled_from(["choices", "labels", "rectanglelabels", "textarea"])
OTHER_TYPES = st.sampled_from([*sorted(VALUES), "relation"]) | json_values


@st.composite
def results(draw: st.DrawFn) -> Any:
    """A result of a usual type and shape, or now and then of another type or shape."""
    rtype = draw(mostly(RESULT_TYPES, OTHER_TYPES))
    value_of = VALUES.get(rtype) if isinstance(rtype, str) else None
    result: dict[str, Any] = {
        "id": draw(mostly(st.sampled_from(["r1", "r2", "r3", ""]), json_values)),
        "type": rtype,
        "value": draw(json_values if value_of is None else mostly(value_of, json_values)),
        "from_name": draw(mostly(st.just("label"), json_values)),
        "to_name": draw(st.sampled_from(["doc", "img", "text", "other"]) | json_values),
    }
    if rtype == "relation":
        result.update(from_id="r1", to_id=draw(mostly(st.just("r2"), json_values)))
    if draw(st.booleans()):
        result["original_width"] = draw(mostly(st.integers(1, 4000), json_values))
        result["original_height"] = draw(mostly(st.integers(1, 4000), json_values))
    optional = {k: json_values for k in (*KEPT_ATTRIBUTES, "image_rotation")}
    result.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return draw(mostly(st.just(result), json_values))


users = mostly(st.integers(1, 9), st.fixed_dictionaries({"id": json_values, "email": texts}))
annotation_fields = {
    "id": mostly(st.integers(1, 10**6), json_values),
    "completed_by": mostly(users, json_values),
    "result": mostly(st.lists(results(), max_size=3), json_values),
    "was_cancelled": mostly(st.booleans(), json_values),
    "ground_truth": mostly(st.booleans(), json_values),
    "created_at": mostly(st.just("2024-06-10T11:41:24Z"), json_values),
    "lead_time": numbers,
}
annotations = st.fixed_dictionaries(
    {}, optional={**annotation_fields, "skipped": json_values}
) | st.fixed_dictionaries(annotation_fields)
predictions = st.fixed_dictionaries(
    {"result": mostly(st.lists(results(), max_size=2), json_values)},
    optional={"id": json_values, "model_version": texts, "score": numbers},
)
data = st.fixed_dictionaries({"text": texts}) | st.fixed_dictionaries(
    {"image": st.sampled_from(["/data/upload/1/a.PNG", "https://h/b.jpg?sig=x", "c.txt"])}
)


@st.composite
def tasks(draw: st.DrawFn) -> Any:
    """A task of the usual shape, sometimes off it in one or more ways."""
    key = draw(mostly(st.just("annotations"), st.sampled_from(["completions", "nothing"])))
    task: dict[str, Any] = {
        "id": draw(mostly(st.integers(1, 10**6), json_values)),
        "data": draw(mostly(data, json_values)),
        key: draw(mostly(st.lists(mostly(annotations, json_values), max_size=3), json_values)),
    }
    optional = {
        "predictions": mostly(
            st.lists(mostly(predictions, st.integers(1, 9) | texts), max_size=2), json_values
        ),
        "meta": json_values,
        "inner_id": json_values,
        "file_upload": texts,
    }
    task.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return draw(mostly(st.just(task), json_values))


def general(index: int, task: Any, config: LabelConfig | None) -> tuple[Record, list[str]]:
    """The general path's record of one task, and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = task_record(index, task, FILE, config, set())
    return record, [str(w.message) for w in caught]


@settings(max_examples=400, deadline=None)
@example(
    task={"id": 1, "data": {"text": "a"}, "annotations": [{"result": [{"type": "choices"}]}]},
    with_config=False,
)
@example(  # a bare shape whose id is a list: the general path crashed on it (TypeError)
    task={
        "id": 1,
        "data": {"text": ""},
        "annotations": [{"result": [{"id": [], "type": "rectangle", "value": {}}]}],
    },
    with_config=False,
)
@given(task=tasks(), with_config=st.booleans())
def test_the_fast_path_builds_the_general_paths_record(task: Any, with_config: bool) -> None:
    config = CONFIG if with_config else None
    fast = UsualTasks(FILE, config).record(7, task)
    expected, warned = general(7, task, config)
    if fast is not None:
        assert fast == expected
        assert not expected.problems and not warned


@settings(max_examples=100, deadline=None)
@given(export=st.lists(tasks(), min_size=1, max_size=6))
def test_reading_an_export_gives_the_general_paths_records(export: list[Any]) -> None:
    """Through `read`: the fast path, the general one, and the warnings once per export."""
    first = {"id": 0, "data": {"text": "t"}, "annotations": []}  # read() wants a task first
    unknown: set[str] = set()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(json.dumps([first, *export], ensure_ascii=False), encoding="utf-8")
        with warnings.catch_warnings(record=True) as expected_warnings:
            warnings.simplefilter("always")
            expected = [
                task_record(index, task, str(path), None, unknown)
                for index, task in enumerate([first, *export])
            ]
        with warnings.catch_warnings(record=True) as got_warnings:
            warnings.simplefilter("always")
            got = list(label_studio.read(path))
    assert got == expected
    messages = [str(w.message) for w in expected_warnings]
    assert [str(w.message) for w in got_warnings if "repeat the id" not in str(w.message)] == (
        messages
    )


def _refuse(*_: Any) -> Record:
    raise AssertionError("a usual task took the general path")


def test_usual_tasks_never_take_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shapes of real exports and of the benchmark (shared/bench/gen_exports.py)."""
    monkeypatch.setattr(label_studio, "task_record", _refuse)
    size = {"original_width": 640, "original_height": 480, "image_rotation": 0}
    box = {"x": 10, "y": 50, "width": 25.0, "height": 10, "rotation": 0}
    export = [
        _task(1, {"text": "Bob met Acme."}, {"choices": ["Positive"]}, "choices"),
        _task(2, {"text": "Bob met Acme."}, {"start": 0, "end": 3, "labels": ["PER"]}, "labels"),
        _task(3, {"image": "/data/upload/1/a.png"}, {**box, "rectanglelabels": ["cat"]}, size),
        _task(4, {"text": "long text"}, {"text": ["a summary"]}, "textarea"),
    ]
    export[1]["predictions"] = [7]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    records = list(label_studio.read(path))
    common = {"field": "label", "id": "r", "attributes": {"origin": "manual"}}
    assert [r.annotations[0].regions for r in records] == [
        [Choice(**common, target="text", labels=["Positive"])],
        [Span(**common, target="text", start=0, end=3, text=None, label="PER")],
        [Box(**common, target="image", label="cat", x=64.0, y=240.0, w=160.0, h=48.0)],
        [Text(**common, target="text", value="a summary")],
    ]
    assert records[1].meta == {"prediction_ids": [7]}
    assert records[2].media == [
        MediaRef(key="image", uri="/data/upload/1/a.png", width=640, height=480)
    ]
    assert [r.annotations[0].annotator for r in records] == ["4"] * 4


def _task(ident: int, data: dict[str, Any], value: dict[str, Any], kind: Any) -> dict[str, Any]:
    """A task with one annotation holding one result (`kind` its type, or an image size)."""
    extra = kind if isinstance(kind, dict) else {}
    rtype = "rectanglelabels" if extra else kind
    to_name = "image" if extra else "text"
    result = {"value": value, "id": "r", "from_name": "label", "to_name": to_name}
    result.update(type=rtype, origin="manual", **extra)
    annotation = {"id": ident, "completed_by": 4, "result": [result], "was_cancelled": False}
    return {"id": ident, "annotations": [annotation], "data": data, "predictions": []}


def test_an_unusual_task_goes_back_to_the_general_path_with_its_problem() -> None:
    task = _task(1, {"text": "a"}, {"start": 0.5, "end": 2, "labels": ["X"]}, "labels")
    assert UsualTasks(FILE, None).record(0, task) is None
    record, _ = general(0, task, None)
    assert record.problems == [
        "/[0]/annotations/0/result/0: span value needs 'start': a character offset"
    ]
    assert _ls_fast.UsualTasks(FILE, None).record(0, [task]) is None


def _looks_like_image_as_before(value: object) -> bool:
    """The reference: the whole value lowered, split at '#' and at '?'."""
    if not isinstance(value, str) or not value or len(value) > 4096 or "\n" in value:
        return False
    if value.startswith("data:image/"):
        return True
    suffixes = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
    lowered = value.lower().split("#", 1)[0]
    return lowered.endswith(suffixes) or lowered.split("?", 1)[0].endswith(suffixes)


_URL_PIECES = ["a", ".png", ".JPEG", ".tiF", "G", "?", "#", "x=1", "İ", "\u212a", "Σ", "/", "ß"]


@settings(max_examples=500)
@given(value=st.lists(st.sampled_from(_URL_PIECES), max_size=6).map("".join) | st.text(max_size=8))
def test_the_image_guess_reads_only_the_end_of_a_name_and_agrees(value: str) -> None:
    assert looks_like_image(value) == _looks_like_image_as_before(value)


@given(result=st.dictionaries(st.sampled_from([*KEPT_ATTRIBUTES, "x"]), json_values))
def test_kept_attributes_drop_none_and_empty_containers_only(result: dict[str, Any]) -> None:
    expected = {
        k: v for k in KEPT_ATTRIBUTES if (v := result.get(k)) is not None and v != {} and v != []
    }
    assert kept_attributes(result) == expected


def _refused(data: bytes) -> bool:
    try:
        _json_value.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return True
    return False


@settings(max_examples=500)
@example(raw=b"\xed\xa0\x80")  # U+D800 encoded: not UTF-8
@given(raw=st.binary(max_size=8) | st.text(max_size=4).map(str.encode))
def test_leaving_the_utf8_check_to_msgspec_refuses_the_same_stretches(raw: bytes) -> None:
    """Where msgspec checks UTF-8 itself, the parse skips its own pass: same refusals."""
    data = b'[{"a": "' + raw.replace(b'"', b"").replace(b"\\", b"") + b'"}]'
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_json_value, "_CHECKS_UTF8", False)
        checked_first = _refused(data)
    assert _refused(data) == checked_first
    if _json_value._CHECKS_UTF8:
        assert checked_first == (not _is_utf8(data) or _refused(data))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
