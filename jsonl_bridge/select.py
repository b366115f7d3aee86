"""Annotator selection: which annotation of a task becomes the training example (DESIGN §11).

Selection compares *rendered outputs*, not raw regions, so two annotators who picked the same
label agree even when their region ids or timestamps differ. Nothing is chosen silently: when
the policy cannot decide, the task is rejected with the annotators and their answers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from jsonl_bridge.chat import Message
from jsonl_bridge.errors import DisagreementError, RecordError, UsageError
from jsonl_bridge.records import Annotation, Record

Render = Callable[[Record, Annotation], list[Message]]

POLICIES = ("auto", "ground_truth", "first", "latest", "majority")
_ANNOTATOR = re.compile(r"annotator:(.+)")


class NoGroundTruthError(RecordError):
    """`select: ground_truth` on a task where nobody marked a ground truth."""

    reason = "no_ground_truth"


@dataclass(frozen=True)
class Selection:
    """What selection decided for one task: messages, or nothing to select from."""

    messages: list[Message] | None
    annotation: Annotation | None


def check_policy(policy: str) -> None:
    """Refuse an unknown policy up front, before any task is read."""
    if policy not in POLICIES and not _ANNOTATOR.fullmatch(policy):
        choices = ", ".join([*POLICIES, "annotator:<id>"])
        raise UsageError(f"unknown select policy {policy!r} (choose from {choices})")


def candidates(record: Record, policy: str, include_predictions: bool) -> list[Annotation]:
    """The annotations that may count: never cancelled, predictions only when asked."""
    pool = [
        a
        for a in record.annotations
        if not a.cancelled and (a.kind == "annotation" or include_predictions)
    ]
    wanted = _ANNOTATOR.fullmatch(policy)
    if wanted:
        pool = [a for a in pool if a.annotator == wanted.group(1)]
    return pool


def select(record: Record, pool: list[Annotation], policy: str, render: Render) -> Selection:
    """Apply `policy` to the candidate annotations of `record` and render the winner."""
    if not pool:
        return Selection(None, None)
    if policy == "ground_truth":
        truths = [a for a in pool if a.ground_truth]
        if not truths:
            raise NoGroundTruthError("no annotation is marked as ground truth")
        return _agreeing(record, truths, render, majority=False)
    if policy in ("first", "latest") or _ANNOTATOR.fullmatch(policy):
        ordered = sorted(pool, key=_chronological)
        chosen = ordered[0] if policy == "first" else ordered[-1]
        return Selection(render(record, chosen), chosen)
    if policy == "majority":
        return _agreeing(record, pool, render, majority=True)
    truths = [a for a in pool if a.ground_truth]
    return _agreeing(record, truths or pool, render, majority=True)


def _chronological(annotation: Annotation) -> tuple[str, int, int, str]:
    """created_at, then the annotation id (numerically when it is a number), never file order."""
    ident = annotation.id or ""
    return (
        annotation.created_at or "",
        0 if ident.isdigit() else 1,
        int(ident) if ident.isdigit() else 0,
        ident,
    )


def _agreeing(record: Record, pool: list[Annotation], render: Render, majority: bool) -> Selection:
    """All renderings equal, else (when allowed) a strict majority, else a disagreement.

    Candidates are taken in chronological order so that the disagreement detail reads the
    same whatever order the export format lists annotations in.
    """
    rendered = [(a, render(record, a)) for a in sorted(pool, key=_chronological)]
    keys = [_key(messages) for _, messages in rendered]
    counts = Counter(keys)
    best, votes = counts.most_common(1)[0]
    tied = sum(1 for n in counts.values() if n == votes) > 1
    if votes == len(keys) or (majority and votes * 2 > len(keys) and not tied):
        annotation, messages = rendered[keys.index(best)]
        return Selection(messages, annotation)
    answers = {_who(a): _answer(m) for a, m in rendered}
    summary = "; ".join(f"{who}: {answer!r}" for who, answer in answers.items())
    raise DisagreementError(
        f"annotators disagree ({summary})",
        detail={"answers": answers},
        annotators=[_who(a) for a, _ in rendered],
    )


def _key(messages: list[Message]) -> str:
    return json.dumps([m.model_dump(mode="json") for m in messages], ensure_ascii=False)


def _who(annotation: Annotation) -> str:
    name = annotation.annotator or "?"
    return f"{name} (prediction)" if annotation.kind == "prediction" else name


def _answer(messages: list[Message]) -> str:
    content = messages[-1].content
    if isinstance(content, str):
        return content
    return " ".join(p.text for p in content if p.type == "text")
