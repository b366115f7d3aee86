"""Mapping files: the YAML that says how an annotated task becomes chat messages (DESIGN §7).

The models reject unknown keys everywhere (a typo must fail, not be ignored), and every problem
of a file is reported at once, compiler style, as `file:LINE:COL: dotted.key: message`, using
the key positions `_yaml_positions` records. Presets are package data read with
importlib.resources, so they work from wheels and editable installs alike.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from jsonl_bridge._yaml_positions import KeyPath, Position, load_with_positions
from jsonl_bridge.errors import MappingError, UsageError

RegionKind = Literal[
    "choice",
    "taxonomy",
    "span",
    "text",
    "number",
    "rating",
    "box",
    "polygon",
    "polyline",
    "points",
    "ellipse",
    "mask",
    "tag",
    "relation",
]

SELECT_POLICIES = ("auto", "ground_truth", "latest", "first", "majority")
_SELECT_PATTERN = "^(auto|ground_truth|latest|first|majority|annotator:.+)$"
ImageFormat = Literal["jpeg", "png", "webp"]
_FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
ChatRole = Literal["system", "user", "assistant"]

DEFAULT_ROLES: dict[str, ChatRole] = {
    "user": "user",
    "human": "user",
    "customer": "user",
    "client": "user",
    "assistant": "assistant",
    "agent": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "gpt": "assistant",
    "support": "assistant",
    "system": "system",
}


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class FieldSelector(_Spec):
    """`{kind: choice}`: bind the only field of that kind (or of one of those kinds)."""

    kind: Annotated[
        list[RegionKind],
        BeforeValidator(_as_list, json_schema_input_type=RegionKind | list[RegionKind]),
        Field(min_length=1),
    ]


class TextPartSpec(_Spec):
    """A text part of the user message: a template."""

    text: str


class ImagePartSpec(_Spec):
    """An image part: a template giving the image reference (e.g. `{{ data.image }}`)."""

    image: str


def _part_tag(value: Any) -> str | None:
    if isinstance(value, (TextPartSpec, ImagePartSpec)):  # serialising
        return "text" if isinstance(value, TextPartSpec) else "image"
    if isinstance(value, dict):
        if "text" in value:
            return "text"
        if "image" in value:
            return "image"
    return None


Part = Annotated[
    Annotated[TextPartSpec, Tag("text")] | Annotated[ImagePartSpec, Tag("image")],
    Discriminator(
        _part_tag,
        custom_error_type="part",
        custom_error_message="a part is {text: TEMPLATE} or {image: TEMPLATE}",
    ),
]
UserSpec = Annotated[
    Annotated[str, Tag("template")] | Annotated[list[Part], Tag("parts")],
    Discriminator(lambda v: "parts" if isinstance(v, list) else "template"),
]
Binding = Annotated[
    Annotated[str, Tag("name")] | Annotated[FieldSelector, Tag("selector")],
    Discriminator(lambda v: "selector" if isinstance(v, (dict, FieldSelector)) else "name"),
]


class LabelsSpec(_Spec):
    """The annotation schema: renames run first, then the `allowed` check."""

    allowed: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    unknown: Literal["reject", "drop", "keep"] = "reject"


class ImagesSpec(_Spec):
    """Image limits; `formats` pass through as they are, `format` is the re-encode target."""

    max_side: int = Field(default=1024, gt=0)
    max_bytes: int = Field(default=10_485_760, gt=0)
    formats: list[ImageFormat] = Field(default_factory=lambda: list(_FORMATS))
    format: ImageFormat = "jpeg"


class DialogueSpec(_Spec):
    """Where the conversation history is and how its authors map to chat roles."""

    field: str | None = None
    author_key: str = "author"
    text_key: str = "text"
    roles: dict[str, ChatRole] = Field(default_factory=dict, validate_default=True)

    @field_validator("roles")
    @classmethod
    def _merge_default_roles(cls, roles: dict[str, ChatRole]) -> dict[str, ChatRole]:
        return {**DEFAULT_ROLES, **roles}

    def role_of(self, author: object) -> ChatRole | None:
        """The chat role of a turn's author (exact name first, then case-insensitive)."""
        name = str(author)
        if name in self.roles:
            return self.roles[name]
        folded = {key.strip().casefold(): role for key, role in self.roles.items()}
        return folded.get(name.strip().casefold())


class Mapping(_Spec):
    """A validated mapping file (DESIGN §7). Build it with `load_mapping`."""

    version: Literal[1]
    description: str | None = None
    extends: str | None = None
    system: str | None = None
    user: UserSpec | None = None
    assistant: str
    fields: dict[str, Binding] = Field(default_factory=dict)
    labels: LabelsSpec = Field(default_factory=LabelsSpec)
    select: Annotated[str, Field(json_schema_extra={"pattern": _SELECT_PATTERN})] = "auto"
    include_predictions: bool = False
    images: ImagesSpec = Field(default_factory=ImagesSpec)
    dialogue: DialogueSpec | None = None

    _origin: str = PrivateAttr(default="<mapping>")
    _positions: dict[KeyPath, Position] = PrivateAttr(default_factory=dict)
    _kinds: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @field_validator("select")
    @classmethod
    def _check_select(cls, value: str) -> str:
        if value in SELECT_POLICIES or (value.startswith("annotator:") and value[10:].strip()):
            return value
        hint = _did_you_mean(value, [*SELECT_POLICIES, "annotator:"])
        message = (
            f"{value!r} is not a policy: auto, ground_truth, latest, first, majority or "
            f"annotator:<id>{hint}"
        )
        raise PydanticCustomError("select", message.replace("{", "{{").replace("}", "}}"))

    @property
    def origin(self) -> str:
        """The file the mapping was read from, or `preset:NAME`."""
        return self._origin

    def name_bindings(self) -> dict[str, str | None]:
        """Export fields bound by name, each with the region kind it should be read as.

        Flat exports (Label Studio CSV) cannot tell a choice column from a text column. The
        kind is the one of the preset selector the binding replaced (`label: category` over
        `label: {kind: choice}`), else `choice` when the mapping has a labels schema (labels
        only apply to label-bearing regions), else None: the adapter decides.
        """
        fallback = "choice" if self.labels.allowed or self.labels.rename else None
        out: dict[str, str | None] = {}
        for name, binding in self.fields.items():
            if isinstance(binding, str):
                kinds = self._kinds.get(name, [])
                out[binding] = kinds[0] if len(kinds) == 1 else fallback
        return out

    @property
    def sends_images(self) -> bool:
        """Does the user message have an image part (so the tasks' images are embedded)?"""
        return isinstance(self.user, list) and any(
            isinstance(part, ImagePartSpec) for part in self.user
        )

    def templates(self) -> list[tuple[KeyPath, str]]:
        """Every template with its key path: system, user (or its parts), assistant."""
        out: list[tuple[KeyPath, str]] = []
        if self.system is not None:
            out.append((("system",), self.system))
        if isinstance(self.user, str):
            out.append((("user",), self.user))
        elif self.user is not None:
            for index, part in enumerate(self.user):
                key = "text" if isinstance(part, TextPartSpec) else "image"
                source = part.text if isinstance(part, TextPartSpec) else part.image
                out.append((("user", index, key), source))
        out.append((("assistant",), self.assistant))
        return out

    def position(self, path: KeyPath) -> Position | None:
        """Where `path` (or its nearest written ancestor) is in the mapping's files."""
        for end in range(len(path), 0, -1):
            found = self._positions.get(path[:end])
            if found is not None:
                return found
        return None

    def where(self, path: KeyPath, template_line: int | None = None) -> str:
        """`file:line` of a key (of line `template_line` of the template written there)."""
        pos = self.position(path)
        return f"{pos.file}:{pos.template_line(template_line)}" if pos else self.origin

    def problem(self, path: KeyPath, message: str, template_line: int | None = None) -> str:
        """One `file:LINE:COL: dotted.key: message` line for a MappingError."""
        pos = self.position(path)
        if pos is None:
            where = f"{self.origin}:1:1"
        else:
            line = pos.template_line(template_line)
            where = f"{pos.file}:{line}:{pos.column if line == pos.line else 1}"
        return f"{where}: {dotted(path)}: {message}"


def dotted(path: KeyPath) -> str:
    """`("user", 1, "image")` → `user[1].image`, the form error messages use."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    data: dict[str, Any]
    positions: dict[KeyPath, Position]
    origin: str
    kinds: dict[str, Any] = field(default_factory=dict)
    """Name bindings that replaced a base's `{kind: ...}` selector, with that kind."""


_NESTED = ("fields", "labels", "images", "dialogue")


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Load a mapping: an existing file path first, else a packaged preset by name.

    Raises UsageError for an unknown name and one MappingError listing every problem
    (YAML syntax, unknown or invalid keys, template syntax), each as `file:LINE:COL: ...`.
    """
    from jsonl_bridge.templates import compile_mapping

    raw = _load_raw(_locate(str(name_or_path), None), ())
    mapping = _validate(raw)
    compile_mapping(mapping)
    return mapping


@dataclass(frozen=True)
class _Located:
    text: str
    origin: str
    identity: str
    """Resolved path or preset name: what cycle detection compares."""
    directory: Path | None
    """Where a relative `extends` of this file is looked up (None for presets)."""


def _load_raw(located: _Located, stack: tuple[str, ...]) -> _Raw:
    try:
        data, positions = load_with_positions(located.text, located.origin)
    except yaml.reader.ReaderError as exc:  # raised before parsing starts, so without a mark
        line = located.text.count("\n", 0, exc.position) + 1
        raise MappingError(
            [
                f"{located.origin}:{line}: the control character U+{exc.character:04X} is not "
                "allowed in YAML"
            ]
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MappingError(
            [f"{located.origin}:1:1: a mapping file is a YAML mapping (version: 1, ...)"]
        )
    raw = _Raw(data, positions, located.origin)
    parent = data.get("extends")
    if not isinstance(parent, str):
        return raw  # no extends, or a wrong type that validation reports.
    where = positions[("extends",)]
    try:
        base = _locate(parent, located.directory)
    except UsageError as exc:
        raise MappingError([f"{where}: extends: {exc.message}"]) from exc
    chain = (*stack, located.identity)
    if base.identity in chain:
        cycle = " → ".join([*chain[chain.index(base.identity) :], base.identity])
        raise MappingError([f"{where}: extends: cycle: {cycle}"])
    return _merge(_load_raw(base, chain), raw)


def _locate(ref: str, base_dir: Path | None) -> _Located:
    path = Path(ref)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read mapping file {path}: {exc}") from exc
        return _Located(text, str(path), str(path.resolve()), path.parent)
    names = sorted(_preset_files())
    if ref in names:
        return _Located(preset_text(ref), f"preset:{ref}", f"preset:{ref}", None)
    if "/" in ref or "\\" in ref or path.suffix in (".yaml", ".yml"):
        raise UsageError(f"mapping file not found: {path}")
    raise UsageError(_unknown_preset(ref, names))


def _unknown_preset(name: str, names: list[str]) -> str:
    hint = _did_you_mean(name, names)
    return f"no mapping file or preset named {name!r}{hint} (presets: {', '.join(names)})"


def _merge(base: _Raw, child: _Raw) -> _Raw:
    """Child keys override; the nested dicts (fields, labels, images, dialogue) per key."""
    data = dict(base.data)
    overridden: set[KeyPath] = set()
    kinds = {**base.kinds, **child.kinds}
    base_fields, child_fields = base.data.get("fields"), child.data.get("fields")
    if isinstance(base_fields, dict) and isinstance(child_fields, dict):
        for name, binding in child_fields.items():
            before = base_fields.get(name)
            if isinstance(binding, str) and isinstance(before, dict) and "kind" in before:
                kinds[name] = before["kind"]
            elif not isinstance(binding, str) and name not in child.kinds:
                kinds.pop(name, None)
    for key, value in child.data.items():
        if key in _NESTED and isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
            overridden.update((key, sub) for sub in value)
        else:
            data[key] = value
            overridden.add((key,))
    positions = {
        path: pos
        for path, pos in base.positions.items()
        if path[:1] not in overridden and path[:2] not in overridden
    }
    positions.update(child.positions)
    return _Raw(data, positions, child.origin, kinds)


def _validate(raw: _Raw) -> Mapping:
    try:
        mapping = Mapping.model_validate(raw.data)
    except ValidationError as exc:
        problems = [_problem(error, raw) for error in exc.errors()]
        raise MappingError(sort_problems(problems)) from exc
    mapping._origin = raw.origin
    mapping._positions = raw.positions
    mapping._kinds = {
        name: [str(k) for k in _as_list(kind)]
        for name, kind in raw.kinds.items()
        if isinstance(mapping.fields.get(name), str) and isinstance(_as_list(kind), list)
    }
    return mapping


def sort_problems(problems: list[str]) -> list[str]:
    """Problems in file, line, column order (how editors and readers go through them)."""

    def order(problem: str) -> tuple[str, int, int]:
        match = re.match(r"(.*?):(\d+):(\d+): ", problem)
        return (match[1], int(match[2]), int(match[3])) if match else (problem, 0, 0)

    return sorted(problems, key=order)


def _problem(error: Any, raw: _Raw) -> str:
    loc = _clean_loc(tuple(error["loc"]))
    pos = None
    for end in range(len(loc), 0, -1):
        pos = raw.positions.get(loc[:end])
        if pos is not None:
            break
    where = str(pos) if pos else f"{raw.origin}:1:1"
    return f"{where}: {dotted(loc)}: {_message(error, loc)}"


def _clean_loc(loc: KeyPath) -> KeyPath:
    """Drop the union tags pydantic inserts (`user.parts[0].text.text` → `user[0].text`)."""
    if loc[:1] == ("user",) and len(loc) > 1:
        loc = (loc[0], *loc[2:])
        if len(loc) > 2 and isinstance(loc[1], int):
            loc = (*loc[:2], *loc[3:])
    elif loc[:1] == ("fields",) and len(loc) > 2:
        loc = (*loc[:2], *loc[3:])
    return loc


def _message(error: Any, loc: KeyPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = _did_you_mean(str(loc[-1]), known)
        return f"unknown key{hint or ' (keys here: ' + ', '.join(known) + ')'}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error" and isinstance(error.get("input"), str):
        options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        return f"{error['msg']}, not {error['input']!r}{_did_you_mean(error['input'], options)}"
    return str(error["msg"])


def _known_keys(prefix: KeyPath) -> list[str]:
    models: dict[KeyPath, type[BaseModel]] = {
        (): Mapping,
        ("labels",): LabelsSpec,
        ("images",): ImagesSpec,
        ("dialogue",): DialogueSpec,
    }
    if prefix in models:
        return list(models[prefix].model_fields)
    if prefix[:1] == ("user",):
        return ["text", "image"]
    if prefix[:1] == ("fields",):
        return ["kind"]
    return []


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- presets ---------------------------------------------------------------------------------


def _preset_files() -> dict[str, Any]:
    root = files("jsonl_bridge.mappings")
    return {
        entry.name[: -len(".yaml")]: entry
        for entry in root.iterdir()
        if entry.name.endswith(".yaml") and entry.is_file()
    }


def list_presets() -> list[tuple[str, str]]:
    """(name, description) of every packaged preset, sorted by name."""
    out = []
    for name, entry in sorted(_preset_files().items()):
        try:
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            data = None
        description = data.get("description") if isinstance(data, dict) else None
        out.append((name, str(description or "").strip()))
    return out


def preset_text(name: str) -> str:
    """The YAML text of a packaged preset (what `bridge mappings show NAME` prints)."""
    presets = _preset_files()
    if name not in presets:
        raise UsageError(_unknown_preset(name, sorted(presets)))
    text: str = presets[name].read_text(encoding="utf-8")
    return text


def mapping_json_schema() -> dict[str, Any]:
    """The JSON schema of mapping files, as committed in docs/mapping.schema.json."""
    schema = Mapping.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "jsonl_bridge mapping file",
        **{key: value for key, value in schema.items() if key != "title"},
    }
