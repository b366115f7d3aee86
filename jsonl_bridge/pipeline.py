"""The pipeline as plain functions over iterators: read → select → render → Example.

`convert` returns a lazy `Conversion`: iterating it streams examples, and its `report` and
`rejects` are complete once iteration ends. Per-task problems become rejects; whole-input
problems raise. Nothing here prints.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from copy import copy
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from pydantic import BaseModel

from jsonl_bridge._schema import SchemaScan
from jsonl_bridge.ahead import Ahead, AheadParts
from jsonl_bridge.chat import Example
from jsonl_bridge.errors import InputError, RecordError, UsageError
from jsonl_bridge.gate import Gate
from jsonl_bridge.mapping import Mapping, load_mapping
from jsonl_bridge.media import Media
from jsonl_bridge.reading import Options, resolve_adapter
from jsonl_bridge.records import ExportSchema, Record
from jsonl_bridge.registry import Adapter
from jsonl_bridge.rejects import Rejects
from jsonl_bridge.render import Renderer
from jsonl_bridge.report import Reject, Report
from jsonl_bridge.resolve import ImageResolver, ImageRoot
from jsonl_bridge.select import candidates, select
from jsonl_bridge.spool import RecordSpool, Replay, pack_block, unpack_block
from jsonl_bridge.workers import ordered_map

if TYPE_CHECKING:
    from jsonl_bridge.embed import EmbeddedImage

SERIAL_HEAD = 2000
"""Tasks a run converts in this process before it starts worker processes: a short run never
pays for them, and the workers inherit caches that are already warm."""
CHUNK_TASKS = 250
"""Tasks handed to a worker at a time: few enough to keep memory flat, enough that passing
them back and forth costs little beside converting them."""


@dataclass
class _Tally:
    """Where converting tasks counts its outcomes: the run's own, or one chunk's."""

    report: Report
    rejects: MutableSequence[Reject] | Rejects
    gate: Gate
    ignored_predictions: int = 0
    annotators: set[str] = field(default_factory=set)

    def reject(self, record: Record, reason: str, detail: str, annotators: list[str]) -> None:
        self.report.rejected[reason] += 1
        self.rejects.append(Reject(record.id, record.source, reason, detail, annotators))

    def add(self, part: _Part) -> None:
        """Count a chunk converted apart (`Conversion._convert_chunk`) into this tally."""
        done = part.report
        for name in ("tasks_read", "examples", "unannotated", "skipped_empty"):
            setattr(self.report, name, getattr(self.report, name) + getattr(done, name))
        self.report.rejected.update(done.rejected)
        for reject in part.rejects:
            self.rejects.append(reject)
        over_tokens, shrunk = part.gate_counts
        self.gate.over_tokens += over_tokens
        self.gate.shrunk_under_pixel_boxes += shrunk
        self.ignored_predictions += part.ignored_predictions
        self.annotators |= part.annotators


@dataclass
class _Part:
    """What converting a chunk gave (examples as msgpack, in task order) and counted: what a
    worker sends back, so the gate's own state stays behind."""

    examples: list[bytes]
    report: Report
    rejects: list[Reject]
    gate_counts: tuple[int, int]
    ignored_predictions: int
    annotators: set[str]

    @classmethod
    def of(cls, examples: list[bytes], tally: _Tally) -> _Part:
        gate = tally.gate
        return cls(
            examples,
            tally.report,
            list(tally.rejects),
            (gate.over_tokens, gate.shrunk_under_pixel_boxes),
            tally.ignored_predictions,
            tally.annotators,
        )


class Conversion:
    """A lazy, single-pass stream of examples with its report and rejects."""

    def __init__(
        self,
        records: Iterable[Record],
        mapping: Mapping,
        renderer: Renderer,
        media: Media,
        gate: Gate,
        skip_empty: bool = False,
        workers: int = 1,
        converted: AheadParts | None = None,
    ):
        self.mapping = mapping
        self._gate = gate
        self._skip_empty = skip_empty
        self.report = Report()
        self.rejects = Rejects()
        """The rejected tasks, a read-only list (mostly on disk when there are many)."""
        self._records = records
        self._renderer = renderer
        self._media = media
        self._workers = workers
        """Processes converting text tasks (image runs use theirs to re-encode images)."""
        self._converted = converted
        """The first blocks of the spooled records, converted during the first pass."""
        self._started = False

    def __iter__(self) -> Iterator[Example]:
        if self._started:
            raise UsageError("a Conversion can be iterated once; call convert() again")
        self._started = True
        tally = _Tally(self.report, self.rejects, self._gate)
        try:
            if self._workers > 1 and not self._media.lookahead:
                yield from self._in_workers(tally)
            else:
                for record in self._ahead_of_media(self._records):
                    example = self._step(record, tally)
                    if example is not None:
                        yield example
        finally:
            self._media.close()  # downloaded images, open zip roots
            stats = self._media.stats
            self.report.images_embedded = stats.embedded
            self.report.images_reencoded = stats.reencoded
            self.report.image_bytes = stats.bytes
        for message in self._gate.warnings():
            self._warn(message)
        if tally.ignored_predictions and self.mapping.include_predictions:
            self._warn(
                f"{tally.ignored_predictions} predictions are exported as ids only and were ignored"
            )
        self._check_annotator(tally.annotators)

    def _in_workers(self, tally: _Tally) -> Iterator[Example]:
        """Text tasks converted in worker processes (jsonl_bridge/workers.py) once the run is
        long enough to pay for them; examples, rejects and counts come back in task order, so
        the output is the same as with one process."""
        records = iter(self._records)
        ahead: Iterable[_Part] = ()
        if self._converted is not None and isinstance(records, Replay):
            ahead = self._converted
            records.skip_blocks(self._converted.blocks)
        else:
            for record in islice(records, SERIAL_HEAD):
                example = self._step(record, tally)
                if example is not None:
                    yield example
        if isinstance(records, Replay):
            chunks = records.blocks()  # as spooled: CHUNK_TASKS records a block
        else:
            chunks = iter(lambda: pack_block(islice(records, CHUNK_TASKS)), b"")
        decode = msgspec.msgpack.Decoder(Example).decode
        for part in chain(ahead, ordered_map(self._convert_chunk, chunks, self._workers)):
            tally.add(part)
            for blob in part.examples:
                yield decode(blob)

    def _convert_chunk(self, chunk: bytes) -> _Part:
        """One chunk of tasks, counted apart from the run (in a worker, or here when the
        workers failed), for `_Tally.add` to add in order."""
        gate = copy(self._gate)
        gate.over_tokens = gate.shrunk_under_pixel_boxes = 0
        tally = _Tally(Report(), [], gate)
        encode = msgspec.msgpack.encode
        examples = []
        for record in unpack_block(chunk):
            example = self._step(record, tally)
            if example is not None:
                examples.append(encode(example))
        return _Part.of(examples, tally)

    def _step(self, record: Record, tally: _Tally) -> Example | None:
        tally.report.tasks_read += 1
        tally.ignored_predictions += len(record.meta.get("prediction_ids", ()))
        for annotation in record.annotations:
            if annotation.annotator:
                tally.annotators.add(annotation.annotator)
        example = self._convert_one(record, tally)
        if example is not None:
            tally.report.examples += 1
        return example

    def _ahead_of_media(self, records: Iterable[Record]) -> Iterator[Record]:
        """The records, each handed to media `lookahead` tasks before its turn (when there
        are image workers to keep busy)."""
        window = self._media.lookahead
        if not window:
            yield from records
            return
        pending: deque[Record] = deque()
        for record in records:
            self._media.prefetch(record, wanted=bool(record.annotations) and not record.problems)
            pending.append(record)
            if len(pending) > window:
                yield pending.popleft()
        yield from pending

    def _check_annotator(self, seen: set[str]) -> None:
        """`select: annotator:<id>` naming nobody in the export is a typo, not an empty run."""
        policy = self.mapping.select
        if policy.startswith("annotator:") and policy.partition(":")[2] not in seen:
            known = ", ".join(sorted(seen)) or "none"
            self._warn(f"no annotation by {policy} in this export (annotators: {known})")

    def _convert_one(self, record: Record, tally: _Tally) -> Example | None:
        if record.problems:
            who = list(dict.fromkeys(a.annotator for a in record.annotations if a.annotator))
            tally.reject(record, "invalid", "; ".join(record.problems), who)
            return None
        mapping = self.mapping
        pool = candidates(record, mapping.select, mapping.include_predictions)
        try:
            chosen = select(record, pool, mapping.select, self._renderer.render)
        except RecordError as exc:
            tally.reject(record, exc.reason, exc.message, exc.annotators)
            return None
        if chosen.messages is None:
            tally.report.unannotated += 1
            return None
        if self._skip_empty and chosen.annotation is not None and not chosen.annotation.regions:
            tally.report.skipped_empty += 1
            return None
        messages = chosen.messages
        sent: list[EmbeddedImage] = []
        if not all(isinstance(message.content, str) for message in messages):  # else no image
            images = self._media.for_task(record)
            try:
                messages = images.embed_parts(messages)
            except RecordError as exc:
                tally.reject(record, exc.reason, exc.message, [])
                return None
            sent = images.sent
        example = Example(id=record.id, source=record.source, messages=messages)
        problems = tally.gate.problems(example, sent)
        if problems is not None:
            tally.reject(record, "invalid_example", problems, [])
            return None
        return example

    def _warn(self, message: str) -> None:
        self.report.warnings.append(message)
        warnings.warn(message, stacklevel=3)


def convert(
    source_or_records: str | Path | Iterable[Record],
    mapping: Mapping | str | Path = "auto",
    *,
    from_: str | None = None,
    options: Options = None,
    limit: int | None = None,
    images: Sequence[ImageRoot] | str | Path = (),
    allow_remote: bool = False,
    allow_private_hosts: bool = False,
    skip_empty: bool = False,
    profile: str = "openai",
    workers: int | None = None,
) -> Conversion:
    """Turn an export (a path, or records you already have) into training examples.

    `images` are the folders (or zip files) image references resolve in; http(s) images are
    downloaded only with `allow_remote`, and from private addresses only with
    `allow_private_hosts` as well (see docs/images.md). An annotation without results is a
    negative example when the mapping renders one (`[]` boxes); `skip_empty` leaves those tasks
    out (counted in `report.skipped_empty`). `workers` processes re-encode the images that
    need it, or, for a mapping without images, convert the tasks past the first 2,000 (during
    the first pass that lists the labels, when there is one; default: the number of cores; 1
    does it all in this process; the results are the same). Every example is checked as
    `bridge validate` would under the target `profile` (docs/validate.md) and rejected
    (`invalid_example`) rather than written when it fails. Mapping problems, unusable image
    roots and unreadable inputs raise before the first example; per-task
    problems are collected in `Conversion.rejects` while you iterate.
    """
    if allow_private_hosts and not allow_remote:
        raise UsageError(
            "--allow-private-hosts (allow_private_hosts) only widens --allow-remote "
            "(allow_remote): pass both to download images from private addresses"
        )
    spec = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    gate = Gate(spec, profile)
    records: Iterable[Record]
    roots: list[ImageRoot] = [images] if isinstance(images, (str, Path)) else list(images)
    if isinstance(source_or_records, (str, Path)):
        records, schema, own = _open(Path(source_or_records), from_, options, spec)
        roots = [*own, *roots]  # the export's own images first (DESIGN §6)
    else:
        records, schema = _checked(source_or_records), None
    resolver = ImageResolver(
        roots, allow_remote=allow_remote, allow_private_hosts=allow_private_hosts
    )
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    processes = _workers(workers)
    media = Media(resolver, spec.images, workers=processes if spec.sends_images else 1)
    if limit is not None:
        records = islice(records, limit)  # --limit bounds the first pass too
    try:
        renderer = Renderer.compile(spec, schema, media)
        converted: AheadParts | None = None
        if renderer.needs_label_scan:

            def start(labels: ExportSchema) -> Callable[[bytes], _Part]:
                speculative = Renderer.compile(spec, _merge(schema, labels), media)
                return Conversion([], spec, speculative, media, gate, skip_empty)._convert_chunk

            ahead = processes > 1 and not media.lookahead
            records, scanned, converted = _first_pass(records, start if ahead else None, processes)
            renderer = Renderer.compile(spec, _merge(schema, scanned), media)
    except BaseException:
        media.close()
        raise
    return Conversion(records, spec, renderer, media, gate, skip_empty, processes, converted)


def _checked(records: Iterable[Record]) -> Iterator[Record]:
    """Records built by the caller, their types checked as an adapter's are: a Struct built
    with keywords is not checked, and `Box(x=10)` must give the same example whether or not
    the first pass (whose spool checks and converts every value) ran."""
    for index, record in enumerate(records):
        if not isinstance(record, Record):
            raise UsageError(f"record {index}: expected a Record, got {type(record).__name__}")
        try:
            yield msgspec.convert(msgspec.to_builtins(record), Record)
        except (msgspec.ValidationError, TypeError) as exc:
            raise InputError(f"record {index} (id {record.id!r}): {exc}") from None


def _first_pass(
    records: Iterable[Record],
    start: Callable[[ExportSchema], Callable[[bytes], _Part]] | None,
    workers: int,
) -> tuple[Iterator[Record], ExportSchema, AheadParts | None]:
    """The labels no configuration gives, from every record, before the first example: the
    records are spooled to a temporary file as they pass, so the conversion reads them back
    instead of reading the export again (and a one-shot stream of records works too). With
    `start`, worker processes convert the spooled blocks meanwhile (jsonl_bridge/ahead.py)."""
    scan = SchemaScan()
    after = -(-SERIAL_HEAD // CHUNK_TASKS)
    spool = RecordSpool(CHUNK_TASKS)
    ahead = Ahead(scan, start, spool.read_at, workers, after) if start is not None else None
    try:
        for record in spool.keep(records, ahead.block if ahead is not None else None):
            scan.add(record)
        converted = ahead.finish() if ahead is not None else None
    except BaseException:
        if ahead is not None:
            ahead.finish()
        spool.close()
        raise
    return spool.replay(), scan.schema(), converted  # a replay never started closes with the spool


def _workers(asked: int | None) -> int:
    """The worker processes for re-encoding: as asked, else one per core this process may
    use."""
    if asked is not None:
        return asked
    available = getattr(os, "process_cpu_count", None) or os.cpu_count
    return available() or 1


def _open(
    path: Path, from_: str | None, options: Options, spec: Mapping
) -> tuple[Iterator[Record], ExportSchema | None, list[ImageRoot]]:
    adapter = resolve_adapter(path, from_)
    parsed = adapter.parse_options(_with_bound_fields(adapter, options, spec))
    schema = adapter.schema(path, parsed) if adapter.schema else None
    own = adapter.media_roots(path, parsed) if adapter.media_roots else []
    return adapter.read(path, parsed), schema, own


# Region kinds a flat export can be told to read a bound column as (Label Studio result types).
_RESULT_TYPES = {
    "choice": "choices",
    "text": "textarea",
    "number": "number",
    "rating": "rating",
    "taxonomy": "taxonomy",
}


def _with_bound_fields(adapter: Adapter, options: Options, spec: Mapping) -> Options:
    """Tell adapters that cannot tell results from data (flat CSV-like formats) which
    columns the mapping binds by name, and as what, unless the user already said."""
    bound = [
        f"{name}:{_RESULT_TYPES[kind]}" if kind in _RESULT_TYPES else name
        for name, kind in spec.name_bindings().items()
    ]
    if "fields" not in adapter.options_model.model_fields or not bound:
        return options
    if isinstance(options, BaseModel):
        if "fields" in options.model_fields_set:
            return options
        return options.model_copy(update={"fields": bound})
    merged = dict(options or {})
    merged.setdefault("fields", bound)
    return merged


def _merge(known: ExportSchema | None, scanned: ExportSchema) -> ExportSchema:
    """Fill labels the configuration did not list from the first pass over the export, and
    place its unplaced labels (CVAT `any`) only in the fields that use them, in declared
    order; a field that only could have used them, and did not, goes. An export that uses
    none of them (no shapes at all) keeps the declared lists: the pass learned nothing."""
    if known is None:
        return scanned
    fields = {}
    used = {label for scanned_field in scanned.fields.values() for label in scanned_field.labels}
    unplaced = set(known.unplaced) if used & set(known.unplaced) else set()
    for name, declared in known.fields.items():
        seen = scanned.fields[name].labels if name in scanned.fields else []
        labels = [label for label in declared.labels if label not in unplaced or label in seen]
        if labels or not declared.labels:
            fields[name] = msgspec.structs.replace(declared, labels=labels)
    for name, scanned_field in scanned.fields.items():
        current = fields.get(name)
        if current is None or not current.labels:
            fields[name] = scanned_field
    return ExportSchema(fields=fields)
