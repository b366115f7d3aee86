"""`bridge agree` end to end: exit codes, the JSON contract (DESIGN §12), the disagreements file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsonl_bridge.cli import app

LS = Path(__file__).parent / "fixtures" / "label-studio"
EMAIL = LS / "email-classification" / "export.json"
NER = LS / "ner-spans" / "export.json"


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["agree", *(str(a) for a in args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_json_output_follows_the_contract() -> None:
    code, out, _ = run(EMAIL, "--format", "json")
    assert code == 1  # α = 7/16 < 0.8
    report = json.loads(out)
    assert report["threshold"] == 0.8
    assert report["pass"] is False
    category = report["fields"]["category"]
    assert category["kind"] == "categorical"
    assert category["headline"] == "krippendorff_alpha"
    assert category["metrics"]["krippendorff_alpha"] == pytest.approx(7 / 16)
    assert category["metrics"]["percent_agreement"] == pytest.approx(8 / 15)
    assert category["metrics"]["fleiss_kappa"] is None
    assert category["undefined"]["fleiss_kappa"]
    assert (category["n_items"], category["n_annotators"], category["pass"]) == (5, 3, False)
    assert [p["annotators"] for p in category["pairs"]] == [["1", "2"], ["1", "3"], ["2", "3"]]


def test_threshold_decides_the_exit_code() -> None:
    assert run(EMAIL, "--threshold", "0.4")[0] == 0
    assert run(EMAIL, "--threshold", "0.5")[0] == 1
    code, out, _ = run(NER)  # exact-match F1 12/14 ≥ 0.8
    assert code == 0
    assert "label (spans): 2 items, 2 annotators (1, 2)" in out
    assert "f1: 0.857  pass" in out
    assert "agreement: pass (threshold 0.8)" in out


def test_iou_option_reaches_the_box_matching() -> None:
    qc = LS / "qc-defects" / "export.json"
    assert run(qc)[0] == 1  # F1 6/9
    code, out, _ = run(qc, "--iou", "0.3", "--format", "json")
    assert code == 0  # the rotated dent now pairs up: F1 8/9
    defect = json.loads(out)["fields"]["defect"]
    assert defect["metrics"]["f1"] == pytest.approx(8 / 9)
    assert defect["headline"] == "labeled_f1"  # every pair in qc-defects shares its label
    assert defect["metrics"]["labeled_f1"] == pytest.approx(8 / 9)


def test_disagreements_file_is_ready_for_re_review(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    code, _, _ = run(EMAIL, "--disagreements", path)
    assert code == 1
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["2", "3", "5"]
    assert lines[2] == {
        "id": "5",
        "source": {"file": str(EMAIL), "pointer": "/[4]"},
        "field": "category",
        "answers": {"1": "billing", "2": "other"},
    }


def test_text_output_names_undefined_metrics_and_the_coincidences() -> None:
    _, out, _ = run(EMAIL)
    assert "krippendorff_alpha: 0.438  FAIL" in out
    assert "fleiss_kappa: undefined" in out
    assert "(fleiss_kappa: items have 2 to 3 annotators" in out
    assert "1 × 2: 5 items, percent_agreement 0.800, cohen_kappa 0.750" in out
    assert "disagreements: 3 items (2, 3, 5)" in out
    # 1 × 2 from MANIFEST.md: e5 is the only disagreement, 1 said billing and 2 other
    assert "rows: what 1 said, columns: what 2 said" in out
    assert "        billing                 1     1     0     0                 0" in out


def test_json_gives_each_pair_its_confusion_table() -> None:
    _, out, _ = run(EMAIL, "--format", "json")
    pairs = json.loads(out)["fields"]["category"]["pairs"]
    two_three = next(p for p in pairs if p["annotators"] == ["2", "3"])
    # MANIFEST.md, e1-e3: 2 said billing, technical_support, sales; 3 billing, other, billing
    assert two_three["confusion"] == {
        "labels": ["billing", "other", "sales", "technical_support"],
        "matrix": [[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]],
    }


def test_usage_and_input_errors() -> None:
    code, _, err = run(NER, "--field", "lable")
    assert code == 2
    assert "no annotation has this field (fields: label, relations)" in err
    assert "did you mean 'label'?" in err
    assert run(NER, "--format", "xml")[0] == 2
    assert run(NER, "--iou", "0")[0] == 2
    code, _, err = run(NER, "--disagreements", NER)
    assert code == 2
    assert "refusing to overwrite the input" in err


@pytest.mark.parametrize("threshold", ["50", "80", "-0.1", "1.01", "nan"])
def test_a_threshold_outside_zero_one_is_a_usage_error(threshold: str) -> None:
    code, out, err = run(NER, "--threshold", threshold)
    assert code == 2
    assert "--threshold" in err
    assert "between 0 and 1" in err
    assert out == ""


def test_the_ends_of_zero_one_are_valid_thresholds() -> None:
    assert run(NER, "--threshold", "0")[0] == 0
    assert run(NER, "--threshold", "1")[0] == 1  # exact-match F1 12/14 < 1


def test_unreadable_input_exits_3(tmp_path: Path) -> None:
    broken = tmp_path / "export.json"
    broken.write_text('[{"id": 1, "data": {"text": "x"}, "annotations": [', "utf-8")
    assert run(broken, "--from", "label-studio")[0] == 3


def test_nothing_to_measure_exits_1() -> None:
    code, out, _ = run(LS / "summarization" / "export.json")
    assert code == 1
    assert "nothing to measure" in out


def test_python_m_runs_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jsonl_bridge", "agree", str(NER), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["fields"]["label"]["metrics"]["f1_overlap"] == 1.0
