"""Annotator selection (DESIGN §11), with a stand-in renderer that echoes the chosen label."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonl_bridge.chat import Message
from jsonl_bridge.errors import DisagreementError, EmptyAnswerError, UnorderedError
from jsonl_bridge.records import Annotation, Choice, Record, Source
from jsonl_bridge.select import NoGroundTruthError, candidates, select

SOURCE = Source(tool="test", format="json", file="export.json", pointer="/[0]")


def ann(ident: str, who: str, label: str, **kw: object) -> Annotation:
    regions = [Choice(field="category", labels=[label])]
    return Annotation(id=ident, annotator=who, regions=regions, **kw)  # type: ignore[arg-type]


def render(record: Record, annotation: Annotation) -> list[Message]:
    region = annotation.regions[0]
    assert isinstance(region, Choice)
    return [
        Message(role="user", content=record.data["text"]),
        Message(role="assistant", content=region.labels[0]),
    ]


def record(*annotations: Annotation) -> Record:
    return Record(id="7", source=SOURCE, data={"text": "hi"}, annotations=list(annotations))


def choose(rec: Record, policy: str = "auto", predictions: bool = False) -> str | None:
    chosen = select(rec, candidates(rec, policy, predictions), policy, render)
    if chosen.messages is None:
        return None
    content = chosen.messages[-1].content
    assert isinstance(content, str)
    return content


def test_ground_truth_wins_over_a_majority() -> None:
    rec = record(
        ann("1", "1", "billing", ground_truth=True), ann("2", "2", "other"), ann("3", "3", "other")
    )
    assert choose(rec) == "billing"


def test_unanimous_and_strict_majority() -> None:
    assert choose(record(ann("1", "1", "spam"), ann("2", "2", "spam"))) == "spam"
    rec = record(ann("1", "1", "tech"), ann("2", "2", "tech"), ann("3", "3", "other"))
    assert choose(rec) == "tech"


def test_even_split_is_a_disagreement_naming_annotators_and_answers() -> None:
    rec = record(ann("13", "1", "billing"), ann("14", "2", "other"))
    with pytest.raises(DisagreementError) as info:
        choose(rec)
    assert info.value.reason == "disagreement"
    assert info.value.annotators == ["1", "2"]
    assert info.value.detail == {"answers": {"1": "billing", "2": "other"}}
    assert "'billing'" in info.value.message and "'other'" in info.value.message


def test_two_annotations_by_one_person_both_appear_in_the_disagreement() -> None:
    """Label Studio lets one user submit twice; keying the detail by name alone hid one."""
    rec = record(ann("13", "1", "billing"), ann("14", "1", "other"))
    with pytest.raises(DisagreementError) as info:
        choose(rec)
    assert info.value.annotators == ["1"]
    assert info.value.detail == {
        "answers": {"1 (annotation 13)": "billing", "1 (annotation 14)": "other"}
    }


def test_cancelled_annotations_never_count() -> None:
    rec = record(ann("1", "1", "spam"), ann("2", "2", "other", cancelled=True))
    assert choose(rec) == "spam"
    assert choose(record(ann("2", "2", "other", cancelled=True))) is None


def test_predictions_only_when_asked() -> None:
    pred = ann("p", "model-v1", "billing", kind="prediction")
    rec = record(ann("1", "1", "billing"), ann("2", "2", "other"), pred)
    with pytest.raises(DisagreementError):
        choose(rec)
    assert choose(rec, predictions=True) == "billing"
    assert choose(record(pred)) is None


def test_first_and_latest_use_created_at_then_id_never_file_order() -> None:
    late = ann("5", "1", "late", created_at="2026-01-02T00:00:00Z")
    early = ann("9", "2", "early", created_at="2026-01-01T00:00:00Z")
    rec = record(late, early)
    assert choose(rec, "first") == "early"
    assert choose(rec, "latest") == "late"
    same_time = record(ann("10", "1", "ten"), ann("9", "2", "nine"))
    assert choose(same_time, "first") == "nine"  # 9 < 10 numerically, not as text


def test_first_and_latest_refuse_to_guess_without_times_or_ids() -> None:
    """doccano keeps neither: picking by file or user-name order would be a silent choice
    (DESIGN §11). One candidate, or a time or id that tells them apart, is fine."""
    anna = Annotation(annotator="anna", regions=[Choice(field="category", labels=["a"])])
    ben = Annotation(annotator="ben", regions=[Choice(field="category", labels=["b"])])
    for policy in ("first", "latest"):
        with pytest.raises(UnorderedError, match=f"select: {policy} cannot tell") as caught:
            choose(record(anna, ben), policy)
        assert sorted(caught.value.annotators) == ["anna", "ben"]
        assert choose(record(ben), policy) == "b"
    dated = msgspec.structs.replace(anna, created_at="2026-01-01T00:00:00Z")
    assert choose(record(dated, ben), "first") == "a"  # undated sorts last
    assert choose(record(dated, ben), "latest") == "b"


def test_majority_tie_rejects() -> None:
    rec = record(ann("1", "1", "a"), ann("2", "2", "a"), ann("3", "3", "b"), ann("4", "4", "b"))
    with pytest.raises(DisagreementError):
        choose(rec, "majority")


def test_ground_truth_policy_without_one_is_rejected() -> None:
    with pytest.raises(NoGroundTruthError):
        choose(record(ann("1", "1", "a")), "ground_truth")


def test_annotator_policy_picks_that_person_or_counts_unannotated() -> None:
    rec = record(ann("1", "1", "a"), ann("2", "anna", "b"))
    assert choose(rec, "annotator:anna") == "b"
    assert choose(rec, "annotator:nobody") is None


def test_first_and_latest_compare_instants_not_strings() -> None:
    rec = record(
        ann("1", "1", "earlier", created_at="2026-01-01T10:00:00.500000Z"),
        ann("2", "2", "later", created_at="2026-01-01T10:00:01Z"),
        ann("3", "3", "earliest_tz", created_at="2026-01-01T12:00:00+02:00"),
        ann("4", "4", "undated"),
    )
    assert choose(rec, "first") == "earliest_tz"
    assert choose(rec, "latest") == "undated"  # missing stamps sort last
    dated = record(*rec.annotations[:3])
    assert choose(dated, "latest") == "later"


def empty_for(labels: set[str]):  # type: ignore[no-untyped-def]
    """A renderer that finds no answer left for the given labels (as `unknown: drop` does)."""

    def rendering(rec: Record, annotation: Annotation) -> list[Message]:
        region = annotation.regions[0]
        assert isinstance(region, Choice)
        if region.labels[0] in labels:
            raise EmptyAnswerError("every label was dropped")
        return render(rec, annotation)

    return rendering


def test_an_annotation_left_empty_does_not_vote() -> None:
    rec = record(ann("1", "1", "tech"), ann("2", "2", "tech"), ann("3", "3", "other"))
    chosen = select(rec, list(rec.annotations), "auto", empty_for({"other"}))
    assert chosen.messages is not None and chosen.messages[-1].content == "tech"
    with pytest.raises(EmptyAnswerError):
        select(rec, list(rec.annotations), "auto", empty_for({"tech", "other"}))


@given(
    when=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(None)
    ),
    offset_minutes=st.integers(-14 * 60, 14 * 60).map(lambda m: m - m % 15),
    spelling=st.sampled_from(["colon", "compact", "zulu"]),
    digits=st.integers(0, 9),
)
def test_timestamps_parse_in_every_spelling_exports_use(
    when: datetime, offset_minutes: int, spelling: str, digits: int
) -> None:
    """`Z`, `+02:00`, `+0200`, 0-9 fraction digits: the same instant on Python 3.10 and later."""
    from jsonl_bridge.select import _instant

    offset = timedelta(minutes=0 if spelling == "zulu" else offset_minutes)
    sign, total = ("-", -offset_minutes) if offset_minutes < 0 else ("+", offset_minutes)
    zone = {
        "zulu": "Z",
        "colon": f"{sign}{total // 60:02d}:{total % 60:02d}",
        "compact": f"{sign}{total // 60:02d}{total % 60:02d}",
    }[spelling]
    fraction = f"{when.microsecond:06d}{'000'}"[:digits]
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + zone
    expected = when.replace(
        microsecond=int(fraction.ljust(6, "0")[:6]) if digits else 0, tzinfo=timezone(offset)
    )
    assert _instant(stamp) == expected
    assert _instant(stamp.replace("T", " ")) == expected


def test_a_stamp_that_is_not_a_date_sorts_as_undated() -> None:
    from jsonl_bridge.select import _instant

    assert _instant("yesterday") is None
    assert _instant("2026-13-01T00:00:00Z") is None
    assert _instant("2026-01-01") == datetime(2026, 1, 1, tzinfo=timezone.utc)


@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(None)
    ),
    fraction=st.booleans(),
)
def test_label_studio_stamps_take_a_shortcut_to_the_same_instant(
    when: datetime, fraction: bool
) -> None:
    from jsonl_bridge.select import _instant, _parsed

    stamp = when.isoformat(timespec="microseconds" if fraction else "seconds") + "Z"
    expected = when.replace(microsecond=when.microsecond if fraction else 0, tzinfo=timezone.utc)
    assert _instant(stamp) == _parsed(stamp) == expected
    assert _instant("2026-02-30T00:00:00Z") is _parsed("2026-02-30T00:00:00Z") is None


def model_agreeing(rec: Record, pool: list[Annotation], majority: bool) -> tuple[str, str]:
    """DESIGN §11 spelled out plainly: chronological order, equal answers agree, else a
    strict majority (when allowed), else a disagreement listing every answer in order."""
    from jsonl_bridge.select import _chronological

    ordered = sorted(pool, key=_chronological)
    answers = [(a, a.regions[0].labels[0]) for a in ordered]  # type: ignore[union-attr]
    labels = [label for _, label in answers]
    for label in dict.fromkeys(labels):
        votes = labels.count(label)
        if votes == len(labels) or (majority and votes * 2 > len(labels)):
            winner = next(a for a, mine in answers if mine == label)
            return "chosen", f"{winner.id}:{label}"
    return "disagreement", "; ".join(f"{a.annotator}: {label!r}" for a, label in answers)


STAMPS = st.sampled_from(
    [None, "2024-06-10T11:41:24.136550Z", "2024-06-10T11:41:24.136549Z", "2024-06-10T11:41:24Z",
     "2024-06-10T13:41:24+02:00", "2024-13-10T11:41:24.136550Z", "yesterday"]
)  # fmt: skip


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), STAMPS, st.sampled_from(["1", "2", "x"])),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
    st.sampled_from(["auto", "majority"]),
)
def test_agreement_is_decided_on_rendered_answers_in_chronological_order(
    votes: list[tuple[str, str | None, str]], shared: bool, policy: str
) -> None:
    """Any pool of 1-4 answers, stamps in any spelling (or none, or invalid), renderings
    that are the same objects for equal answers (as the renderer's) or fresh ones: the
    choice, or the disagreement's detail, follows the plain rule."""
    pool = [
        ann(f"{n}{suffix}", f"user{n}", label, created_at=stamp)
        for n, (label, stamp, suffix) in enumerate(votes)
    ]
    rec = record(*pool)
    made: dict[str, list[Message]] = {}

    def rendering(rec: Record, annotation: Annotation) -> list[Message]:
        messages = render(rec, annotation)
        return made.setdefault(str(messages[-1].content), messages) if shared else messages

    expected = model_agreeing(rec, pool, majority=True)
    try:
        chosen = select(rec, pool, policy, rendering)
    except DisagreementError as exc:
        assert ("disagreement", exc.message) == (
            expected[0],
            f"annotators disagree ({expected[1]})",
        )
    else:
        assert chosen.annotation is not None and chosen.messages is not None
        got = f"{chosen.annotation.id}:{chosen.messages[-1].content}"
        assert ("chosen", got) == expected
