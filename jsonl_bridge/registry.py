"""Adapter lookup: a sorted table of lazy built-ins plus the `jsonl_bridge.adapters` entry points.

Built-ins are "module:attr" strings so that `import jsonl_bridge` imports no adapter, and one
adapter's bug cannot break another. Third-party adapters are loaded by name, only when asked.
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from jsonl_bridge.errors import AdapterLoadError, InputError, UnknownAdapterError, UsageError
from jsonl_bridge.records import ExportSchema, Record

if TYPE_CHECKING:
    from jsonl_bridge.resolve import ImageRoot

ENTRY_POINT_GROUP = "jsonl_bridge.adapters"

BUILTIN: dict[str, str] = {
    "cvat": "jsonl_bridge.adapters.cvat:ADAPTER",
    "doccano": "jsonl_bridge.adapters.doccano:ADAPTER",
    "label-studio": "jsonl_bridge.adapters.label_studio:ADAPTER",
}


class NoOptions(BaseModel):
    """Options model of an adapter that takes none: any key is a usage error."""

    model_config = {"extra": "forbid", "frozen": True}


@dataclass(frozen=True)
class Adapter:
    """What an adapter module publishes as its one `ADAPTER = Adapter(...)`.

    `read(source, options)` must be a generator: it yields one `Record` per task and never
    loads the whole export. A task it cannot make sense of is still yielded, with the reason
    in `Record.problems`; a file that cannot be read at all raises `InputError` naming it.
    `read` must not open images. `sniff(path)` looks inside the file (extensions cannot tell a
    Label Studio .json from a doccano one) and must be cheap. `schema(source, options)` returns
    the labeling configuration's fields when the adapter can know them, else None.
    `media_roots(source, options)` names where the export keeps its own images (a folder, or
    `(zip, "images")`): they are searched before the user's `--images` roots.
    """

    name: str
    read: Callable[[Path, Any], Iterator[Record]]
    sniff: Callable[[Path], bool]
    summary: str
    options_model: type[BaseModel] = NoOptions
    schema: Callable[[Path, Any], ExportSchema | None] | None = None
    media_roots: Callable[[Path, Any], list[ImageRoot]] | None = None

    def parse_options(self, options: BaseModel | dict[str, Any] | None) -> BaseModel:
        """Validate user options against the adapter's model; unknown keys are usage errors."""
        if isinstance(options, self.options_model):
            return options
        try:
            return self.options_model.model_validate(dict(options or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors()
            )
            known = ", ".join(self.options_model.model_fields) or "none"
            raise UsageError(
                f"bad option for {self.name} (--option KEY=VALUE): {problems} "
                f"(options it takes: {known})"
            ) from exc


_registered: dict[str, Adapter] = {}


def register_adapter(adapter: Adapter, *, replace: bool = False) -> None:
    """Register an adapter object at run time (notebooks, tests); refuses silent overrides."""
    if not replace and (adapter.name in _registered or adapter.name in BUILTIN):
        raise UsageError(f"an adapter named {adapter.name!r} exists; pass replace=True")
    _registered[adapter.name] = adapter


def _plugin_entry_points() -> dict[str, Any]:
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            dist = getattr(ep.dist, "name", "?")
            warnings.warn(
                f"ignoring adapter plugin {ep.name!r} from {dist}: the name is built in",
                stacklevel=3,
            )
            continue
        found[ep.name] = ep
    return found


def available_adapters() -> list[str]:
    """Every adapter name that `get_adapter` accepts, sorted."""
    return sorted(set(BUILTIN) | set(_registered) | set(_plugin_entry_points()))


def _load(target: str) -> Adapter:
    module_name, _, attr = target.partition(":")
    adapter = getattr(importlib.import_module(module_name), attr)
    if not isinstance(adapter, Adapter):
        raise AdapterLoadError(f"{target} is not an Adapter")
    return adapter


def get_adapter(name: str) -> Adapter:
    """Return the adapter called `name`, importing it now; unknown names get a suggestion."""
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        return _load(BUILTIN[name])
    plugins = _plugin_entry_points()
    if name in plugins:
        ep = plugins[name]
        try:
            adapter = ep.load()
        except Exception as exc:
            dist = getattr(ep.dist, "name", "?")
            raise AdapterLoadError(
                f"adapter plugin {name!r} ({ep.value}, from {dist}) failed to import: {exc}"
            ) from exc
        if not isinstance(adapter, Adapter):
            raise AdapterLoadError(f"adapter plugin {name!r} ({ep.value}) is not an Adapter")
        return adapter
    names = available_adapters()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownAdapterError(f"unknown adapter {name!r}.{hint} Available: {', '.join(names)}")


def detect_adapter(source: Path) -> Adapter:
    """Pick the adapter whose `sniff` accepts `source`.

    None is an input error (an empty file or not an export: exit 3, as with `--from`);
    several is a usage error that asks for `--from`.

    A plugin that fails to import is skipped here (it cannot claim the input) and named in
    the error when nothing else matches, so one broken plugin never breaks detection.
    """
    matches, broken = [], []
    for name in available_adapters():
        try:
            adapter = get_adapter(name)
        except AdapterLoadError:
            broken.append(name)
            continue
        if _sniffs(adapter, source):
            matches.append(adapter)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        skipped = f"; could not load: {', '.join(broken)}" if broken else ""
        raise InputError(
            f"{source}: no adapter recognises this input; name one with --from "
            f"({', '.join(available_adapters())}){skipped}"
        )
    names = ", ".join(a.name for a in matches)
    raise UsageError(
        f"{source}: several adapters could read this input ({names}); pick one with --from"
    )


def _sniffs(adapter: Adapter, source: Path) -> bool:
    try:
        return adapter.sniff(source)
    except OSError:
        return False
