"""Reading an export's records: which adapter, and its stream.

Apart from the pipeline, so that `jsonl_bridge.read` in a notebook or an ETL step imports the
registry and an adapter only, not the mapping, template and gate machinery `convert` needs
(about a third of a second of imports).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jsonl_bridge.errors import InputError
from jsonl_bridge.records import Record
from jsonl_bridge.registry import Adapter, detect_adapter, get_adapter

Options = BaseModel | dict[str, Any] | None


def resolve_adapter(source: Path, from_: str | None) -> Adapter:
    """The named adapter, or the one whose sniff recognises `source`."""
    if not source.exists():
        raise InputError(f"{source}: no such file or directory")
    if not os.access(source, os.R_OK):
        raise InputError(f"{source}: permission denied")
    if not source.is_file() and not source.is_dir():
        raise InputError(
            f"{source}: not a regular file (a pipe or a device such as <(...)): an export is "
            "read more than once (detection, label scan, records); save it to a file first"
        )
    return get_adapter(from_) if from_ else detect_adapter(source)


def read(source: str | Path, from_: str | None = None, options: Options = None) -> Iterator[Record]:
    """Stream the records of an export; `options` are validated by the adapter's model."""
    path = Path(source)
    adapter = resolve_adapter(path, from_)
    return adapter.read(path, adapter.parse_options(options))
