"""`bridge preview`: look at a chat JSON Lines file before paying for a fine-tune.

Coordinate mix-ups (x/y order, 0-1000 versus pixels, EXIF rotation) and bad labels are
invisible in a JSONL file. The preview is one self-contained HTML page: the examples as
chats, their images as thumbnails with the answers' boxes drawn back onto them, the label
distribution, token and answer-length histograms, `bridge validate`'s findings linked to
their lines, and inter-annotator agreement when the export is given.

Two streamed passes, never the whole file in memory: `validate` (the findings, and the
line count the sample is drawn from), then one pass for the figures that renders only the
lines shown. The public function is `write_preview` (a function named like this module
would be replaced by the module as an attribute of the package once the module is imported).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonl_bridge._preview_cards import CardFacts, Palette, example_card
from jsonl_bridge._preview_page import Agreement, Shown, page
from jsonl_bridge._preview_sample import choose_lines, scan
from jsonl_bridge._validate_codes import Finding
from jsonl_bridge.errors import UsageError
from jsonl_bridge.profiles import DEFAULT_PROFILE, get_profile
from jsonl_bridge.validation import ValidationReport, check_readable, validate

if TYPE_CHECKING:
    from jsonl_bridge._validate_output import OutputRule
    from jsonl_bridge.mapping import Mapping

__all__ = ["DEFAULT_SAMPLE", "PreviewSummary", "write_preview"]

DEFAULT_SAMPLE = 200
"""Lines shown by default: enough to spot a systematic mistake, a page of a few MB."""
AGREEMENT_THRESHOLD = 0.8
"""As `bridge agree`'s default: the service's advice to refine the guidelines below it."""


@dataclass(frozen=True)
class PreviewSummary:
    """What `write_preview` wrote."""

    output: Path
    lines: int
    examples: int
    sampled: int
    flagged: int
    """Lines shown because a finding names them, beyond the sample."""
    errors: int
    warnings: int
    bytes: int

    @property
    def shown(self) -> int:
        return self.sampled + self.flagged


def write_preview(
    path: str | Path,
    output: str | Path | None = None,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    mapping: str | Path | Mapping | None = None,
    source: str | Path | None = None,
    from_: str | None = None,
    options: dict[str, Any] | None = None,
    profile: str = DEFAULT_PROFILE,
) -> PreviewSummary:
    """Write the HTML preview of a chat JSON Lines file.

    Args:
        path: the JSONL file.
        output: the HTML file; default `<file stem>.html` in the current directory.
        sample: how many lines to show, drawn at random (lines named by findings are added).
        seed: the same seed shows the same lines.
        mapping: a preset, mapping file or loaded Mapping: outputs are validated against it,
            and its box convention (e.g. `boxes('xyxy')`) is how boxes are read.
        source: the export the file was converted from: adds inter-annotator agreement.
        from_, options: the source's adapter and its options, as for `convert`.
        profile: the target whose limits the findings use, as for `bridge validate`.

    Raises:
        UsageError: a negative sample, `from_`/`options` without `source`, an output that
            would overwrite the input; MappingError; InputError: a file cannot be read.
    """
    path = Path(path)
    if output is not None and str(output) == "-":
        raise UsageError("preview writes an HTML file: give its name with -o, not '-'")
    target = Path(output) if output is not None else Path(path.stem + ".html")
    _check_arguments(path, target, sample, source, from_, options)
    check_readable(path)
    loaded = _load(mapping)
    rule = _rule(loaded)
    agreement = _agreement(Path(source), from_, options) if source is not None else None
    limits = get_profile(profile)
    report = validate(path, mapping=loaded, profile=limits)
    total = report.files[0].lines
    sampled = choose_lines(total, sample, seed)
    places = _findings_by_line(report)
    shown = set(sampled) | set(places)
    palette = Palette()
    convention = rule.convention if rule is not None and rule.kind == "boxes" else None

    def render(value: Any, facts: CardFacts) -> str:
        merged = _merge(facts.findings, places.get(facts.line or 0, ()))
        facts = CardFacts(facts.line, merged, facts.tokens, facts.raw)
        return example_card(value, palette, convention, facts)

    figures, cards = scan(path, shown, limits, rule, render)
    why = Shown(total, sample, seed, len(sampled), len(shown) - len(sampled), shown)
    html = page(path.name, report, figures, why, cards, palette, agreement).encode("utf-8")
    _write(target, html)
    return PreviewSummary(
        target,
        total,
        figures.examples,
        len(sampled),
        why.flagged,
        report.errors,
        report.warnings,
        len(html),
    )


def _check_arguments(
    path: Path,
    target: Path,
    sample: int,
    source: str | Path | None,
    from_: str | None,
    options: dict[str, Any] | None,
) -> None:
    if sample < 0:
        raise UsageError(f"--sample {sample}: must be 0 or more")
    if source is None and (from_ is not None or options):
        raise UsageError("--from and --option describe the --source export: give --source")
    if target.resolve() == path.resolve():
        raise UsageError(f"the output {target} would overwrite the input")


def _load(mapping: str | Path | Mapping | None) -> Mapping | None:
    if mapping is None or not isinstance(mapping, (str, Path)):
        return mapping
    from jsonl_bridge.mapping import load_mapping

    return load_mapping(mapping)


def _rule(mapping: Mapping | None) -> OutputRule | None:
    if mapping is None:
        return None
    from jsonl_bridge._validate_output import OutputRule

    return OutputRule.from_mapping(mapping)


def _agreement(source: Path, from_: str | None, options: dict[str, Any] | None) -> Agreement:
    from jsonl_bridge._agreement import agreement
    from jsonl_bridge.reading import read

    report = agreement(read(source, from_, options))
    return Agreement(str(source), report, AGREEMENT_THRESHOLD)


def _findings_by_line(report: ValidationReport) -> dict[int, list[Finding]]:
    """The report's kept places (the first of each code), by line: cards show them, and
    their lines are shown even outside the sample, so every listed place links to a card."""
    by_line: dict[int, list[Finding]] = {}
    for code, summary in sorted(report.codes.items()):
        for place in summary.first:
            if place.line is not None:
                by_line.setdefault(place.line, []).append(Finding(code, place.message))
    return by_line


def _merge(first: Iterable[Finding], more: Iterable[Finding]) -> list[Finding]:
    """A line's own findings, then the report's for it that are not among them (duplicates,
    W1xx warnings): each once, in that order."""
    return list(dict.fromkeys([*first, *more]))


def _write(target: Path, html: bytes) -> None:
    from jsonl_bridge.writer import atomic_file

    with atomic_file(target) as handle:
        handle.write(html)
