"""Render one annotation of a task into chat messages, through a compiled mapping.

`Renderer.compile` does everything that does not depend on a task once (template syntax,
bindings checkable against a known export schema, what the templates use), so that a broken
mapping fails before the first task (exit 2) while a template that fails on one task's data
only rejects that task, with the mapping's file:line and the task id.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jinja2
import msgspec
from msgspec.structs import replace as replace_struct

from jsonl_bridge import _context as ctx
from jsonl_bridge._schema import (
    Bindings,
    columns_hint,
    infer_schema,
    names_of,
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
        self._names, schema_uses = uses(compiled.values())
        # Templates that read only the task (not the annotation) render once per task, not
        # once per annotator: selection renders every annotator's answer of a task in a row.
        self._per_task = {p for p, c in compiled.items() if names_of(c) <= _TASK_LEVEL}
        self._memo_record: Record | None = None
        self._memo: dict[_Path | str, Any] = {}
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
        key = self._answer_key(annotation)
        if key is None:
            return self._render_annotation(record, annotation)
        memo = self._task_memo(record)
        if key not in memo:
            memo[key] = self._render_annotation(record, annotation)  # errors are not kept
        messages: list[Message] = memo[key]
        return messages

    def _answer_key(self, annotation: Annotation) -> str | None:
        """What the messages of `annotation` depend on besides the task, or None when that
        includes the annotation itself (its annotator, ids, or regions with their ids)."""
        if self._names & {"annotation", "regions"} or self.mapping.dialogue is not None:
            return None
        if any(region.type not in _ID_FREE_KINDS for region in annotation.regions):
            return None  # fields.<box field> holds region dumps, ids included
        encode = msgspec.json.encode
        dumps = b",".join(encode(replace_struct(r, id=None)) for r in annotation.regions)
        return f"answer:{dumps.decode()}"

    def _render_annotation(self, record: Record, annotation: Annotation) -> list[Message]:
        regions: list[Region] = []
        if annotation.regions:
            regions = ctx.apply_labels(annotation.regions, self.mapping.labels, record, annotation)
            if not regions:
                why = "every label was dropped (labels.unknown: drop)"
                raise self._empty(record, annotation, why)
        try:
            return self._turns(record, annotation, regions)
        except (TemplateError, EmptyAnswerError) as exc:
            if annotation.regions:
                raise
            raise self._nothing(record, annotation) from exc

    def _turns(
        self, record: Record, annotation: Annotation, regions: list[Region]
    ) -> list[Message]:
        context = self._context(record, annotation, regions)
        turns: list[tuple[Role, str | list[Part]]] = []
        system = self._system(record, annotation, context)
        if system.strip():
            turns.append(("system", system))
        if self.mapping.dialogue is not None:
            turns.extend(self._history(record, annotation))
        user = self._user(record, annotation, context)
        if user:
            turns.append(("user", user))
        answer = self._render(("assistant",), context, record, annotation)
        if not answer.strip():
            raise self._empty(record, annotation, "the assistant message rendered empty")
        turns.append(("assistant", answer))
        return _messages(turns)

    def _render(
        self, path: _Path, context: dict[str, Any], record: Record, annotation: Annotation
    ) -> str:
        if path not in self._per_task:
            return self._render_now(path, context, record, annotation)
        memo = self._task_memo(record)
        if path not in memo:
            memo[path] = self._render_now(path, context, record, annotation)
        text: str = memo[path]
        return text

    def _task_memo(self, record: Record) -> dict[_Path | str, Any]:
        """Values computed once per task, valid while the same record is being rendered."""
        if self._memo_record is not record:
            self._memo_record, self._memo = record, {}
        return self._memo

    def _render_now(
        self, path: _Path, context: dict[str, Any], record: Record, annotation: Annotation
    ) -> str:
        compiled = self._compiled[path]
        try:
            return compiled.render(context)
        except _RENDER_ERRORS as exc:
            line = template_lineno(exc, compiled.filename)
            raise TemplateError(
                f"{self._at(path, line)}{_jinja_message(exc)}{_undefined_hint(exc, context)} "
                f"(task {record.id})",
                detail=str(exc),
                annotators=_who(annotation),
            ) from exc

    def _system(self, record: Record, annotation: Annotation, context: dict[str, Any]) -> str:
        own = record.data.get("system")
        if self.mapping.dialogue is not None and isinstance(own, str) and own.strip():
            return own
        if ("system",) not in self._compiled:
            return ""
        return self._render(("system",), context, record, annotation)

    def _user(
        self, record: Record, annotation: Annotation, context: dict[str, Any]
    ) -> str | list[Part]:
        if isinstance(self.mapping.user, str):
            text = self._render(("user",), context, record, annotation)
            return text if text.strip() else ""
        parts: list[Part] = []
        for path in self._compiled:
            if path[0] != "user":
                continue
            value = self._render(path, context, record, annotation)
            if not value.strip():
                if path[-1] == "image" and record.media:
                    raise self._no_image(record, annotation, path)
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

    def _context(
        self, record: Record, annotation: Annotation, regions: list[Region]
    ) -> dict[str, Any]:
        groups = ctx.group_by_field(regions)
        schema = self.schema
        fields = {
            name: ctx.field_value(group, schema.fields.get(name) if schema else None)
            for name, group in groups.items()
        }
        for name, target in self._bind(record, annotation).items():
            if target in fields:
                fields[name] = fields[target]
            else:
                fields.pop(name, None)  # bound but absent: never another field of that name
        images = self._image_sizes(record, regions)
        context: dict[str, Any] = {
            "data": record.data,
            "fields": fields,
            "annotation": {
                "id": annotation.id,
                "annotator": annotation.annotator,
                "kind": annotation.kind,
                "ground_truth": annotation.ground_truth,
                "created_at": annotation.created_at,
            },
            "schema": self._schema_context,
            "record": self._record_context(record),
            MEDIA_VAR: images,
        }
        optional = {
            "label": ctx.single_label(groups),
            "text": ctx.find_text(record, regions, schema),
            "image": ctx.find_image(record, regions),
        }
        context.update({key: value for key, value in optional.items() if value is not None})
        if "answer" in self._names:
            context["answer"] = self._answer(record, annotation, groups, context)
        if "regions" in self._names:
            context["regions"] = msgspec.to_builtins(regions)
        return context

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

    def _answer(
        self,
        record: Record,
        annotation: Annotation,
        groups: dict[str, list[Region]],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        def span_text(span: Span) -> str:
            if span.text is not None:
                return span.text
            source = record.data.get(span.target or "")
            source = source if isinstance(source, str) else context.get("text")
            if not isinstance(source, str):
                raise ValueError(f"span {span.start}-{span.end} has no text and no source text")
            return source[span.start : span.end]

        try:
            return ctx.build_answer(groups, self.schema, context[MEDIA_VAR], span_text)
        except ValueError as exc:
            path = next(p for p, c in self._compiled.items() if "answer" in names_of(c))
            raise TemplateError(
                f"{self._at(path)}answer: {exc} (task {record.id})",
                annotators=_who(annotation),
            ) from exc

    def _bind(self, record: Record, annotation: Annotation) -> dict[str, str]:
        """Binding name → export field, resolving `{kind: ...}` selectors on this task."""
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


def _messages(turns: list[tuple[Role, str | list[Part]]]) -> list[Message]:
    """Text-only examples get string content; with an image, every message gets parts."""
    with_image = any(isinstance(content, list) for _, content in turns)
    messages = []
    for role, content in turns:
        if with_image and isinstance(content, str):
            content = [TextPart(text=content)]
        messages.append(Message(role=role, content=content))
    return messages


_TASK_LEVEL = frozenset({"data", "schema", "record"})
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
