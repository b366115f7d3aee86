"""Render one annotation of a task into chat messages, through a compiled mapping.

`Renderer.compile` does everything that does not depend on a task once (template syntax,
bindings checkable against a known export schema, what the templates use), so that a broken
mapping fails before the first task (exit 2) while a template that fails on one task's data
only rejects that task, with the mapping's file:line and the task id.

Rendering is most of a conversion's time, and selection renders every annotator's answer, so
each template's output is reused as widely as the names it reads allow (`_reuse`): `schema`
alone, once a run; the answer alone (`fields`, `label`, `answer`), across tasks with an equal
answer; the task alone (`data`, `record`, and `text`/`image` per field the answer points
at), once a task. The context variables are built only when a template must really render.
When every message is one template's text (no image parts, no dialogue), what is reused is
the finished message: one system message object for the run, one user message per task,
one assistant message per answer (they are frozen, so examples can share them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import jinja2
import msgspec
from msgspec.structs import replace as replace_struct

from jsonl_bridge import _context as ctx
from jsonl_bridge._schema import (
    Bindings,
    columns_hint,
    infer_schema,
    names_of,
    reads,
    schema_context,
    selector_problem,
    static_bindings,
    uses,
)
from jsonl_bridge.chat import ImagePart, ImageURL, Message, Part, Role, TextPart
from jsonl_bridge.errors import (
    EmptyAnswerError,
    FieldBindingError,
    ImageNotFoundError,
    MappingError,
    RecordError,
    TemplateError,
)
from jsonl_bridge.geometry import GEOMETRY_KINDS
from jsonl_bridge.mapping import Mapping, dotted
from jsonl_bridge.media import Media
from jsonl_bridge.records import Annotation, ExportSchema, Record, Region, Span
from jsonl_bridge.templates import (
    MEDIA_VAR,
    CompiledTemplate,
    ImageSizes,
    compile_mapping,
    template_lineno,
)

__all__ = ["Renderer", "infer_schema"]

_RENDER_ERRORS = (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError)
_Path = tuple[str | int, ...]


class Renderer:
    """A mapping compiled against what is known of the export; renders annotations."""

    needs_label_scan: bool
    """The templates use `schema.labels` (or other schema facts) that neither `labels.allowed`
    nor the export's schema gives: compile again with `infer_schema` over the records."""

    def __init__(
        self,
        mapping: Mapping,
        schema: ExportSchema | None,
        compiled: dict[_Path, CompiledTemplate],
        bindings: Bindings,
        media: Media | None = None,
    ):
        self.mapping = mapping
        self.schema = schema
        self.media = media
        """Where `qwen` boxes learn the size of the image as sent (None: the annotated size)."""
        self._compiled = compiled
        self._bindings = bindings
        self._reads = {path: reads(template) for path, template in compiled.items()}
        static = {name: b for name, b in bindings.items() if isinstance(b, str)}
        self._static_bound = static if len(static) == len(bindings) else None
        """The bindings when none is left to resolve per task (`{kind: ...}` selectors)."""
        self._names, schema_uses = uses(compiled.values())
        self._reads_answer = "answer" in self._names
        self._reuse = {path: _reuse(names) for path, names in self._reads.items()}
        """How widely each template's output is reused, from the names it reads."""
        self._per_answer = any(reuse == "answer" for reuse in self._reuse.values())
        self._rendered_once: dict[_Path, Any] = {}
        self._by_answer: dict[Any, Any] = {}
        """Outputs of answer-level templates across tasks (bounded: `SHARED_OUTPUTS`)."""
        self._whole_answer = not self._names & {"annotation", "regions"} and (
            mapping.dialogue is None
        )
        """Messages depend on the task and the answer only: equal answers of a task share them."""
        self._memo_record: Record | None = None
        self._memo: dict[Any, Any] = {}
        self._text_only = mapping.dialogue is None and not isinstance(mapping.user, list)
        """Every message is one template's text (no parts, no dialogue): the reused outputs
        are whole messages, built once, not per example."""
        self._message_paths = [
            (path, self._reuse[path], _MESSAGE_OF[str(path[0])], path[0] == "assistant")
            for path in compiled
        ]
        """For `_text_messages`: each template's path, reuse, message maker, and whether a
        blank output rejects the task."""
        self._schema_context = schema_context(mapping, schema, bindings)
        labels_known = "labels" in self._schema_context and not (
            schema is not None and schema.unplaced and not mapping.labels.allowed
        )
        self.needs_label_scan = bool(
            (schema_uses & {"labels", "box_labels", "*"} and not labels_known)
            or (schema_uses - {"labels"} and schema is None)
        )

    @classmethod
    def compile(
        cls, mapping: Mapping, schema: ExportSchema | None, media: Media | None = None
    ) -> Renderer:
        """Compile templates and bindings; MappingError names every problem (file:line)."""
        compiled = compile_mapping(mapping)
        if schema is not None and not schema.fields:
            # A first pass that found no field at all (e.g. JSON_MIN without a labeling config,
            # labels left as plain columns): decide per task, where the columns can be named.
            schema = None
        bindings, problems = static_bindings(mapping, schema)
        if problems:
            raise MappingError(problems)
        return cls(mapping, schema, compiled, bindings, media)

    # --- rendering -------------------------------------------------------------------------

    def render(self, record: Record, annotation: Annotation) -> list[Message]:
        """The messages of one annotation; raises RecordError subclasses (rejects).

        An annotation without results still renders: `[]` from `boxes` is a real negative
        example (a part without defects). When a template needs something it lacks, or the
        answer renders blank, the task is rejected as having no result.

        Selection renders every annotator's answer of a task; when the templates cannot see
        who answered (no `annotation`, no region ids), annotations with the same answers
        render the same messages, so those are rendered once per task.
        """
        answer = self._answer_key(annotation) if self._whole_answer or self._per_answer else None
        if answer is None or not self._whole_answer:
            return self._render_annotation(record, annotation, answer)
        memo = self._task_memo(record)
        messages: list[Message] | None = memo.get(answer)
        if messages is None:  # errors are not kept
            messages = memo[answer] = self._render_annotation(record, annotation, answer)
        return messages

    def _answer_key(self, annotation: Annotation) -> bytes | None:
        """The annotation's answer as bytes, which templates that see neither the annotator
        nor region ids cannot tell from an equal answer; None when its regions are of kinds
        whose `fields` values carry their ids. msgpack, not JSON: JSON writes NaN and both
        infinities as null and 1.0 as 1.0 but 1 as 1, msgpack keeps every value apart."""
        regions = annotation.regions
        if len(regions) == 1:  # the usual classification: no loop
            region = regions[0]
            if region.type not in _ID_FREE_KINDS:
                return None
            return _ENCODE_KEY((replace_struct(region, id=None),))
        without_ids = []
        for region in regions:
            if region.type not in _ID_FREE_KINDS:
                return None  # fields.<box field> holds region dumps, ids included
            without_ids.append(replace_struct(region, id=None))
        return _ENCODE_KEY(without_ids)

    def _render_annotation(
        self, record: Record, annotation: Annotation, answer: bytes | None
    ) -> list[Message]:
        regions: list[Region] = []
        if annotation.regions:
            regions = ctx.apply_labels(annotation.regions, self.mapping.labels, record, annotation)
            if not regions:
                why = "every label was dropped (labels.unknown: drop)"
                raise self._empty(record, annotation, why)
        try:
            scope = _Scope(record, annotation, regions, self._task_memo(record))
            return self._turns(scope, answer)
        except (TemplateError, EmptyAnswerError) as exc:
            if annotation.regions:
                raise
            raise self._nothing(record, annotation) from exc

    def _turns(self, scope: _Scope, answer: bytes | None) -> list[Message]:
        record, annotation = scope.record, scope.annotation
        bound = self._static_bound
        scope.bound = bound if bound is not None else self._bind(record, annotation)
        scope.shared = self._shared_key(scope, answer)
        if scope.shared is None and self._reads_answer:
            self._fill(scope, "answer")  # its errors come first, as they always did
        elif record.media and self._measures_images(record, scope.regions):
            self._fill(scope, MEDIA_VAR)  # reading the images can fail: that rejects the task
        if self._text_only:
            return self._text_messages(scope)
        turns: list[tuple[Role, str | list[Part]]] = []
        system = self._system(scope)
        if system.strip():
            turns.append(("system", system))
        if self.mapping.dialogue is not None:
            turns.extend(self._history(record, annotation))
        user = self._user(scope)
        if user:
            turns.append(("user", user))
        text = self._render(("assistant",), scope)
        if not text.strip():
            raise self._empty(record, annotation, _BLANK_ASSISTANT)
        turns.append(("assistant", text))
        return _messages(turns)

    def _shared_key(self, scope: _Scope, answer: bytes | None) -> _AnswerKey | None:
        """What answer-level templates' outputs depend on, to reuse them across tasks: the
        answer, and the fields the bindings name on this task (the answer alone when the
        bindings are the same for every task). None when `answer` would read the task's
        text (a span without its own text)."""
        if answer is None or not self._per_answer:
            return None
        if self._reads_answer and any(
            isinstance(r, Span) and r.text is None for r in scope.regions
        ):
            return None
        bound = scope.bound
        return answer if bound is self._static_bound else (answer, tuple(bound.items()))

    def _text_messages(self, scope: _Scope) -> list[Message]:
        """`_turns` when every message is one template's text: system and user when not
        blank, the assistant always (blank rejects the task)."""
        messages = []
        shared = scope.shared
        for path, reuse, make, required in self._message_paths:
            if reuse == "run":  # the usual system message: no call for a cached one
                message = self._rendered_once.get(path, _MISSING)
                if message is _MISSING:
                    message = self._rendered_once[path] = make(self._render_now(path, scope))
            elif reuse == "answer" and shared is not None:
                message = self._by_answer.get((path, shared), _MISSING)
                if message is _MISSING:
                    message = self._reused_at(path, reuse, scope, make)
            else:
                message = self._reused_at(path, reuse, scope, make)
            if message is not None:
                messages.append(message)
            elif required:
                raise self._empty(scope.record, scope.annotation, _BLANK_ASSISTANT)
        return messages

    def _render(self, path: _Path, scope: _Scope) -> str:
        """One template's output, reused as `_reused` says."""
        text: str = self._reused(path, scope, str)
        return text

    def _reused(self, path: _Path, scope: _Scope, make: Callable[[str], _T]) -> _T:
        """`make` of one template's output, reused when the names it reads are the same as
        before: once per run, across tasks for the same answer, once per task (per fields
        the answer points at, when it reads `text` or `image`). A renderer makes either
        texts or messages of its outputs, never both: its caches hold one kind."""
        return self._reused_at(path, self._reuse[path], scope, make)

    def _reused_at(
        self, path: _Path, reuse: str | None, scope: _Scope, make: Callable[[str], _T]
    ) -> _T:
        """`_reused`, with the template's reuse level (`_reuse`) already looked up."""
        cache: dict[Any, Any]
        key: Any
        if reuse == "run":
            cache, key = self._rendered_once, path
        elif reuse == "answer" and scope.shared is not None:
            cache, key = self._by_answer, (path, scope.shared)
        elif reuse == "task":
            cache, key = scope.memo, path
        elif reuse == "targets":
            cache, key = scope.memo, (path, scope.targets)
        else:
            return make(self._render_now(path, scope))
        made: _T = cache.get(key, _MISSING)
        if made is _MISSING:
            made = make(self._render_now(path, scope))
            if cache is self._by_answer and len(cache) >= SHARED_OUTPUTS:
                del cache[next(iter(cache))]  # the oldest
            cache[key] = made
        return made

    def _task_memo(self, record: Record) -> dict[Any, Any]:
        """Values computed once per task, valid while the same record is being rendered."""
        if self._memo_record is not record:
            self._memo_record, self._memo = record, {}
        return self._memo

    def _render_now(self, path: _Path, scope: _Scope) -> str:
        compiled = self._compiled[path]
        filled = scope.filled
        for name in self._reads[path]:
            if name not in filled:
                self._fill(scope, name)
        try:
            return compiled.render(scope.context)
        except _RENDER_ERRORS as exc:
            line = template_lineno(exc, compiled.filename)
            for name in ("data", "fields"):  # what the hint lists
                self._fill(scope, name)
            raise TemplateError(
                f"{self._at(path, line)}{_jinja_message(exc)}"
                f"{_undefined_hint(exc, scope.context)} (task {scope.record.id})",
                detail=str(exc),
                annotators=_who(scope.annotation),
            ) from exc

    def _system(self, scope: _Scope) -> str:
        if self.mapping.dialogue is not None:
            own = scope.record.data.get("system")
            if isinstance(own, str) and own.strip():
                return own
        if ("system",) not in self._compiled:
            return ""
        return self._render(("system",), scope)

    def _user(self, scope: _Scope) -> str | list[Part]:
        if isinstance(self.mapping.user, str):
            text = self._render(("user",), scope)
            return text if text.strip() else ""
        record = scope.record
        parts: list[Part] = []
        for path in self._compiled:
            if path[0] != "user":
                continue
            value = self._render(path, scope)
            if not value.strip():
                if path[-1] == "image" and record.media:
                    raise self._no_image(record, scope.annotation, path)
                continue  # an optional part (e.g. `{{ image | default('') }}`) left out
            if path[-1] == "image":
                parts.append(ImagePart(image_url=ImageURL(url=value.strip())))
            else:
                parts.append(TextPart(text=value))
        if any(isinstance(part, ImagePart) for part in parts):
            return parts
        return "\n".join(part.text for part in parts if isinstance(part, TextPart))

    def _no_image(self, record: Record, annotation: Annotation, path: _Path) -> RecordError:
        """An image task must not become a text-only example (its boxes would be about
        nothing): an image part that renders blank rejects it."""
        keys = ", ".join(f"{m.key}={m.uri!r}" for m in record.media)
        return ImageNotFoundError(
            f"{self._at(path)}the image part rendered empty although the task has images "
            f"({keys}); with several images `image` is undefined unless the annotation's "
            f"regions all point at one of them: name it, e.g. {{{{ data.{record.media[0].key} }}}}"
            f" (task {record.id})",
            annotators=_who(annotation),
        )

    def _history(self, record: Record, annotation: Annotation) -> list[tuple[Role, str]]:
        spec = self.mapping.dialogue
        assert spec is not None
        turns = self._dialogue_turns(record, annotation)
        out: list[tuple[Role, str]] = []
        for index, turn in enumerate(turns, 1):
            author = turn[spec.author_key]
            role = spec.role_of(author)
            if role is None:
                known = ", ".join(f"{name} → {role}" for name, role in spec.roles.items())
                raise TemplateError(
                    f"{self._at(('dialogue', 'roles'))}turn {index}: unknown author "
                    f"{author!r}; add it to dialogue.roles (roles: {known}) (task {record.id})",
                    detail=str(author),
                    annotators=_who(annotation),
                )
            text = turn[spec.text_key]
            out.append((role, text if isinstance(text, str) else str(text)))
        return out

    def _dialogue_turns(self, record: Record, annotation: Annotation) -> list[dict[str, Any]]:
        spec = self.mapping.dialogue
        assert spec is not None

        def is_turns(value: Any) -> bool:
            return (
                isinstance(value, list)
                and bool(value)
                and all(
                    isinstance(t, dict) and spec.author_key in t and spec.text_key in t
                    for t in value
                )
            )

        if spec.field is not None:
            keys = [spec.field] if is_turns(record.data.get(spec.field)) else []
            wanted = f"data key {spec.field!r} with a list of turns"
        else:
            keys = [key for key, value in record.data.items() if is_turns(value)]
            wanted = "exactly one data value that is a list of turns"
        if len(keys) != 1:
            shape = f"{{{spec.author_key}: ..., {spec.text_key}: ...}}"
            found = f" (found: {', '.join(keys)}; set dialogue.field)" if keys else ""
            raise FieldBindingError(
                f"{self._at(('dialogue',))}needs {wanted} ({shape}){found}; data keys: "
                f"{', '.join(record.data) or 'none'} (task {record.id})",
                annotators=_who(annotation),
            )
        turns: list[dict[str, Any]] = record.data[keys[0]]
        return turns

    def _at(self, path: _Path, line: int | None = None) -> str:
        """`mapping.yaml:12: assistant: `, the prefix of errors located in the mapping.

        The location is part of the message (not only `where`) so that the rejects file's
        `detail` names it too.
        """
        return f"{self.mapping.where(path, line)}: {dotted(path)}: "

    def _nothing(self, record: Record, annotation: Annotation) -> RecordError:
        """An annotation without results: empty, or (no schema, no task field anywhere) a
        sign that the labels are plain data columns the adapter could not recognise."""
        if self.schema is not None or any(a.regions for a in record.annotations):
            return self._empty(record, annotation, "the annotation has no result")
        return FieldBindingError(
            f"no annotation of task {record.id} has a labeled field; {columns_hint(record)}",
            where=record.source.where(),
            annotators=_who(annotation),
        )

    def _empty(self, record: Record, annotation: Annotation, why: str) -> EmptyAnswerError:
        return EmptyAnswerError(
            f"{why} (task {record.id})", where=record.source.where(), annotators=_who(annotation)
        )

    # --- context ---------------------------------------------------------------------------

    def _fill(self, scope: _Scope, name: str) -> None:
        """Compute the context variable `name` for this annotation, once (`label`, `text`
        and `image` stay out when they have no value: templates see them as undefined)."""
        if name in scope.filled:
            return
        scope.filled.add(name)
        record, regions, context = scope.record, scope.regions, scope.context
        if name == "data":
            context["data"] = record.data
        elif name == "fields":
            context["fields"] = self._fields(scope)
        elif name == "annotation":
            annotation = scope.annotation
            context["annotation"] = {
                "id": annotation.id,
                "annotator": annotation.annotator,
                "kind": annotation.kind,
                "ground_truth": annotation.ground_truth,
                "created_at": annotation.created_at,
            }
        elif name == "schema":
            context["schema"] = self._schema_context
        elif name == "record":
            context["record"] = self._record_context(record)
        elif name == MEDIA_VAR:
            context[MEDIA_VAR] = self._image_sizes(record, regions)
        elif name == "label":
            label = ctx.single_label(scope.groups)
            if label is not None:
                context["label"] = label
        elif name == "text":
            text = self._task_value(scope, "text", ctx.find_text, self.schema)
            if text is not None:
                context["text"] = text
        elif name == "image":
            image = self._task_value(scope, "image", ctx.find_image)
            if image is not None:
                context["image"] = image
        elif name == "answer":
            self._fill(scope, MEDIA_VAR)
            self._fill(scope, "text")
            context["answer"] = self._answer(scope)
        elif name == "regions":
            context["regions"] = msgspec.to_builtins(regions)

    def _fields(self, scope: _Scope) -> dict[str, Any]:
        schema = self.schema
        fields = {
            name: ctx.field_value(group, schema.fields.get(name) if schema else None)
            for name, group in scope.groups.items()
        }
        for name, target in scope.bound.items():
            if target in fields:
                fields[name] = fields[target]
            else:
                fields.pop(name, None)  # bound but absent: never another field of that name
        return fields

    def _task_value(self, scope: _Scope, name: str, find: Any, *args: Any) -> Any:
        """`text` or `image` (`find(record, regions, *args)`): they depend on the task and
        the fields the regions point at, so they are found once per task and targets."""
        key = (name, scope.targets)
        if key not in scope.memo:
            scope.memo[key] = find(scope.record, scope.regions, *args)
        return scope.memo[key]

    def _measures_images(self, record: Record, regions: list[Region]) -> bool:
        """Whether `_image_sizes` reads images (which can fail) for this annotation."""
        return (
            bool(record.media)
            and self.media is not None
            and any(not (ref.width and ref.height) for ref in record.media)
            and any(r.type in GEOMETRY_KINDS for r in regions)
        )

    def _image_sizes(self, record: Record, regions: list[Region]) -> ImageSizes:
        """The sizes regions are measured in. An export that does not say how large its
        images are (doccano) has them read from the images, only when a region has geometry:
        it is the read that embeds the image, done once per task."""
        sizes = ctx.image_sizes(record, self.media)
        unknown = [ref for ref in record.media if not (ref.width and ref.height)]
        if not unknown or self.media is None or not any(r.type in GEOMETRY_KINDS for r in regions):
            return sizes
        task = self.media.for_task(record)
        measured = {ref.key: task.embedded(ref.uri).displayed for ref in unknown}
        return replace(sizes, sizes={**sizes.sizes, **measured})

    def _record_context(self, record: Record) -> dict[str, Any]:
        memo = self._task_memo(record)
        if "record" not in memo:
            memo["record"] = {
                "id": record.id,
                "source": msgspec.to_builtins(record.source),
                "meta": record.meta,
                "media": msgspec.to_builtins(record.media),
            }
        value: dict[str, Any] = memo["record"]
        return value

    def _answer(self, scope: _Scope) -> dict[str, Any]:
        record, context = scope.record, scope.context

        def span_text(span: Span) -> str:
            if span.text is not None:
                return span.text
            source = record.data.get(span.target or "")
            source = source if isinstance(source, str) else context.get("text")
            if not isinstance(source, str):
                raise ValueError(f"span {span.start}-{span.end} has no text and no source text")
            return source[span.start : span.end]

        try:
            return ctx.build_answer(scope.groups, self.schema, context[MEDIA_VAR], span_text)
        except ValueError as exc:
            path = next(p for p, c in self._compiled.items() if "answer" in names_of(c))
            raise TemplateError(
                f"{self._at(path)}answer: {exc} (task {record.id})",
                annotators=_who(scope.annotation),
            ) from exc

    def _bind(self, record: Record, annotation: Annotation) -> dict[str, str]:
        """Binding name → export field, resolving `{kind: ...}` selectors on this task (the
        same for every annotation of the task: resolved once, unless it fails)."""
        if self._static_bound is not None:
            return self._static_bound
        memo = self._task_memo(record)
        bound: dict[str, str] | None = memo.get("bindings")
        if bound is None:
            bound = memo["bindings"] = self._resolve(record, annotation)
        return bound

    def _resolve(self, record: Record, annotation: Annotation) -> dict[str, str]:
        resolved: dict[str, str] = {}
        kinds: dict[str, str] | None = None
        for name, binding in self._bindings.items():
            if isinstance(binding, str):
                resolved[name] = binding
                continue
            if kinds is None:
                kinds = {r.field: r.type for a in record.annotations for r in a.regions}
            matches = [field for field, kind in kinds.items() if kind in binding.kind]
            if len(matches) != 1:
                raise FieldBindingError(
                    self._at(("fields", name))
                    + selector_problem(name, binding, matches, kinds, record),
                    annotators=_who(annotation),
                )
            resolved[name] = matches[0]
        return resolved


# --- small helpers ---------------------------------------------------------------------------


def _system_message(text: str) -> Message | None:
    return Message(role="system", content=text) if text.strip() else None


def _user_message(text: str) -> Message | None:
    return Message(role="user", content=text) if text.strip() else None


def _assistant_message(text: str) -> Message | None:
    """None for a blank answer, which rejects the task (each time: errors are not kept)."""
    return Message(role="assistant", content=text) if text.strip() else None


_MESSAGE_OF: dict[str, Callable[[str], Message | None]] = {
    "system": _system_message,
    "user": _user_message,
    "assistant": _assistant_message,
}
"""A text-only mapping's message of each role from its template's output."""
_BLANK_ASSISTANT = "the assistant message rendered empty"
_MISSING: Any = object()
_T = TypeVar("_T")


def _messages(turns: list[tuple[Role, str | list[Part]]]) -> list[Message]:
    """Text-only examples get string content; with an image, every message gets parts."""
    if any(isinstance(content, list) for _, content in turns):
        turns = [
            (role, [TextPart(text=content)] if isinstance(content, str) else content)
            for role, content in turns
        ]
    return [Message(role=role, content=content) for role, content in turns]


class _Scope:
    """One annotation being rendered, and the context variables its templates read, built
    as they are first needed (most outputs are reused, and need none)."""

    __slots__ = (
        "_groups",
        "_targets",
        "annotation",
        "bound",
        "context",
        "filled",
        "memo",
        "record",
        "regions",
        "shared",
    )

    def __init__(
        self, record: Record, annotation: Annotation, regions: list[Region], memo: dict[Any, Any]
    ):
        self.record = record
        self.annotation = annotation
        self.regions = regions
        self.memo = memo
        """The task's memo (`Renderer._task_memo`)."""
        self.bound: dict[str, str] = {}
        self.shared: _AnswerKey | None = None
        self.context: dict[str, Any] = {}
        self.filled: set[str] = set()
        self._groups: dict[str, list[Region]] | None = None
        self._targets: tuple[str | None, ...] | None = None

    @property
    def groups(self) -> dict[str, list[Region]]:
        if self._groups is None:
            self._groups = ctx.group_by_field(self.regions)
        return self._groups

    @property
    def targets(self) -> tuple[str | None, ...]:
        """The fields the regions point at (what `text` and `image` depend on)."""
        if self._targets is None:
            self._targets = tuple([region.target for region in self.regions])
        return self._targets


def _reuse(names: frozenset[str]) -> str | None:
    """How widely the output of a template reading `names` can be reused (see `_render`)."""
    if names <= _RUN_LEVEL:
        return "run"
    if names <= _ANSWER_LEVEL:
        return "answer"
    if names <= _TASK_LEVEL:
        return "task"
    if names <= _TASK_LEVEL | _TARGET_LEVEL:
        return "targets"
    return None


_AnswerKey = bytes | tuple[bytes, tuple[tuple[str, str], ...]]
"""An answer (its regions without ids), with the fields the bindings name on its task when
they are resolved per task."""
SHARED_OUTPUTS = 4096
"""How many answer-level outputs are kept across tasks (the oldest go first)."""
_RUN_LEVEL = frozenset({"schema"})
_ANSWER_LEVEL = frozenset({"fields", "label", "answer", "schema"})
_ENCODE_KEY = msgspec.msgpack.Encoder().encode
_TASK_LEVEL = frozenset({"data", "schema", "record"})
_TARGET_LEVEL = frozenset({"text", "image"})
"""Task-level once the fields the answer points at are known."""
_ID_FREE_KINDS = frozenset({"choice", "tag", "taxonomy", "text", "number", "rating", "span"})
"""Region kinds whose `fields` values carry no region id (see `_context.field_value`)."""


def _undefined_hint(exc: Exception, context: dict[str, Any]) -> str:
    """For an undefined variable, what the task does have: the keys of `data` and `fields`."""
    if not isinstance(exc, jinja2.UndefinedError):
        return ""
    present = [
        f"{name} has: {', '.join(sorted(map(str, context[name]))) or 'nothing'}"
        for name in ("data", "fields")
        if isinstance(context.get(name), dict)
    ]
    return f" ({'; '.join(present)})" if present else ""


def _jinja_message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, jinja2.TemplateError) else text


def _who(annotation: Annotation) -> list[str]:
    return [annotation.annotator] if annotation.annotator else []
