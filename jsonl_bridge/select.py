"""Annotator selection: which annotation of a task becomes the training example (DESIGN §11).

Selection compares *rendered outputs*, not raw regions, so two annotators who picked the same
label agree even when their region ids or timestamps differ. Nothing is chosen silently: when
the policy cannot decide, the task is rejected with the annotators and their answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import NamedTuple

import msgspec

from jsonl_bridge.chat import Message, TextPart
from jsonl_bridge.errors import (
    DisagreementError,
    EmptyAnswerError,
    RecordError,
    UnorderedError,
)
from jsonl_bridge.records import Annotation, Record

Render = Callable[[Record, Annotation], list[Message]]

_ANNOTATOR = re.compile(r"annotator:(.+)")


class NoGroundTruthError(RecordError):
    """`select: ground_truth` on a task where nobody marked a ground truth."""

    reason = "no_ground_truth"


class Selection(NamedTuple):
    """What selection decided for one task: messages, or nothing to select from (a named
    tuple: made for every task, it costs a quarter of a frozen dataclass)."""

    messages: list[Message] | None
    annotation: Annotation | None


def candidates(record: Record, policy: str, include_predictions: bool) -> list[Annotation]:
    """The annotations that may count: never cancelled, predictions only when asked."""
    pool = [
        a
        for a in record.annotations
        if not a.cancelled and (a.kind == "annotation" or include_predictions)
    ]
    wanted = _ANNOTATOR.fullmatch(policy) if policy.startswith("annotator:") else None
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
    if policy in ("first", "latest") or (
        policy.startswith("annotator:") and _ANNOTATOR.fullmatch(policy)
    ):
        ordered = sorted(pool, key=_chronological)
        if policy == "latest":
            ordered.reverse()
        chosen = ordered[0]
        runner_up = ordered[1] if len(ordered) > 1 else None
        if runner_up is not None and _chronological(chosen) == _chronological(runner_up):
            raise UnorderedError(
                f"select: {policy} cannot tell which annotation came {policy}: they have "
                f"neither times nor ids (annotators {chosen.annotator}, "
                f"{runner_up.annotator}); choose annotator:<name>, majority or auto",
                annotators=[a.annotator or "?" for a in (chosen, runner_up)],
            )
        return Selection(render(record, chosen), chosen)
    if policy == "majority":
        return _agreeing(record, pool, render, majority=True)
    truths = [a for a in pool if a.ground_truth]
    return _agreeing(record, truths or pool, render, majority=True)


def _chronological(annotation: Annotation) -> tuple[int, datetime, int, int, str]:
    """created_at as an instant (missing last), then the id (numerically when a number).

    Never file order, which differs between export formats; never the raw string, which
    sorts `10:00:00.5Z` after `12:00:00+02:00`.
    """
    ident = annotation.id or ""
    when = _instant(annotation.created_at)
    if ident.isdigit():
        return (when is None, when or _EPOCH, 0, int(ident), ident)
    return (when is None, when or _EPOCH, 1, 0, ident)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


_UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{6})?Z", re.ASCII)
"""The spelling Label Studio writes (`2024-06-10T11:41:24.136550Z`), which every Python
version we support parses itself once `Z` is spelled `+00:00`: a third of `_parsed`'s time."""


def _instant(stamp: str | None) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 stamp, in any of the spellings exports use
    (`Z`, `+0000`, 1-9 fraction digits), the same on every Python version we support."""
    if stamp and _UTC_STAMP.fullmatch(stamp):
        try:
            return datetime.fromisoformat(stamp[:-1] + "+00:00")
        except ValueError:  # e.g. month 13
            return None
    return _parsed(stamp)


def _parsed(stamp: str | None) -> datetime | None:
    """`_instant` for every spelling."""
    match = _STAMP.fullmatch(stamp.strip()) if stamp else None
    if match is None:
        return None
    day, minutes, seconds, fraction, offset = match.groups()
    text = f"{day}T{minutes or '00:00'}{seconds or ':00'}"
    if fraction:
        text += "." + fraction[:6].ljust(6, "0")
    if offset and offset.upper() != "Z":
        text += f"{offset[:3]}:{offset[-2:]}" if len(offset) > 3 else f"{offset}:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # e.g. month 13
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _agreeing(record: Record, pool: list[Annotation], render: Render, majority: bool) -> Selection:
    """All renderings equal, else (when allowed) a strict majority, else a disagreement.

    Candidates are taken in chronological order so that the disagreement detail reads the
    same whatever order the export format lists annotations in. An annotation left with no
    answer (every label dropped) does not vote; the task is `empty` only when none is left.
    """
    rendered = []
    empty: EmptyAnswerError | None = None
    for annotation in _in_order(pool):
        try:
            rendered.append((annotation, render(record, annotation)))
        except EmptyAnswerError as exc:
            empty = exc
    if not rendered:
        assert empty is not None
        raise empty
    first_annotation, first = rendered[0]
    if len(rendered) == 1:
        return Selection(first, first_annotation)
    if len(rendered) == 2:  # the usual pair: agree, or neither is a strict majority
        if _same(first, rendered[1][1]):
            return Selection(first, first_annotation)
        raise _disagreement(rendered)
    if all(messages is first for _, messages in rendered):  # equal answers render once
        return Selection(first, first_annotation)
    largest = max(_equal_groups([messages for _, messages in rendered]), key=len)
    if len(largest) == len(rendered) or (majority and len(largest) * 2 > len(rendered)):
        annotation, messages = rendered[largest[0]]
        return Selection(messages, annotation)
    raise _disagreement(rendered)


def _in_order(pool: list[Annotation]) -> list[Annotation]:
    """`sorted(pool, key=_chronological)`, without sorting machinery for one or two."""
    if len(pool) == 2:
        first, second = pool
        return [second, first] if _chronological(second) < _chronological(first) else pool
    return sorted(pool, key=_chronological) if len(pool) > 2 else pool


def _equal_groups(renderings: list[list[Message]]) -> list[list[int]]:
    """The positions of equal renderings, grouped, groups in order of first appearance (so
    that the first largest group is the one `Counter.most_common(1)` would name)."""
    groups: list[list[int]] = []
    for index, messages in enumerate(renderings):
        for group in groups:
            if _same(renderings[group[0]], messages):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def _same(one: list[Message], other: list[Message]) -> bool:
    """Whether two renderings are the same example: roles and contents equal (parts
    compared as JSON). The renderer hands out the same message objects for equal outputs
    (the system message, a task's user message): those need no comparing."""
    if one is other:
        return True
    if len(one) != len(other):
        return False
    for mine, theirs in zip(one, other, strict=True):
        if mine is not theirs and _message_key(mine) != _message_key(theirs):
            return False
    return True


def _disagreement(rendered: list[tuple[Annotation, list[Message]]]) -> DisagreementError:
    """The annotators and their answers, in chronological order; an annotator who answered
    twice is told apart by annotation id (or position)."""
    names = [_who(a) for a, _ in rendered]
    if len(set(names)) == len(names):
        answers = {name: _answer(m) for name, (_, m) in zip(names, rendered, strict=True)}
    else:
        answers = {
            f"{name} (annotation {a.id or index + 1})" if names.count(name) > 1 else name: (
                _answer(m)
            )
            for index, (name, (a, m)) in enumerate(zip(names, rendered, strict=True))
        }
    summary = "; ".join([f"{who}: {answer!r}" for who, answer in answers.items()])
    return DisagreementError(
        f"annotators disagree ({summary})",
        detail={"answers": answers},
        annotators=list(dict.fromkeys(names)),
    )


def _message_key(message: Message) -> tuple[str, str | bytes]:
    content = message.content
    return message.role, content if isinstance(content, str) else msgspec.json.encode(content)


def _who(annotation: Annotation) -> str:
    name = annotation.annotator or "?"
    return f"{name} (prediction)" if annotation.kind == "prediction" else name


def _answer(messages: list[Message]) -> str:
    content = messages[-1].content
    if isinstance(content, str):
        return content
    return " ".join(p.text for p in content if isinstance(p, TextPart))
