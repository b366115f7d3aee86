"""Check chat JSON Lines files, whoever wrote them: `bridge validate`, `jsonl_bridge.validate`.

(The module is not called `validate`: a submodule of that name would replace the function
`jsonl_bridge.validate` as an attribute of the package once imported.)

Files are read line by line (never whole), each line parsed and checked by the pure
`check_example`; what needs more than one line is kept small: 16 bytes per example (a hash and
where it was, to find duplicates within a file and leaks between the files given together, see
`_validate_duplicates`), label counts (for the skew warning), and per code the first
`FIRST_KEPT` places. Codes are listed in `_validate_codes` and docs/validate.md.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from jsonl_bridge._validate_codes import Coded, Finding
from jsonl_bridge._validate_duplicates import Duplicates
from jsonl_bridge._validate_example import ExampleFacts, check_example, inspect_example
from jsonl_bridge._validate_output import OutputRule, guess_labels
from jsonl_bridge.errors import InputError
from jsonl_bridge.profiles import DEFAULT_PROFILE, Profile, get_profile

if TYPE_CHECKING:
    from jsonl_bridge.mapping import Mapping

__all__ = [
    "ValidationReport",
    "check_example",
    "inspect_example",
    "read_examples",
    "validate",
]

FIRST_KEPT = 10
"""Places kept per code for the report (the count is always complete)."""
SKEW_RATIO = 10
"""W105 when the most frequent label occurs at least this many times as often as the rarest."""
MAX_DISTINCT_LABELS = 10_000
"""Past this many different labels the outputs are free text, not labels: counting stops."""


@dataclass(frozen=True)
class Place:
    """Where a finding is: file and 1-based line (None for a finding about a whole file)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass
class CodeSummary(Coded):
    """How often one code occurred, and its first places."""

    code: str
    count: int = 0
    first: list[Place] = field(default_factory=list)


@dataclass
class FileSummary:
    """Counts of one file: physical lines, examples (lines holding a JSON value), and
    examples without any error."""

    path: str
    lines: int = 0
    examples: int = 0
    clean: int = 0


@dataclass
class ValidationReport:
    """The outcome of `validate`: findings grouped by code, and per-file counts."""

    profile: str
    mapping: str | None
    files: list[FileSummary] = field(default_factory=list)
    codes: dict[str, CodeSummary] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(c.count for c in self.codes.values() if c.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(c.count for c in self.codes.values() if c.severity == "warning")

    @property
    def ok(self) -> bool:
        """No errors (warnings never fail a run)."""
        return self.errors == 0

    def add(self, file: str, line: int | None, finding: Finding) -> None:
        summary = self.codes.setdefault(finding.code, CodeSummary(finding.code))
        summary.count += 1
        if len(summary.first) < FIRST_KEPT:
            summary.first.append(Place(file, line, finding.message))

    def to_json_dict(self) -> dict[str, Any]:
        """The `--format json` object; its shape is documented in docs/validate.md."""
        return {
            "ok": self.ok,
            "profile": self.profile,
            "mapping": self.mapping,
            "errors": self.errors,
            "warnings": self.warnings,
            "files": [vars(f).copy() for f in self.files],
            "codes": {
                code: {
                    "name": s.name,
                    "severity": s.severity,
                    "count": s.count,
                    "first": [vars(p).copy() for p in s.first],
                }
                for code, s in sorted(self.codes.items())
            },
        }

    def to_text(self) -> str:
        """Readable text: per file counts, then each code with its count and first places."""
        out = [
            f"{f.path}: {_plural(f.lines, 'line')}, {_plural(f.examples, 'example')}, "
            f"{f.clean} without errors"
            for f in self.files
        ]
        for code, summary in sorted(self.codes.items()):
            out.append(f"{code} {summary.name} ({summary.severity}): {summary.count}")
            out += [f"  {place}" for place in summary.first]
            if summary.count > len(summary.first):
                out.append(f"  ... and {summary.count - len(summary.first)} more")
        mapping = f", mapping {self.mapping}" if self.mapping else ""
        verdict = "OK" if self.ok else "FAILED"
        counts = f"{_plural(self.errors, 'error')}, {_plural(self.warnings, 'warning')}"
        out.append(f"{verdict}: {counts} (profile {self.profile}{mapping})")
        return "\n".join(out)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def validate(
    paths: str | Path | Sequence[str | Path],
    *,
    mapping: str | Path | Mapping | None = None,
    profile: str | Profile = DEFAULT_PROFILE,
) -> ValidationReport:
    """Check one or more chat JSON Lines files (given together: train and validation).

    Args:
        paths: a file, or several; duplicates across them are reported as leaks (W102).
        mapping: a preset name, mapping file or loaded Mapping: the assistant outputs are
            then checked against what it declares (labels, JSON, box lists).
        profile: the target's limits (`openai` by default; see `jsonl_bridge.profiles`).

    Raises:
        InputError: a file cannot be opened or read (the CLI exits 3).
        UsageError: unknown profile; MappingError: an invalid mapping (exit 2).
    """
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    chosen = get_profile(profile) if isinstance(profile, str) else profile
    rule, mapping_name = _rule_of(mapping)
    for path in files:
        check_readable(path)
    report = ValidationReport(chosen.name, mapping_name)
    duplicates = Duplicates(files)
    for index, path in enumerate(files):
        report.files.append(_validate_file(path, index, chosen, rule, duplicates, report))
    for file_index, line, finding in duplicates.findings():
        report.add(str(files[file_index]), line, finding)
    return report


def _rule_of(mapping: str | Path | Mapping | None) -> tuple[OutputRule | None, str | None]:
    if mapping is None:
        return None, None
    from jsonl_bridge.mapping import load_mapping

    loaded = load_mapping(mapping) if isinstance(mapping, (str, Path)) else mapping
    return OutputRule.from_mapping(loaded), loaded.origin


def check_readable(path: Path) -> None:
    """Raise InputError (exit 3) when `path` cannot be opened for reading."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(path)) from exc


_NOTHING = object()
"""Stands for "no JSON value" (a JSON line may hold null)."""
_BLANK = "blank line"


MAX_LINE_BYTES = 256 << 20
"""The longest line read (E105 beyond): far above any example a profile accepts (10 images of
10 MB are 140 MB as base64), so that a hostile or broken file (one line of gigabytes) is
stepped over in bounded memory instead of being held whole: reading up to the limit takes
about twice it at the peak (a 300 MB line: 566 MB, where it took 914 MB held whole)."""


def numbered_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(physical line number from 1, its bytes), None for a line over MAX_LINE_BYTES, which
    is skipped a megabyte at a time, never held."""
    limit = MAX_LINE_BYTES
    for number in itertools.count(1):
        raw = handle.readline(limit + 1)
        if not raw:
            return
        if len(raw) > limit:
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(1 << 20)
            yield number, None
        else:
            yield number, raw


def read_examples(path: Path) -> Iterator[tuple[int, Any, Finding | None]]:
    """(line number, parsed value or `_NOTHING`, the E1xx finding of an unparsable line),
    line by line; blank lines included (E102), so numbers are physical lines."""
    loads, failure = orjson.loads, orjson.JSONDecodeError
    try:
        with path.open("rb") as handle:
            for number, raw in numbered_lines(handle):
                if raw is None:
                    limit = f"{MAX_LINE_BYTES:,}"
                    yield number, _NOTHING, Finding("E105", f"over {limit} bytes: not read")
                    continue
                try:
                    value, problem = loads(raw), None
                except failure as exc:
                    value, problem = _NOTHING, _why_not_json(raw, exc)
                yield number, value, problem
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(path)) from exc


def parse_line(raw: bytes) -> tuple[Any, Finding | None]:
    """A line's JSON value, or `_NOTHING` and why not (E101 not UTF-8, E102 not JSON).

    orjson parses (and checks UTF-8) several times faster than the standard library, which
    would hold the whole check well below the speed of reading a file; it is also stricter
    (NaN, Infinity and lone surrogates are refused, as JSON requires).
    """
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        return _NOTHING, _why_not_json(raw, exc)


def _why_not_json(raw: bytes, problem: orjson.JSONDecodeError) -> Finding:
    """The E101 or E102 finding of a line orjson refused with `problem`."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1]
        return Finding("E101", f"byte {exc.start + 1} ({bad!r}) is not UTF-8")
    if not raw.strip():
        return Finding("E102", _BLANK)
    return Finding("E102", f"column {problem.colno}: {problem.msg}")


def is_value(value: Any) -> bool:
    """Whether `parse_line` gave a JSON value."""
    return value is not _NOTHING


def _validate_file(
    path: Path,
    index: int,
    profile: Profile,
    rule: OutputRule | None,
    duplicates: Duplicates,
    report: ValidationReport,
) -> FileSummary:
    name = str(path)
    summary = FileSummary(name)
    labels: Counter[str] | None = Counter()
    remember, max_tokens = duplicates.add, profile.max_tokens_per_example
    nonblank = number = examples = clean = 0
    for number, value, problem in read_examples(path):
        if problem is not None:
            nonblank += problem.message != _BLANK
            report.add(name, number, problem)
            continue
        nonblank += 1
        examples += 1
        facts = inspect_example(value, profile, rule)
        findings = facts.findings
        for finding in findings:
            report.add(name, number, finding)
        if not findings or all(f.severity != "error" for f in findings):
            clean += 1
        if not facts.has_system or facts.tokens > max_tokens:
            for warning in _warnings(facts, profile):
                report.add(name, number, warning)
        remember(value, index, number)
        if labels is not None and facts.output:
            labels = _count_labels(labels, facts.output, rule)
    summary.lines, summary.examples, summary.clean = number, examples, clean
    if nonblank == 0:
        report.add(name, None, Finding("E104", "no examples (empty file)"))
    elif summary.clean < profile.min_examples:
        wanted = f"at least {profile.min_examples} are required ({profile.name})"
        valid = _plural(summary.clean, "valid example")
        report.add(name, None, Finding("W106", f"{valid}; {wanted}"))
    skew = _skew(labels) if labels is not None else None
    if skew is not None:
        report.add(name, None, skew)
    return summary


def _warnings(facts: ExampleFacts, profile: Profile) -> Iterator[Finding]:
    """W103 and W104 (the caller tests their conditions first: most examples have neither)."""
    if facts.messages and not facts.has_system:
        yield Finding("W103", "no system message")
    tokens = facts.tokens
    if tokens > profile.max_tokens_per_example:
        limit = profile.max_tokens_per_example
        yield Finding("W104", f"about {tokens:,} tokens (estimate), over {limit:,}")


def _count_labels(
    labels: Counter[str], output: str, rule: OutputRule | None
) -> Counter[str] | None:
    """Add an output's labels; None (stop counting) once they look like free text."""
    for label in guess_labels(output) if rule is None else rule.labels(output):
        labels[label] += 1
    return labels if len(labels) <= MAX_DISTINCT_LABELS else None


def _skew(labels: Counter[str]) -> Finding | None:
    """W105 when at least 2 labels, fewer distinct labels than half the labelled outputs
    (so mostly-unique free text is never judged), and most frequent ≥ 10 × rarest."""
    total = sum(labels.values())
    if len(labels) < 2 or len(labels) > total / 2:
        return None
    ranked = labels.most_common()
    (top, most), (rare, least) = ranked[0], ranked[-1]
    if most < SKEW_RATIO * least:
        return None
    return Finding("W105", f"label {top!r} ×{most} but {rare!r} ×{least} (ratio ≥ {SKEW_RATIO})")
