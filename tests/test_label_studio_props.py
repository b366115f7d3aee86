"""Property tests for the Label Studio parsers: geometry, CSV cells, row grouping, sniffing."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from itertools import groupby
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jsonl_bridge.adapters._ls_results import regions_from_value
from jsonl_bridge.adapters._ls_rows import Row, csv_rows, decode_cell
from jsonl_bridge.adapters._ls_shapes import percent_to_px
from jsonl_bridge.adapters._ls_table import group_rows, looks_like_result
from jsonl_bridge.adapters._ls_values import Where
from jsonl_bridge.adapters.label_studio import read, sniff
from jsonl_bridge.records import Box

sizes = st.integers(min_value=1, max_value=20_000)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(size=sizes, fraction=st.floats(min_value=0, max_value=1))
def test_percent_to_pixels_inverts_label_studios_pixels_to_percent(
    size: int, fraction: float
) -> None:
    px = fraction * size
    percent = px / size * 100  # what Label Studio stores
    assert abs(percent_to_px(percent, size) - px) <= 1e-9 * size


@given(
    width=sizes,
    height=sizes,
    box=st.tuples(*[st.floats(min_value=0, max_value=1)] * 4),
    rotation=st.floats(min_value=0, max_value=360),
)
def test_rectangle_percent_becomes_pixels_with_rotation_unchanged(
    width: int, height: int, box: tuple[float, float, float, float], rotation: float
) -> None:
    x, y, w, h = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    value = {
        "x": x / width * 100,
        "y": y / height * 100,
        "width": w / width * 100,
        "height": h / height * 100,
        "rotation": rotation,
        "rectanglelabels": ["a"],
    }
    (region,) = regions_from_value(
        "rectanglelabels", value, Where("f", None, "image", width, height)
    )
    assert isinstance(region, Box)
    got = (region.x, region.y, region.w, region.h)
    for mine, want, size in zip(got, (x, y, w, h), (width, height, width, height), strict=True):
        assert abs(mine - want) <= 1e-9 * size
    assert region.rotation == rotation and region.pivot == "top_left"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
containers = st.lists(json_values, max_size=3) | st.dictionaries(text, json_values, max_size=3)


@settings(max_examples=60)
@given(cells=st.lists(containers | text, min_size=1, max_size=5), delimiter=st.sampled_from(",\t"))
def test_csv_cells_decode_to_what_label_studio_encoded(cells: list[Any], delimiter: str) -> None:
    """Lists/objects are JSON in a cell (Label Studio's encoding); other text stays as is."""
    encoded = [c if isinstance(c, str) else json.dumps(c, ensure_ascii=False) for c in cells]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")
            writer.writerow(["annotation_id", "id", "value"])
            for number, cell in enumerate(encoded):
                writer.writerow([number, number, cell])
        rows = list(csv_rows(path, delimiter))
    assert [row.values["value"] for row in rows] == encoded
    for cell, row in zip(cells, rows, strict=True):
        decoded = decode_cell(row.values["value"])
        if isinstance(cell, str):
            if not cell.lstrip().startswith(("[", "{")):
                assert decoded == cell
        else:
            assert decoded == cell


@given(
    st.lists(
        st.text(min_size=1, max_size=20).filter(lambda s: not s.lstrip().startswith(("[", "{")))
    )
)
def test_plain_text_cells_are_never_decoded(cells: list[str]) -> None:
    assert [decode_cell(c) for c in cells] == cells


@given(ids=st.lists(st.sampled_from([1, 2, 3, None]), max_size=30))
def test_rows_group_into_consecutive_runs_of_one_task(ids: list[int | None]) -> None:
    rows = [Row(i, {"id": task_id} if task_id is not None else {}) for i, task_id in enumerate(ids)]
    groups = list(group_rows(rows))
    assert [row for group in groups for row in group] == rows  # order kept, nothing lost
    for group in groups:
        assert len({row.values.get("id") for row in group}) == 1
        if group[0].values.get("id") is None:
            assert len(group) == 1  # a row without an id is its own (problem) task
    runs = sum(len(list(run)) if key is None else 1 for key, run in groupby(ids))
    assert len(groups) == runs


@settings(max_examples=40)
@given(
    tasks=st.lists(
        st.tuples(text, st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)),
        min_size=1,
        max_size=8,
    )
)
def test_json_min_rows_regroup_into_the_tasks_they_came_from(
    tasks: list[tuple[str, list[str]]],
) -> None:
    rows = []
    for task_id, (body, answers) in enumerate(tasks, start=1):
        meta = {"id": task_id, "created_at": None, "updated_at": None, "lead_time": None}
        if not answers:
            rows.append({"text": body, **meta, "annotator": None, "annotation_id": None})
        for number, answer in enumerate(answers):
            rows.append({"text": body, **meta, "label": {"choices": [answer]},
                         "annotator": number, "annotation_id": task_id * 10 + number})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export_min.json"
        path.write_text(json.dumps(rows), encoding="utf-8")
        assert sniff(path)
        records = list(read(path, {}))
    assert [r.id for r in records] == [str(i) for i in range(1, len(tasks) + 1)]
    for record, (body, answers) in zip(records, tasks, strict=True):
        assert record.data == {"text": body}
        assert [a.regions[0].labels for a in record.annotations] == [[x] for x in answers]


@given(value=json_values)
def test_result_shape_detection_never_crashes(value: Any) -> None:
    assert looks_like_result(value) in (True, False)


@given(head=st.binary(max_size=200))
def test_sniff_never_crashes_on_junk(head: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x"
        path.write_bytes(head)
        assert sniff(path) in (True, False)


def test_csv_module_round_trip_sanity() -> None:
    """csv.reader on a CRLF file with a bare LF inside a quoted cell: one row, LF kept."""
    rows = list(csv.reader(io.StringIO('a,b\r\n"x\ny",2\r\n', newline=""), strict=True))
    assert rows == [["a", "b"], ["x\ny", "2"]]
