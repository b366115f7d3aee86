"""Label Studio JSON export: a top-level array of tasks, streamed one task at a time.

The array can be gigabytes, so it is never loaded whole: `_json_array` hands orjson one
stretch of tasks at a time. Each task becomes one Record; whatever is wrong inside a task goes
to `Record.problems` and streaming goes on, while a file that is not valid JSON (truncated,
empty, binary) raises InputError naming the file, the task and the byte offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Annotation, Record, Source

from ._common import to_id, to_number
from ._json_array import array_items
from ._ls_config import LabelConfig
from ._ls_results import regions_from_results
from ._ls_shapes import media_refs
from ._ls_values import Sizes

TOOL = "label-studio"
_TASK_META = ("inner_id", "file_upload", "storage_filename", "agreement")


def iter_array(path: Path) -> Iterator[Any]:
    """Stream the items of the top-level JSON array in `path`; InputError when it is not one."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", where=str(path)) from exc
    with stream:
        yield from array_items(stream, str(path), "task")


def task_record(
    index: int,
    task: Any,
    file: str,
    config: LabelConfig | None,
    unknown_types: set[str] | None = None,
) -> Record:
    """One task of the JSON export as a Record; problems are collected, never raised.
    `unknown_types`: see `regions_from_results` (given, results of unknown types are left out
    with one warning per type)."""
    pointer = f"/[{index}]"
    source = Source(tool=TOOL, format="json", file=file, pointer=pointer)
    if not isinstance(task, dict):
        return Record(id=pointer, source=source, problems=[f"{pointer}: a task must be an object"])
    problems: list[str] = []
    task_id = to_id(task.get("id"))
    if task_id is None:
        problems.append(f"{pointer}: task has no 'id'")
    data = task.get("data")
    if not isinstance(data, dict):
        problems.append(f"{pointer}/data: task data must be an object")
        data = {}
    target_of = config.data_key if config else _as_given
    sizes: Sizes = {}
    reading = _Reading(target_of, sizes, problems, unknown_types)
    annotations = _annotations(task, pointer, reading)
    predictions, prediction_ids = _predictions(task, pointer, reading)
    return Record(
        id=task_id or pointer,
        source=source,
        data=data,
        media=media_refs(data, config.image_keys if config else None, sizes),
        annotations=annotations + predictions,
        meta=task_meta(task, prediction_ids),
        problems=problems,
    )


def task_meta(task: dict[str, Any], prediction_ids: list[int | str]) -> dict[str, Any]:
    """What the record keeps of the task's own keys: upload, storage, agreement, meta."""
    meta = {}
    for key in _TASK_META:  # a loop, not a comprehension: cheaper, and this runs for every task
        value = task.get(key)
        if value is not None:
            meta[key] = value
    if task.get("meta"):
        meta["meta"] = task["meta"]
    if prediction_ids:
        meta["prediction_ids"] = prediction_ids
    return meta


def _as_given(name: str | None) -> str | None:
    return name


@dataclass(slots=True)
class _Reading:
    """Where a task's readers put what they find: image sizes, problems, unknown types."""

    target_of: Any
    sizes: Sizes
    problems: list[str]
    unknown_types: set[str] | None


def _annotations(task: dict[str, Any], pointer: str, reading: _Reading) -> list[Annotation]:
    key = "annotations" if "annotations" in task else "completions"  # "completions": LS < 1.0
    items = task.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        reading.problems.append(f"{pointer}/{key}: expected a list, got {type(items).__name__}")
        return []
    found = []
    for number, item in enumerate(items):
        where = f"{pointer}/{key}/{number}"
        if not isinstance(item, dict):
            reading.problems.append(f"{where}: an annotation must be an object")
            continue
        annotator, email = user_of(item.get("completed_by"))
        ident = item.get("id")
        found.append(
            Annotation(
                id=to_id(ident) if type(ident) is not int else str(ident),
                annotator=annotator,
                ground_truth=item.get("ground_truth") is True,
                cancelled=bool(item.get("was_cancelled") or item.get("skipped")),
                created_at=_text(item.get("created_at")),
                lead_time=to_number(item.get("lead_time")),
                regions=_regions(item, where, reading),
                meta={"email": email} if email else {},
            )
        )
    return found


def _predictions(
    task: dict[str, Any], pointer: str, reading: _Reading
) -> tuple[list[Annotation], list[int | str]]:
    """Full prediction objects become annotations; bare ids (LS 1.2x quick export) are counted."""
    items = task.get("predictions")
    if items is None:
        return [], []
    if not isinstance(items, list):
        reading.problems.append(
            f"{pointer}/predictions: expected a list, got {type(items).__name__}"
        )
        return [], []
    found, ids = [], []
    for number, item in enumerate(items):
        where = f"{pointer}/predictions/{number}"
        if isinstance(item, int | str) and not isinstance(item, bool):
            ids.append(item)
            continue
        if not isinstance(item, dict):
            reading.problems.append(f"{where}: a prediction must be an object or an id")
            continue
        model = _text(item.get("model_version")) or None
        meta = {"model_version": model, "score": to_number(item.get("score"))}
        found.append(
            Annotation(
                id=to_id(item.get("id")),
                annotator=model,
                kind="prediction",
                created_at=_text(item.get("created_at")),
                regions=_regions(item, where, reading),
                meta={k: v for k, v in meta.items() if v is not None},
            )
        )
    return found, ids


def _regions(item: dict[str, Any], where: str, reading: _Reading) -> list[Any]:
    results = item.get("result")
    if results is None:
        return []
    if not isinstance(results, list):
        reading.problems.append(f"{where}/result: expected a list, got {type(results).__name__}")
        return []
    regions, errors = regions_from_results(
        results, f"{where}/result", reading.target_of, reading.sizes, reading.unknown_types
    )
    reading.problems.extend(errors)
    return regions


def user_of(completed_by: object) -> tuple[str | None, str | None]:
    """`completed_by` is a user id, or `{id, email, ...}` in some Label Studio versions."""
    if isinstance(completed_by, dict):
        email = _text(completed_by.get("email")) or None
        return to_id(completed_by.get("id")) or email, email
    return to_id(completed_by), None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
