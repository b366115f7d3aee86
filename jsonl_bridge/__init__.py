"""jsonl_bridge: annotation-tool exports in, fine-tuning JSON Lines out.

The public API is imported lazily so that `import jsonl_bridge` stays cheap in notebooks and
ETL jobs: pandas, Pillow, Jinja2 and the adapters load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AdapterLoadError": "jsonl_bridge.errors",
    "AgreementReport": "jsonl_bridge._agreement",
    "BridgeError": "jsonl_bridge.errors",
    "Conversion": "jsonl_bridge.pipeline",
    "Example": "jsonl_bridge.chat",
    "InputError": "jsonl_bridge.errors",
    "Mapping": "jsonl_bridge.mapping",
    "MappingError": "jsonl_bridge.errors",
    "Record": "jsonl_bridge.records",
    "Report": "jsonl_bridge.report",
    "UsageError": "jsonl_bridge.errors",
    "ValidationReport": "jsonl_bridge.validation",
    "agreement": "jsonl_bridge._agreement",
    "convert": "jsonl_bridge.pipeline",
    "load_mapping": "jsonl_bridge.mapping",
    "read": "jsonl_bridge.reading",
    "to_dataframe": "jsonl_bridge.frames",
    "validate": "jsonl_bridge.validation",
    "write_jsonl": "jsonl_bridge.writer",
    "write_preview": "jsonl_bridge.preview",
}

__all__ = [
    "AdapterLoadError",
    "AgreementReport",
    "BridgeError",
    "Conversion",
    "Example",
    "InputError",
    "Mapping",
    "MappingError",
    "Record",
    "Report",
    "UsageError",
    "ValidationReport",
    "__version__",
    "agreement",
    "convert",
    "load_mapping",
    "read",
    "to_dataframe",
    "validate",
    "write_jsonl",
    "write_preview",
]

if TYPE_CHECKING:
    from jsonl_bridge._agreement import AgreementReport, agreement
    from jsonl_bridge.chat import Example
    from jsonl_bridge.errors import (
        AdapterLoadError,
        BridgeError,
        InputError,
        MappingError,
        UsageError,
    )
    from jsonl_bridge.frames import to_dataframe
    from jsonl_bridge.mapping import Mapping, load_mapping
    from jsonl_bridge.pipeline import Conversion, convert
    from jsonl_bridge.preview import write_preview
    from jsonl_bridge.reading import read
    from jsonl_bridge.records import Record
    from jsonl_bridge.report import Report
    from jsonl_bridge.validation import ValidationReport, validate
    from jsonl_bridge.writer import write_jsonl


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jsonl_bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
