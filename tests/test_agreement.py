"""`jsonl_bridge.agreement` on real exports (expectations worked by hand from the answer
keys) and on small records built here for the cases no fixture has."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest

import jsonl_bridge as jb
from jsonl_bridge.errors import UsageError
from jsonl_bridge.records import (
    Annotation,
    Box,
    Choice,
    Number,
    Record,
    Relation,
    Source,
    Text,
)

LS = Path(__file__).parent / "fixtures" / "label-studio"
EMAIL = LS / "email-classification"
CVAT_IMAGES = (
    Path(__file__).parent
    / "fixtures"
    / "cvat"
    / "datumaro_1.13_exports"
    / "metal_parts_cvat_images"
    / "default.xml"
)


def manifest(project: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((LS / project / "manifest.json").read_text("utf-8"))
    return loaded


def choices_by_task(project: str, field: str) -> dict[str, dict[str, str]]:
    """From the answer key: task id → user id → chosen label, without cancelled annotations."""
    answers: dict[str, dict[str, str]] = {}
    for task in manifest(project)["tasks"].values():
        for annotation in task["annotations"]:
            if annotation["was_cancelled"]:
                continue
            for result in annotation["raw"]:
                if result["from_name"] == field:
                    (label,) = result["value"]["choices"]
                    answers.setdefault(str(task["task_id"]), {})[str(annotation["user_id"])] = label
    return answers


# email-classification by hand from MANIFEST.md (users 1, 2, 3; e4/ben cancelled, e5's
# prediction not counted): e1 billing×3; e2 tech, tech, other; e3 sales, sales, billing;
# e4 spam, spam; e5 billing, other.
#   P̄ = (1 + 1/3 + 1/3 + 1 + 0) / 5 = 8/15.
#   α nominal: 13 pairable values, coincidences on the diagonal 3+1+1+2 = 7, off it 6;
#   totals billing 5, the other four labels 2 each: α = 1 − 12·6 / (13² − (25+4·4)) = 7/16.
#   Cohen 1×2 (e1-e5): po 4/5, pe (2·1 + 1 + 1 + 1)/25 = 1/5 → κ = 3/4.
#   Cohen 1×3 and 2×3 (e1-e3): po 1/3, pe 2/9 → κ = 1/7.
EMAIL_ALPHA = 7 / 16
EMAIL_PERCENT = 8 / 15


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("export.json", {}),
        ("export_min.json", {"label_config": str(EMAIL / "config.xml")}),
        ("export.csv", {"label_config": str(EMAIL / "config.xml")}),
    ],
)
def test_email_classification_from_every_format(name: str, options: dict[str, str]) -> None:
    report = jb.agreement(jb.read(EMAIL / name, options=options))
    category = report.fields["category"]
    assert category.kind == "categorical"
    assert category.headline == "krippendorff_alpha"
    assert category.n_items == 5
    assert category.annotators == ["1", "2", "3"]
    assert category.metrics["krippendorff_alpha"] == pytest.approx(EMAIL_ALPHA)
    assert category.metrics["percent_agreement"] == pytest.approx(EMAIL_PERCENT)
    assert category.metrics["fleiss_kappa"] is None
    assert "2 to 3 annotators" in category.undefined["fleiss_kappa"]
    assert category.metrics["cohen_kappa"] is None
    pairs = {p.annotators: (p.n_items, p.metrics) for p in category.pairs}
    assert pairs[("1", "2")][0] == 5
    assert pairs[("1", "2")][1]["cohen_kappa"] == pytest.approx(0.75)
    assert pairs[("1", "2")][1]["percent_agreement"] == pytest.approx(0.8)
    assert pairs[("1", "3")][1]["cohen_kappa"] == pytest.approx(1 / 7)
    assert pairs[("2", "3")][0] == 3
    assert not report.passed(0.8)
    assert report.passed(0.4)


def test_email_disagreements_carry_each_annotators_answer_from_the_manifest() -> None:
    report = jb.agreement(jb.read(EMAIL / "export.json"))
    expected = {
        task: users
        for task, users in choices_by_task("email-classification", "category").items()
        if len(users) >= 2 and len(set(users.values())) > 1
    }
    found = {d.id: d.answers for d in report.fields["category"].disagreements}
    assert found == expected
    assert sorted(found) == ["2", "3", "5"]


def test_email_coincidence_table() -> None:
    confusion = jb.agreement(jb.read(EMAIL / "export.json")).fields["category"].confusion
    assert confusion is not None
    assert confusion.labels == ["billing", "other", "sales", "spam", "technical_support"]
    assert confusion.matrix == [
        [3, 1, 1, 0, 0],
        [1, 0, 0, 0, 1],
        [1, 0, 1, 0, 0],
        [0, 0, 0, 2, 0],
        [0, 1, 0, 0, 1],
    ]


def test_ner_spans_exact_and_overlap_f1() -> None:
    """n1: admin and anna agree on 3 of 4 spans exactly ("3 May 2019" vs "May 2019"
    overlap); n2: 3 of 3. Exact F1 = 2·6 / 14, overlap F1 = 2·7 / 14. Relations are
    not measured."""
    report = jb.agreement(jb.read(LS / "ner-spans" / "export.json"))
    spans = report.fields["label"]
    assert (spans.kind, spans.n_items, spans.annotators) == ("spans", 2, ["1", "2"])
    assert spans.metrics["f1"] == pytest.approx(12 / 14)
    assert spans.metrics["f1_overlap"] == pytest.approx(1.0)
    assert [d.id for d in spans.disagreements] == ["22"]
    assert "relations" in report.skipped
    assert report.passed(0.8)


def test_qc_defect_boxes_matched_by_iou() -> None:
    """From MANIFEST.md, admin (1) vs ben (3), boxes in pixels:
    q1 scratch IoU 4800/6800, dent 3000/3456, ben's extra paint_chip box unmatched;
    q2 scratch 5000/6682; the dent rotated 45° (envelope 260.5..359.5 × 95..194) against
    ben's (300..380 × 100..170) has IoU ≈ 0.37 < 0.5. F1 = 2·3 / 9."""
    report = jb.agreement(jb.read(LS / "qc-defects" / "export.json"))
    boxes = report.fields["defect"]
    assert (boxes.kind, boxes.n_items) == ("regions", 2)
    assert boxes.headline == "labeled_f1"
    assert boxes.metrics["labeled_f1"] == pytest.approx(6 / 9)  # every pair is dent-dent or
    assert boxes.metrics["f1"] == pytest.approx(6 / 9)  # scratch-scratch
    assert boxes.metrics["label_agreement"] == 1.0
    ious = [4800 / 6800, 3000 / 3456, 5000 / 6682]
    assert boxes.metrics["mean_iou"] == pytest.approx(sum(ious) / 3, rel=1e-4)
    assert report.skipped["defect_poly"] == "no item was answered by two annotators"
    lenient = jb.agreement(jb.read(LS / "qc-defects" / "export.json"), iou_threshold=0.3)
    assert lenient.fields["defect"].metrics["f1"] == pytest.approx(8 / 9)
    assert lenient.fields["defect"].metrics["labeled_f1"] == pytest.approx(8 / 9)  # dent, dent


def test_boxes_in_the_same_place_with_different_labels_fail_the_gate() -> None:
    """Two annotators draw the same boxes; on item 2 one calls it a scratch, the other a dent.
    Label-blind F1 is 2·2/4 = 1; label-aware F1 pairs only item 1: 2·1/4 = 0.5."""

    def box(label: str) -> Box:
        return Box(field="defect", label=label, x=10, y=10, w=20, h=20)

    records = [
        record("1", by("a", box("scratch")), by("b", box("scratch"))),
        record("2", by("a", box("scratch")), by("b", box("dent"))),
    ]
    boxes = jb.agreement(records).fields["defect"]
    assert boxes.metrics["f1"] == 1.0
    assert boxes.metrics["label_agreement"] == 0.5
    assert boxes.metrics["labeled_f1"] == 0.5
    assert boxes.value == 0.5
    assert not boxes.passed(0.8)
    assert [d.id for d in boxes.disagreements] == ["2"]
    (pair,) = boxes.pairs
    assert pair.metrics["labeled_f1"] == 0.5


@pytest.mark.parametrize(("project", "field"), [("dialogue", "reply"), ("cad-code", "code")])
def test_free_text_similarity(project: str, field: str) -> None:
    (texts,) = [
        [r["value"]["text"][0] for a in task["annotations"] for r in a["raw"]]
        for task in manifest(project)["tasks"].values()
        if len(task["annotations"]) == 2
    ]
    fold = [" ".join(t.casefold().split()) for t in texts]
    expected = difflib.SequenceMatcher(None, *fold, autojunk=False).ratio()
    text = jb.agreement(jb.read(LS / project / "export.json")).fields[field]
    assert (text.kind, text.headline, text.n_items) == ("text", "similarity", 1)
    assert text.metrics["exact_match"] == 0.0
    assert text.metrics["similarity"] == pytest.approx(expected)
    assert list(text.disagreements[0].answers.values()) == texts


def test_a_single_annotator_export_has_nothing_to_measure() -> None:
    """CVAT exports carry one annotation per image; Label Studio summarization has one
    annotator per task."""
    for source in (CVAT_IMAGES, LS / "summarization" / "export.json"):
        report = jb.agreement(jb.read(source))
        assert report.fields == {}
        assert report.skipped
        assert not report.passed()


def test_field_filter_and_unknown_field() -> None:
    report = jb.agreement(jb.read(LS / "ner-spans" / "export.json"), field="label")
    assert list(report.fields) == ["label"]
    assert report.skipped == {}
    with pytest.raises(UsageError, match=r"'lable'.*fields: label, relations"):
        jb.agreement(jb.read(LS / "ner-spans" / "export.json"), field="lable")
    with pytest.raises(UsageError, match=r"did you mean 'label'\?"):
        jb.agreement(jb.read(LS / "ner-spans" / "export.json"), field="lable")
    with pytest.raises(UsageError) as far:
        jb.agreement(jb.read(LS / "ner-spans" / "export.json"), field="category")
    assert "did you mean" not in str(far.value)


def test_each_pair_has_its_own_confusion_table() -> None:
    """By hand from MANIFEST.md (users 1, 2, 3): 1×2 on e1-e5 said billing/billing,
    tech/tech, sales/sales, spam/spam, billing/other; 1×3 on e1-e3 billing/billing,
    tech/other, sales/billing. Rows are what the first annotator said."""
    pairs = {
        p.annotators: p
        for p in jb.agreement(jb.read(EMAIL / "export.json")).fields["category"].pairs
    }
    one_two = pairs[("1", "2")].confusion
    assert one_two is not None
    assert one_two.labels == ["billing", "other", "sales", "spam", "technical_support"]
    assert one_two.matrix == [
        [1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1],
    ]
    one_three = pairs[("1", "3")].confusion
    assert one_three is not None
    assert one_three.labels == ["billing", "other", "sales", "technical_support"]
    assert one_three.matrix == [[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    as_json = pairs[("1", "3")].to_json_dict()["confusion"]
    assert as_json == {"labels": one_three.labels, "matrix": one_three.matrix}


def test_pairs_of_other_kinds_have_no_confusion_table() -> None:
    (pair,) = jb.agreement(jb.read(LS / "ner-spans" / "export.json")).fields["label"].pairs
    assert pair.confusion is None
    assert "confusion" not in pair.to_json_dict()


# Records built here: numbers, user names, missing answers, multi-label, predictions.

SOURCE = Source(tool="test", format="jsonl", file="made.jsonl", line=1)


def record(task: str, *annotations: Annotation) -> Record:
    return Record(id=task, source=SOURCE, annotations=list(annotations))


def by(user: str | None, *regions: Any, **flags: Any) -> Annotation:
    return Annotation(annotator=user, regions=list(regions), **flags)


def test_doccano_style_users_and_empty_answers() -> None:
    """Per-user files list every example; a user who did not label it has no regions there,
    which is a missing answer, not a disagreement."""
    records = [
        record("1", by("anna", Choice(field="label", labels=["A"])), by("ben"), by("admin")),
        record(
            "2",
            by("anna", Choice(field="label", labels=["A", "B"])),
            by("ben", Choice(field="label", labels=["B", "A"])),
        ),
        record(
            "3",
            by("anna", Choice(field="label", labels=["B"])),
            by("ben", Choice(field="label", labels=["B"])),
        ),
        record(
            "4",
            by("anna", Choice(field="label", labels=["A"])),
            by("ben", Choice(field="label", labels=["B"])),
        ),
    ]
    label = jb.agreement(records).fields["label"]
    assert label.n_items == 3
    assert label.annotators == ["anna", "ben"]
    assert label.metrics["percent_agreement"] == pytest.approx(2 / 3)  # {A,B} = {B,A}
    # By hand over items 2-4 (values AB, B, A): anna AB, B, A; ben AB, B, B.
    # Cohen: po = 2/3; pe = (AB 1·1 + B 1·2 + A 1·0) / 9 = 1/3; κ = (2/3 − 1/3) / (2/3) = 1/2.
    # Fleiss: P̄ = 2/3; shares of the 6 ratings AB 2/6, B 3/6, A 1/6, P̄e = 14/36 = 7/18;
    #   κ = (2/3 − 7/18) / (11/18) = 5/11 = 10/22.
    # Krippendorff: coincidences AB-AB 2, B-B 2, A-B 1, B-A 1; n = 6, margins 2, 3, 1:
    #   α = 1 − 5 · 2 / (36 − 4 − 9 − 1) = 1 − 10/22 = 6/11.
    assert label.metrics["cohen_kappa"] == pytest.approx(0.5)
    assert label.metrics["fleiss_kappa"] == pytest.approx(10 / 22)
    assert label.metrics["krippendorff_alpha"] == pytest.approx(6 / 11)
    assert [d.answers for d in label.disagreements] == [{"anna": "A", "ben": "B"}]


def test_answers_without_an_annotator_name_are_named_as_the_reason() -> None:
    """A tool that merges its annotators writes one nameless annotation per task."""
    records = [record(t, by(None, Choice(field="c", labels=["x", "y"]))) for t in "12"]
    report = jb.agreement(records)
    assert report.fields == {}
    reason = report.skipped["c"]
    assert reason.startswith("no item was answered by two annotators")
    assert "the annotations of 2 tasks carry no annotator name" in reason
    assert "doccano" not in reason  # the doccano advice is for doccano exports only
    named = jb.agreement([record("1", by("a", Choice(field="c", labels=["x"])))])
    assert named.skipped == {"c": "no item was answered by two annotators"}


def test_cancelled_annotations_and_predictions_do_not_count() -> None:
    records = [
        record(
            "1",
            by("1", Number(field="n", value=3)),
            by("2", Number(field="n", value=9), cancelled=True),
            by("model", Number(field="n", value=7), kind="prediction"),
        )
    ]
    report = jb.agreement(records)
    assert report.fields == {}
    assert report.skipped == {"n": "no item was answered by two annotators"}


def test_everyone_always_agreeing_on_one_label_is_undefined_and_fails() -> None:
    records = [
        record(
            t, by("a", Choice(field="c", labels=["x"])), by("b", Choice(field="c", labels=["x"]))
        )
        for t in "123"
    ]
    c = jb.agreement(records).fields["c"]
    assert c.metrics["percent_agreement"] == 1.0
    assert c.metrics["krippendorff_alpha"] is None
    assert "every value is the same" in c.undefined["krippendorff_alpha"]
    assert c.metrics["cohen_kappa"] is None
    assert not c.passed(0.8)
    assert json.loads(json.dumps(c.to_json_dict(0.8)))["metrics"]["krippendorff_alpha"] is None


def test_the_same_annotator_twice_on_a_task_counts_twice() -> None:
    records = [
        record("1", by("a", Text(field="t", value="x")), by("a", Text(field="t", value="y")))
    ]
    text = jb.agreement(records).fields["t"]
    assert text.annotators == ["a", "a#2"]


def test_a_field_with_two_kinds_is_measured_per_kind() -> None:
    records = [
        record(
            "1",
            by("a", Choice(field="f", labels=["x"]), Box(field="f", label="x", x=0, y=0, w=1, h=1)),
            by("b", Choice(field="f", labels=["x"]), Box(field="f", label="x", x=0, y=0, w=1, h=1)),
        )
    ]
    assert sorted(jb.agreement(records).fields) == ["f:categorical", "f:regions"]


def test_relations_are_listed_as_not_measured() -> None:
    relation = Relation(field="rel", from_id="a", to_id="b")
    report = jb.agreement([record("1", by("a", relation), by("b", relation))])
    assert report.skipped == {"rel": "relation regions have no agreement measure"}


def test_an_iou_threshold_outside_zero_one_is_refused() -> None:
    with pytest.raises(UsageError, match="IoU threshold"):
        jb.agreement([], iou_threshold=0)


def test_the_public_function_survives_importing_its_module() -> None:
    """A submodule named like the function would shadow it once imported (the CLI does)."""
    import jsonl_bridge._agreement
    import jsonl_bridge.cli  # noqa: F401

    assert callable(jb.agreement)
    assert jb.AgreementReport.__name__ == "AgreementReport"
