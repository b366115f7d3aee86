"""Label Studio JSON tasks of the usual shapes → Records, built in one tight loop.

Most tasks of an export are alike: an id, a data object, annotations (and perhaps
predictions) whose results are choices, text spans, rectangles or texts. The general path
(`task_record`) reads each task through layers that each check what they get and name where
it is (a pointer per annotation and result, a `Where` per result, a reader looked up per
type): for a classification task that cost about twice the parse of the task. Here the records
of usual tasks are built directly, with keywords, from values whose types were checked once
with `type(x) is`, which is all the Structs' own check would do; nothing names a place
unless something is wrong, and then the general path does.

Anything off the usual shapes (a value of another type, anything the general path would
report as a problem or a warning, a bare shape result) makes `record` return None, and the
task goes through the general path, which says what is wrong. Results of the other known
types (taxonomy, rating, polygons, relations...) are read by the general result reader.
tests/test_ls_fast.py shows that both paths give the same records; the readers of the usual
result types are in `_ls_fast_results`.
"""

from __future__ import annotations

from typing import Any

from jsonl_bridge.records import Annotation, Record, Region, Source

from ._common import to_id, to_number
from ._ls_config import LabelConfig
from ._ls_fast_results import READERS
from ._ls_json import TOOL, task_meta, user_of
from ._ls_results import kept_attributes, known_type, original_size, read_result
from ._ls_shapes import SHAPES, media_refs
from ._ls_values import ResultError, Sizes


class UsualTasks:
    """Builds the records of the usual tasks of one JSON export (module docstring)."""

    def __init__(self, file: str, config: LabelConfig | None):
        self._file = file
        self._image_keys = config.image_keys if config else None
        self._target_of = config.data_key if config else _as_given

    def record(self, index: int, task: Any) -> Record | None:
        """The task's record, as `task_record` builds it; None when the task is not usual."""
        if type(task) is not dict:
            return None
        ident, data = task.get("id"), task.get("data")
        if type(ident) is int:
            ident = str(ident)
        elif type(ident) is not str or not ident:
            return None
        if type(data) is not dict:
            return None
        sizes: Sizes = {}
        annotations = self._annotations(task, sizes)
        predictions = self._predictions(task.get("predictions"), sizes)
        if annotations is None or predictions is None:
            return None
        found, ids = predictions
        return Record(
            id=ident,
            source=Source(tool=TOOL, format="json", file=self._file, pointer=f"/[{index}]"),
            data=data,
            media=media_refs(data, self._image_keys, sizes),
            annotations=annotations + found,
            meta=task_meta(task, ids),
        )

    def _annotations(self, task: dict[str, Any], sizes: Sizes) -> list[Annotation] | None:
        items = task.get("annotations" if "annotations" in task else "completions")
        if items is None:
            return []
        if type(items) is not list:
            return None
        found = []
        for item in items:
            if type(item) is not dict:
                return None
            regions = self._regions(item.get("result"), sizes)
            if regions is None:
                return None
            by, ident = item.get("completed_by"), item.get("id")
            email = None
            if type(by) is dict:
                annotator, email = user_of(by)
            else:
                annotator = str(by) if type(by) is int else to_id(by)
            created = item.get("created_at")
            found.append(
                Annotation(
                    id=str(ident) if type(ident) is int else to_id(ident),
                    annotator=annotator,
                    ground_truth=item.get("ground_truth") is True,
                    cancelled=bool(item.get("was_cancelled") or item.get("skipped")),
                    created_at=created if type(created) is str else None,
                    lead_time=to_number(item.get("lead_time")),
                    regions=regions,
                    meta={"email": email} if email else {},
                )
            )
        return found

    def _predictions(
        self, items: Any, sizes: Sizes
    ) -> tuple[list[Annotation], list[int | str]] | None:
        """Prediction objects as annotations, and bare prediction ids (`_ls_json._predictions`
        tells why)."""
        if items is None:
            return [], []
        if type(items) is not list:
            return None
        found, ids = [], []
        for item in items:
            if type(item) is int or type(item) is str:
                ids.append(item)
                continue
            if type(item) is not dict:
                return None
            regions = self._regions(item.get("result"), sizes)
            if regions is None:
                return None
            model, score = item.get("model_version"), to_number(item.get("score"))
            model = model if type(model) is str and model else None
            created = item.get("created_at")
            meta = {"model_version": model, "score": score}
            found.append(
                Annotation(
                    id=to_id(item.get("id")),
                    annotator=model,
                    kind="prediction",
                    created_at=created if type(created) is str else None,
                    regions=regions,
                    meta={k: v for k, v in meta.items() if v is not None},
                )
            )
        return found, ids

    def _regions(self, results: Any, sizes: Sizes) -> list[Region] | None:
        """The regions of one `result` list; None when one result is not usual."""
        if results is None:
            return []
        if type(results) is not list:
            return None
        regions: list[Region] = []
        for result in results:
            if type(result) is not dict:
                return None
            rtype = result.get("type")
            read = READERS.get(rtype) if type(rtype) is str else None
            if read is None:
                found = self._other(result, rtype, sizes)
            else:
                value, field = result.get("value"), result.get("from_name")
                if type(value) is not dict or type(field) is not str:
                    return None
                to_name = result.get("to_name")
                target = self._target_of(to_name if type(to_name) is str else None)
                size = original_size(result, target, sizes) if "original_width" in result else None
                rid = result.get("id")
                rid = rid if type(rid) is str and rid else to_id(rid)
                found = read(value, field, rid, target, kept_attributes(result), size)
            if found is None:
                return None
            regions += found
        return regions

    def _other(self, result: dict[str, Any], rtype: Any, sizes: Sizes) -> list[Region] | None:
        """A result of a known type without a reader here, read by the general reader; None
        for what the general path reports (a problem, a new type) or reads in context (a bare
        shape, which the same region with labels may repeat)."""
        if type(rtype) is not str or rtype in SHAPES:
            return None
        if rtype != "relation" and not known_type(rtype):
            return None
        try:
            return read_result(result, self._target_of, sizes)
        except ResultError:
            return None


def _as_given(name: str | None) -> str | None:
    """Without a labeling config, a result's to_name is the data key it points at."""
    return name
