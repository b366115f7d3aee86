"""`bridge inspect`'s counting, on hand-made records where every number is known."""

from __future__ import annotations

from jsonl_bridge.records import Annotation, Choice, Record, Source, Span
from jsonl_bridge.summary import summarize

SOURCE = Source(tool="t", format="json", file="x.json")


def test_counts_keys_annotators_fields_and_labels() -> None:
    records = [
        Record(
            id=str(i),
            source=SOURCE,
            data={"text": "a long text " * 50, "lang": "de"},
            annotations=[
                Annotation(annotator="1", regions=[Choice(field="c", labels=["x"])]),
                Annotation(annotator="2", cancelled=True),
                Annotation(
                    annotator="m",
                    kind="prediction",
                    regions=[Span(field="s", start=0, end=1, label="PER")],
                ),
            ],
        )
        for i in range(3)
    ]
    records.append(Record(id="9", source=SOURCE, data={"text": "t"}, meta={"prediction_ids": [4]}))
    summary = summarize(records)
    assert summary.tasks == 4
    assert summary.data_keys == {"text": 4, "lang": 3}
    assert summary.annotators == {"1": 3, "2": 3}
    assert (summary.annotations, summary.cancelled, summary.predictions) == (6, 3, 3)
    assert summary.prediction_ids_only == 1
    assert summary.unannotated_tasks == 1
    report = summary.to_json_dict()
    assert report["fields"]["c"] == {"kinds": ["choice"], "regions": 3, "labels": {"x": 3}}
    assert report["fields"]["s"]["labels"] == {"PER": 3}
