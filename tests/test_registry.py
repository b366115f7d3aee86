"""Adapter registry: lazy built-ins, entry-point plugins, suggestions, detection."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from jsonl_bridge import registry
from jsonl_bridge.errors import AdapterLoadError, InputError, UnknownAdapterError, UsageError
from jsonl_bridge.registry import Adapter, get_adapter


def _docs_example() -> dict[str, Any]:
    """Run the third-party adapter example of docs/adapters.md, so the docs cannot rot."""
    docs = (Path(__file__).parents[1] / "docs" / "adapters.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# acme_bridge/reader.py.*?)```", docs, re.S)
    assert block is not None, "docs/adapters.md lost its example adapter"
    namespace: dict[str, Any] = {"__name__": "acme_bridge.reader"}
    exec(compile(block.group(1), "docs/adapters.md", "exec"), namespace)
    return namespace


EXAMPLE = _docs_example()
NOTES: Adapter = EXAMPLE["ADAPTER"]
read_notes = EXAMPLE["read_notes"]


class FakeEntryPoint:
    def __init__(self, name: str, loader: Any, value: str = "acme_bridge:ADAPTER") -> None:
        self.name, self.value, self._loader = name, value, loader
        self.dist = type("Dist", (), {"name": "acme-bridge"})()

    def load(self) -> Any:
        return self._loader()


def use_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: FakeEntryPoint) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: list(eps))


def test_builtin_table_is_sorted_and_lazy() -> None:
    assert list(registry.BUILTIN) == sorted(registry.BUILTIN)
    assert all(":" in target for target in registry.BUILTIN.values())


def test_import_jsonl_bridge_imports_no_adapter_pandas_or_pillow() -> None:
    import subprocess

    code = (
        "import sys, jsonl_bridge; "
        "bad = [m for m in ('pandas', 'PIL', 'jinja2', 'jsonl_bridge.adapters.label_studio') "
        "if m in sys.modules]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_reading_records_imports_no_template_or_mapping_machinery(tmp_path: Path) -> None:
    """`jsonl_bridge.read` in a notebook or ETL step: the adapter only (a third of a second
    of imports less than `convert`)."""
    import subprocess

    export = Path(__file__).parent / "fixtures" / "label-studio" / "email-classification"
    code = (
        "import sys, jsonl_bridge as jb; "
        f"n = sum(1 for _ in jb.read({str(export / 'export.json')!r})); "
        "bad = [m for m in ('jinja2', 'yaml', 'jsonl_bridge.pipeline', 'jsonl_bridge.render') "
        "if m in sys.modules]; print(n, bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.stdout.strip() == "6 []", result.stderr


def test_builtin_adapters_install_inside_the_package() -> None:
    adapter = get_adapter("label-studio")
    assert adapter.name == "label-studio"
    module = sys.modules["jsonl_bridge.adapters.label_studio"]
    assert module.__name__.startswith("jsonl_bridge.")


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownAdapterError, match="Did you mean 'label-studio'"):
        get_adapter("label_studio")


def test_plugin_loads_by_name_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    def loader() -> Adapter:
        loads.append("notes")
        return NOTES

    use_entry_points(monkeypatch, FakeEntryPoint("notes", loader))
    assert "notes" in registry.available_adapters()
    assert loads == []
    assert get_adapter("notes") is NOTES
    assert loads == ["notes"]


def test_broken_plugin_names_itself_and_spares_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    def loader() -> Adapter:
        raise ImportError("No module named 'acme_bridge'")

    use_entry_points(monkeypatch, FakeEntryPoint("acme", loader))
    with pytest.raises(AdapterLoadError, match=r"'acme'.*acme-bridge.*acme_bridge"):
        get_adapter("acme")
    assert get_adapter("label-studio").name == "label-studio"


def test_plugin_cannot_take_a_builtin_name(monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(monkeypatch, FakeEntryPoint("label-studio", lambda: NOTES))
    with pytest.warns(UserWarning, match="built in"):
        names = registry.available_adapters()
    assert names.count("label-studio") == 1


def test_register_adapter_refuses_silent_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registered", {})
    registry.register_adapter(NOTES)
    with pytest.raises(UsageError, match="replace=True"):
        registry.register_adapter(NOTES)
    registry.register_adapter(NOTES, replace=True)


def test_docs_example_adapter_reads_and_validates_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_registered", {})
    registry.register_adapter(NOTES)
    source = tmp_path / "a.notes"
    source.write_text("long text\tshort\n", encoding="utf-8")
    assert registry.detect_adapter(source) is NOTES
    records = list(NOTES.read(source, NOTES.parse_options({})))
    assert records[0].data == {"text": "long text"}
    assert records[0].source.where() == f"{source}:1"
    with pytest.raises(UsageError, match=r"bad option for notes.*sep.*separator"):
        NOTES.parse_options({"sep": ","})


def test_detection_with_no_match_asks_for_from(tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"\x00\x01")
    with pytest.raises(InputError, match="no adapter recognises this input"):
        registry.detect_adapter(source)


def test_ambiguous_input_lists_the_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_registered", {})
    greedy = Adapter(name="greedy", read=read_notes, sniff=lambda p: True, summary="any file")
    registry.register_adapter(greedy)
    source = Path(__file__).parent / "fixtures" / "label-studio" / "summarization" / "export.json"
    with pytest.raises(UsageError, match=r"several adapters .*\(greedy, label-studio\)"):
        registry.detect_adapter(source)
