"""Golden tests: every text project × every Label Studio export format × its preset.

The expected examples are computed here from each project's answer key (manifest.json, written
when the fixtures were made) and the presets' wording typed by hand, never from saved output.
Selection follows DESIGN §11: a ground truth wins, else unanimity, else a strict majority,
else the task is rejected as a disagreement. The flat formats (JSON_MIN, CSV, TSV) carry no
ground_truth and no cancelled annotations, so they may disagree where JSON does not.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import jsonl_bridge as jb

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
FORMATS = ["export.json", "export_min.json", "export.csv", "export.tsv"]

Raw = list[dict[str, Any]]
Messages = list[dict[str, str]]


def manifest(project: str) -> dict[str, Any]:
    return json.loads((FIXTURES / project / "manifest.json").read_text(encoding="utf-8"))


def expected(
    project: str, fmt: str, build: Callable[[dict[str, Any], Raw], Messages]
) -> tuple[dict[str, Messages], dict[str, str], int]:
    """(examples by task id, rejects by task id → reason, unannotated count) from the key."""
    examples: dict[str, Messages] = {}
    rejects: dict[str, str] = {}
    unannotated = 0
    for task in manifest(project)["tasks"].values():
        task_id = str(task["task_id"])
        done = [a for a in task["annotations"] if not a["was_cancelled"]]
        if not done:
            unannotated += 1
            continue
        truths = [a for a in done if a["ground_truth"] and fmt == "export.json"]
        outputs = [build(task["data"], a["raw"]) for a in truths or done]
        keys = [json.dumps(o, ensure_ascii=False) for o in outputs]
        best, votes = Counter(keys).most_common(1)[0]
        if votes == len(keys) or votes * 2 > len(keys):
            examples[task_id] = json.loads(best)
        else:
            rejects[task_id] = "disagreement"
    return examples, rejects, unannotated


def run(project: str, fmt: str, preset: str) -> tuple[dict[str, Messages], dict[str, str], Any]:
    config = FIXTURES / project / "config.xml"
    conversion = jb.convert(FIXTURES / project / fmt, preset, options={"label_config": str(config)})
    examples = {e.id: [msgspec.to_builtins(m) for m in e.messages] for e in conversion}
    rejects = {r.id: r.reason for r in conversion.rejects}
    return examples, rejects, conversion.report


def check(
    project: str, fmt: str, preset: str, build: Callable[[dict[str, Any], Raw], Messages]
) -> None:
    want, want_rejects, want_unannotated = expected(project, fmt, build)
    got, got_rejects, report = run(project, fmt, preset)
    assert got == want
    assert list(got) == sorted(got, key=int)  # file order, which is task order here
    assert got_rejects == want_rejects
    assert report.unannotated == want_unannotated
    assert report.tasks_read == len(manifest(project)["tasks"])


def texts(raw: Raw, field: str) -> list[str]:
    return [t for r in raw if r.get("from_name") == field for t in r["value"]["text"]]


EMAIL_SYSTEM = (
    "Classify the customer e-mail into exactly one of these categories: billing, "
    'technical_support, sales, spam, other. Answer in the form "Classification: <category>".'
)


def email(data: dict[str, Any], raw: Raw) -> Messages:
    (label,) = raw[0]["value"]["choices"]
    return [
        {"role": "system", "content": EMAIL_SYSTEM},
        {"role": "user", "content": f"Subject: {data['subject']}\n\n{data['text']}"},
        {"role": "assistant", "content": f"Classification: {label}"},
    ]


def summary(data: dict[str, Any], raw: Raw) -> Messages:
    return [
        {"role": "system", "content": "Summarize the text in a few short sentences."},
        {"role": "user", "content": data["text"]},
        {"role": "assistant", "content": "\n".join(texts(raw, "summary"))},
    ]


def dialogue(data: dict[str, Any], raw: Raw) -> Messages:
    turns = [{"role": t["author"], "content": t["text"]} for t in data["dialogue"]]
    return [
        {"role": "system", "content": data["system"]},
        *turns,
        {"role": "assistant", "content": "\n".join(texts(raw, "reply"))},
    ]


NER_KEYS = ["PERSON", "ORG", "LOC", "DATE"]  # the Labels order of ner-spans/config.xml
NER_SYSTEM = (
    "Extract the information from the text and answer with one JSON object. The keys are: "
    "PERSON, ORG, LOC, DATE. Each value is the text as it appears, a list of strings when "
    "there are several; leave out keys with nothing to extract."
)


def extraction(data: dict[str, Any], raw: Raw) -> Messages:
    spans = sorted((r["value"] for r in raw if r["type"] == "labels"), key=lambda v: v["start"])
    by_label: dict[str, list[str]] = {}
    for span in spans:
        for label in span["labels"]:
            by_label.setdefault(label, []).append(span["text"])
    answer = {k: v[0] if len(v) == 1 else v for k in NER_KEYS if (v := by_label.get(k))}
    return [
        {"role": "system", "content": NER_SYSTEM},
        {"role": "user", "content": data["text"]},
        {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)},
    ]


def auto_label(data: dict[str, Any], raw: Raw) -> Messages:
    (label,) = raw[0]["value"]["choices"]
    return [{"role": "user", "content": data["text"]}, {"role": "assistant", "content": label}]


CASES = [
    ("email-classification", "email-classification", email),
    ("email-classification", "auto", auto_label),
    ("summarization", "summarization", summary),
    ("dialogue", "dialogue", dialogue),
    ("ner-spans", "structured-extraction", extraction),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("project", "preset", "build"), CASES, ids=[c[1] for c in CASES])
def test_preset_on_real_export(
    project: str, preset: str, build: Callable[[dict[str, Any], Raw], Messages], fmt: str
) -> None:
    check(project, fmt, preset, build)


def test_the_answer_key_really_differs_between_formats() -> None:
    """Guard against a vacuous golden: JSON's ground truth must change some outcomes."""
    assert expected("dialogue", "export.json", dialogue)[1] == {}
    assert expected("dialogue", "export_min.json", dialogue)[1] == {"17": "disagreement"}
    assert expected("ner-spans", "export.json", extraction)[1] == {}
    assert expected("ner-spans", "export.csv", extraction)[1] == {"22": "disagreement"}
    assert expected("email-classification", "export.json", email)[1] == {"5": "disagreement"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_flat_formats_without_config_read_span_columns_by_shape(fmt: str) -> None:
    """JSON_MIN/CSV/TSV without label_config: span lists are still recognised as results."""
    conversion = jb.convert(FIXTURES / "ner-spans" / fmt, "structured-extraction")
    answers = {e.id: json.loads(str(e.messages[-1].content)) for e in conversion}
    assert answers["23"] == {"PERSON": "Jürgen Klopp", "ORG": "Liverpool FC", "LOC": "England"}
    system = str(
        next(iter(jb.convert(FIXTURES / "ner-spans" / fmt, "structured-extraction")))
        .messages[0]
        .content
    )
    assert "DATE, LOC, ORG, PERSON" in system  # no config: the first pass sorts the keys


def test_flat_format_without_config_says_which_option_is_missing() -> None:
    conversion = jb.convert(
        FIXTURES / "email-classification" / "export_min.json", "email-classification"
    )
    assert list(conversion) == []
    reasons = {r.reason for r in conversion.rejects}
    assert reasons == {"field"}
    assert "label_config" in conversion.rejects[0].detail
    assert "category" in conversion.rejects[0].detail  # names the columns that exist


@pytest.mark.parametrize("project", ["qc-defects", "cad-code"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_image_tasks_without_image_roots_are_rejected_never_written_with_bare_references(
    project: str, fmt: str
) -> None:
    """No --images: every image task is rejected (its image not found, or remote and not
    allowed), in every format, through the auto mapping."""
    config = FIXTURES / project / "config.xml"
    conversion = jb.convert(FIXTURES / project / fmt, "auto", options={"label_config": config})
    assert list(conversion) == []
    assert conversion.report.tasks_read == len(manifest(project)["tasks"])
    assert set(conversion.report.rejected) <= {"image_not_found", "image_refused", "disagreement"}
    assert conversion.report.rejected["image_not_found"] >= 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_flat_formats_without_config_keep_a_column_an_answer_in_every_row(fmt: str) -> None:
    """Summary s2 has two entries ({"text": [...]}) while s1, s3, s4 are plain strings: the
    whole column is an answer, decided over the file, not cell by cell."""
    want, want_rejects, _ = expected("summarization", fmt, summary)
    conversion = jb.convert(FIXTURES / "summarization" / fmt, "summarization")
    got = {e.id: [msgspec.to_builtins(m) for m in e.messages] for e in conversion}
    assert got == want and not want_rejects
    assert conversion.rejects == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_first_example_of_docs_mappings_md_works_as_shown(tmp_path: Path, fmt: str) -> None:
    """The headline mapping of docs/mappings.md, run on the real export in every format:
    renames applied, allowed labels listed in the system message, answers from the answer
    key. In the flat formats `label: category` keeps the preset's `{kind: choice}`, so the
    column is read as a classification and the labels schema applies to it."""
    import re

    docs = (Path(__file__).parents[1] / "docs" / "mappings.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", docs, re.S)
    assert block is not None
    mapping = tmp_path / "mine.yaml"
    mapping.write_text(block.group(1), encoding="utf-8")
    want, _, _ = expected("email-classification", fmt, email)
    rename = {"technical_support": "tech", "spam": "other"}
    conversion = jb.convert(FIXTURES / "email-classification" / fmt, mapping)
    got = {e.id: e.messages for e in conversion}
    assert list(got) == list(want)
    for task_id, messages in got.items():
        label = str(want[task_id][-1]["content"]).removeprefix("Classification: ")
        assert messages[-1].content == rename.get(label, label)
        assert messages[0].content == (
            "You route support e-mails. Answer with one of: billing, tech, sales, other."
        )


@pytest.mark.parametrize("fmt", ["export_min.json", "export.csv", "export.tsv"])
def test_flat_formats_with_a_typed_column_apply_the_labels_schema(tmp_path: Path, fmt: str) -> None:
    """`fields=category:choices` reads the column as a classification without the config, so
    rename and allowed apply (as a text column they could not)."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: email-classification\nfields: {label: category}\n"
        "labels: {allowed: [billing, sales, junk], rename: {spam: junk}, unknown: reject}\n"
    )
    conversion = jb.convert(
        FIXTURES / "email-classification" / fmt, mapping, options={"fields": "category:choices"}
    )
    answers = {e.id: e.messages[-1].content for e in conversion}
    assert answers == {
        "1": "Classification: billing",
        "3": "Classification: sales",
        "4": "Classification: junk",
    }
    reasons = {r.id: r.reason for r in conversion.rejects}
    assert reasons == {"2": "label", "5": "label"}  # technical_support; other (and a split)


@pytest.mark.parametrize("fmt", ["export_min.json", "export.csv"])
def test_a_name_binding_in_a_mapping_with_a_labels_schema_reads_a_choice(
    tmp_path: Path, fmt: str
) -> None:
    """Without `extends` there is no preset kind to keep; the labels schema says the bound
    column holds labels, so rename and allowed apply instead of passing silently."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nassistant: '{{ fields.label }}'\nfields: {label: category}\n"
        "labels: {allowed: [billing, sales, junk], rename: {spam: junk}}\n"
    )
    conversion = jb.convert(FIXTURES / "email-classification" / fmt, mapping)
    answers = {e.id: e.messages[-1].content for e in conversion}
    assert answers == {"1": "billing", "3": "sales", "4": "junk"}
    assert {r.id: r.reason for r in conversion.rejects} == {"2": "label", "5": "label"}
