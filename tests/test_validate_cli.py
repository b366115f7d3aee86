"""`bridge validate` end to end: exit codes, the JSON output shape, `--mapping` checks with the
packaged presets, and the output of `convert` on the fixtures passing with zero errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import jsonl_bridge as jb
from jsonl_bridge.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
EMAIL = FIXTURES / "email-classification"
QC = FIXTURES / "qc-defects"
EMAIL_LABELS = ["billing", "technical_support", "sales", "spam", "other"]  # EMAIL/config.xml
SYSTEM = {"role": "system", "content": "Classify."}


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def chat(answer: Any, user: str = "Hello") -> str:
    messages = [SYSTEM, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": messages})


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def lines_of(report: Any, code: str) -> list[int | None]:
    summary = report.codes.get(code)
    return [p.line for p in summary.first] if summary else []


GOOD = [chat("Classification: billing", f"e-mail {i}") for i in range(10)]


# --- exit codes -----------------------------------------------------------------------------


def test_exit_0_when_clean_1_on_any_error(tmp_path: Path) -> None:
    good = write(tmp_path / "good.jsonl", *GOOD)
    code, out, _ = run("validate", good)
    assert code == 0
    assert out.splitlines()[-1] == "OK: 0 errors, 0 warnings (profile openai)"
    bad = write(tmp_path / "bad.jsonl", *GOOD, "{broken")
    code, out, _ = run("validate", bad)
    assert code == 1
    assert "E102 invalid-json (error): 1" in out
    assert f"  {bad}:11: column" in out


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    code, out, _ = run("validate", write(tmp_path / "few.jsonl", *GOOD[:3]))
    assert code == 0
    assert "W106 too-few-examples (warning): 1" in out


@pytest.mark.parametrize(
    "args",
    [["--format", "yaml"], ["--profile", "gemini"], ["--mapping", "no-such-preset"]],
    ids=["format", "profile", "mapping"],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    code, _, err = run("validate", write(tmp_path / "d.jsonl", *GOOD), *args)
    assert code == 2
    assert err.startswith("error: ")


def test_an_invalid_mapping_file_exits_2_with_its_line(tmp_path: Path) -> None:
    mapping = mapping_file(
        tmp_path, "version: 1\nextends: email-classification\nlabels: {alowed: []}\n"
    )
    code, _, err = run("validate", write(tmp_path / "d.jsonl", *GOOD), "-m", mapping)
    assert code == 2
    assert f"{mapping}:3:" in err and "did you mean 'allowed'" in err


def test_an_unreadable_input_exits_3(tmp_path: Path) -> None:
    code, _, err = run("validate", write(tmp_path / "d.jsonl", *GOOD), tmp_path / "missing.jsonl")
    assert code == 3
    assert err == f"error: {tmp_path / 'missing.jsonl'}: cannot read: No such file or directory\n"


def test_python_m_jsonl_bridge_validate_in_a_subprocess(tmp_path: Path) -> None:
    write(tmp_path / "d.jsonl", *GOOD, "[]")
    done = subprocess.run(
        [sys.executable, "-m", "jsonl_bridge", "validate", "d.jsonl", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["codes"]["E103"]["first"] == [
        {"file": "d.jsonl", "line": 11, "message": "the line is a JSON list, not an object"}
    ]


# --- the JSON output ------------------------------------------------------------------------


def test_json_output_shape(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", *GOOD, GOOD[0], chat(""))
    code, out, _ = run("validate", path, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert set(data) == {"ok", "profile", "mapping", "errors", "warnings", "files", "codes"}
    assert (data["ok"], data["profile"], data["mapping"]) == (False, "openai", None)
    assert (data["errors"], data["warnings"]) == (1, 1)
    assert data["files"] == [{"path": str(path), "lines": 12, "examples": 12, "clean": 11}]
    assert data["codes"] == {
        "E206": {
            "name": "empty-content",
            "severity": "error",
            "count": 1,
            "first": [{"file": str(path), "line": 12, "message": "messages[2]: content is empty"}],
        },
        "W101": {
            "name": "duplicate-example",
            "severity": "warning",
            "count": 1,
            "first": [{"file": str(path), "line": 11, "message": "the same example as line 1"}],
        },
    }


# --- --mapping: outputs against what the mapping declares ----------------------------------


def email_mapping(tmp_path: Path) -> Path:
    allowed = ", ".join(EMAIL_LABELS)
    text = f"version: 1\nextends: email-classification\nlabels: {{allowed: [{allowed}]}}\n"
    return mapping_file(tmp_path, text)


def test_email_labels_outside_labels_allowed_are_e401(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        *GOOD,
        chat("Classification: refund"),
        chat("Classification: spam, other"),  # a multi-choice answer: both allowed
        chat("Classification: spam, refund"),
    )
    report = jb.validate(path, mapping=email_mapping(tmp_path))
    assert lines_of(report, "E401") == [11, 13]
    assert (
        report.codes["E401"].first[0].message.startswith("label 'refund' is not in labels.allowed")
    )
    assert report.codes["E401"].count == 2


def test_an_output_not_of_the_template_form_is_e406(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", *GOOD, chat("Category: billing"), chat("billing"))
    report = jb.validate(path, mapping="email-classification")  # the preset: no allowed list
    assert lines_of(report, "E406") == [11, 12]
    assert "'Classification: <label>'" in report.codes["E406"].first[0].message
    assert "E401" not in report.codes


def box(coords: list[Any], label: str = "scratch", key: str = "box_2d") -> dict[str, Any]:
    return {key: coords, "label": label}


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("[{'box_2d': [1, 2, 3, 4]}]", "E402"),
        ("not json", "E402"),
        (json.dumps({"box_2d": [1, 2, 3, 4], "label": "dent"}), "E403"),
        (json.dumps([box([1, 2, 3])]), "E403"),
        (json.dumps([box([1.5, 2, 3, 4])]), "E403"),
        (json.dumps([box([1, 2, 3, 4], key="bbox")]), "E403"),
        (json.dumps([{"box_2d": [1, 2, 3, 4]}]), "E403"),
        (json.dumps([box([0, 0, 1001, 5])]), "E404"),
        (json.dumps([box([-1, 0, 10, 5])]), "E404"),
        (json.dumps([box([500, 0, 100, 10])]), "E405"),
        (json.dumps([box([0, 600, 10, 500])]), "E405"),
    ],
)
def test_qc_defects_box_lists_are_checked(tmp_path: Path, answer: str, code: str) -> None:
    valid = json.dumps([box([0, 0, 1000, 1000]), box([10, 20, 10, 20], "dent")])
    path = write(tmp_path / "d.jsonl", chat(valid), chat(answer), chat("[]"))
    report = jb.validate(path, mapping="qc-defects")
    errors = {c: lines_of(report, c) for c, s in report.codes.items() if s.severity == "error"}
    assert errors == {code: [2]}


def test_box_labels_outside_labels_allowed_are_e401(tmp_path: Path) -> None:
    mapping = mapping_file(
        tmp_path, "version: 1\nextends: qc-defects\nlabels: {allowed: [scratch, dent]}\n"
    )
    answer = json.dumps([box([1, 2, 3, 4]), box([1, 2, 3, 4], "rust")])
    report = jb.validate(write(tmp_path / "d.jsonl", chat(answer)), mapping=mapping)
    assert lines_of(report, "E401") == [1]
    assert report.codes["E401"].first[0].message.startswith("box 1: label 'rust'")


def test_a_json_preset_wants_valid_json(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", chat('{"name": "Ann"}'), chat("name: Ann"))
    report = jb.validate(path, mapping="structured-extraction")
    assert lines_of(report, "E402") == [2]


def test_free_text_presets_check_nothing_of_the_output(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", chat("Any summary { at all"))
    assert jb.validate(path, mapping="summarization").errors == 0


# --- convert's output passes validate ---------------------------------------------------------


def test_convert_output_for_email_classification_passes(tmp_path: Path) -> None:
    options = {"label_config": str(EMAIL / "config.xml")}
    out = tmp_path / "train.jsonl"
    jb.write_jsonl(jb.convert(EMAIL / "export.json", "email-classification", options=options), out)
    report = jb.validate(out, mapping=email_mapping(tmp_path))
    assert report.errors == 0
    assert report.files[0].examples == report.files[0].clean == 4  # the README's 4 of 6
    assert set(report.codes) == {"W106"}  # 4 examples: fewer than the service's 10


def test_convert_output_for_qc_defects_with_images_passes(tmp_path: Path) -> None:
    options = {"label_config": str(QC / "config.xml")}
    roots = [QC / "media" / "upload", QC / "external"]
    conversion = jb.convert(QC / "export.json", "qc-defects", images=roots, options=options)
    out = tmp_path / "qc.jsonl"
    jb.write_jsonl(conversion, out)
    mapping = mapping_file(
        tmp_path,
        "version: 1\nextends: qc-defects\nlabels: {allowed: [scratch, dent, paint_chip]}\n",
    )
    report = jb.validate(out, mapping=mapping)
    assert report.errors == 0, report.to_text()
    assert report.files[0].clean == report.files[0].examples > 0
    assert set(report.codes) <= {"W106"}
    code, _, _ = run("validate", out, "-m", "qc-defects")
    assert code == 0
