"""Hostile mapping files, through the CLI: YAML that would build Python objects, templates
that reach for Python internals or would exhaust memory or CPU in one expression.

YAML problems are mapping errors (exit 2, `file:line:col`). A template that the sandbox stops
rejects each task with reason `template` naming the mapping line; since no task is left, the
run exits 1 and writes no output. Nothing the template asked for ever happens.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cli_run import run

EMAIL = Path(__file__).parent / "fixtures" / "label-studio" / "email-classification"
CONFIG = f"label_config={EMAIL / 'config.xml'}"


def convert_with(tmp_path: Path, mapping_text: str) -> tuple[int, str]:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping_text, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, err = run("convert", EMAIL / "export.json", "-m", mapping, "--option", CONFIG, "-o", out)
    assert not out.exists()
    return code, err


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/object/new:os.system ['touch pwned']",
        "!!python/object:os.system {}",
        "!!python/name:os.system",
        "!!python/module:os",
        "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch pwned']",
    ],
)
def test_yaml_python_tags_are_mapping_errors(
    tmp_path: Path, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = convert_with(tmp_path, f"version: 1\nuser: {tag}\nassistant: x\n")
    assert code == 2, err
    assert f"{tmp_path / 'mapping.yaml'}:2:7: " in err and "constructor" in err
    assert not (tmp_path / "pwned").exists()


def test_yaml_alias_expansion_is_refused(tmp_path: Path) -> None:
    """Billion laughs in YAML: each level doubles what a naive walk would visit."""
    levels = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    start = time.monotonic()
    code, err = convert_with(tmp_path, "version: 1\n" + "\n".join(levels) + "\n")
    assert time.monotonic() - start < 5
    assert code == 2 and "aliases" in err


TEMPLATES_REACHING_FOR_INTERNALS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ data.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ data | attr('__class__') }}",
    "{{ '{0.__class__}'.format(data) }}",
    "{{ range.__self__ }}",
    "{{ data.update({'text': 'x'}) }}",
    "{{ fields.clear() }}",
    "{{ data.items.__func__ }}",
]


@pytest.mark.parametrize("template", TEMPLATES_REACHING_FOR_INTERNALS)
def test_the_sandbox_refuses_python_internals(tmp_path: Path, template: str) -> None:
    code, err = convert_with(tmp_path, f"version: 1\nassistant: {json.dumps(template)}\n")
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").open()]
    assert code == 1, err
    assert rejects and {r["reason"] for r in rejects} == {"template"}
    assert all("mapping.yaml:2" in r["detail"] for r in rejects)
    assert any(word in rejects[0]["detail"] for word in ("unsafe", "undefined", "no attribute"))


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 9 ** 99999999 }}", "too large"),
        ("{{ 'a' * 10**10 }}", "more than 1,000,000 items"),
        ("{{ 10**10 * 'a' }}", "more than 1,000,000 items"),
        ("{{ [0] * 10**9 }}", "more than 1,000,000 items"),
        ("{{ range(10**9) | list }}", "Range too big"),
        ("{{ lipsum(100000) }}", "'lipsum' is undefined"),
    ],
)
def test_one_expression_cannot_exhaust_memory_or_cpu(
    tmp_path: Path, template: str, message: str
) -> None:
    start = time.monotonic()
    code, err = convert_with(tmp_path, f"version: 1\nassistant: {json.dumps(template)}\n")
    assert time.monotonic() - start < 10
    assert code == 1, err
    detail = json.loads((tmp_path / "out.rejects.jsonl").open().readline())["detail"]
    assert message in detail


def test_small_repetitions_and_powers_still_work(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("version: 1\nassistant: \"{{ '-' * 3 }}{{ 2 ** 10 }}{{ 2.5 ** 2 }}\"\n")
    out = tmp_path / "out.jsonl"
    code, err = run("convert", EMAIL / "export.json", "-m", mapping, "--option", CONFIG, "-o", out)
    assert code == 0, err
    answers = {json.loads(line)["messages"][-1]["content"] for line in out.open()}
    assert answers == {"---10246.25"}


def test_a_control_character_in_the_mapping_is_a_mapping_error(tmp_path: Path) -> None:
    """Found by the property tests: PyYAML refuses it before parsing, without a mark."""
    code, err = convert_with(tmp_path, 'version: 1\nassistant: "a\x1fb"\n')
    assert code == 2, err
    assert f"{tmp_path / 'mapping.yaml'}:2: the control character U+001F" in err
