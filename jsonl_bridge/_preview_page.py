"""The preview page: the file's figures, its validation findings linked to the lines shown,
agreement when the export was given, and the example cards, in one self-contained HTML page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from jsonl_bridge._preview_assets import CSP, PAGE_CSS, PAGE_JS
from jsonl_bridge._preview_cards import CARD_CSS
from jsonl_bridge._preview_charts import histogram, label_chart

if TYPE_CHECKING:
    from jsonl_bridge._agreement_report import AgreementReport, FieldAgreement
    from jsonl_bridge._preview_sample import FileFigures
    from jsonl_bridge.validation import Place, ValidationReport

DISAGREEMENTS_LISTED = 20
ANSWER_CHARS = 200


@dataclass(frozen=True)
class Shown:
    """Which lines the page shows and why: a random sample, and lines with findings."""

    total_lines: int
    sample: int
    seed: int
    sampled: int
    flagged: int
    """Lines shown only because a finding names them (outside the sample)."""
    lines: Collection[int]


@dataclass(frozen=True)
class Agreement:
    """Agreement on the export the file came from."""

    source: str
    report: AgreementReport
    threshold: float


def page(
    name: str,
    report: ValidationReport,
    figures: FileFigures,
    shown: Shown,
    cards: Sequence[str],
    colour: Callable[[str], str],
    agreement: Agreement | None = None,
) -> str:
    """The whole HTML document."""
    sections = [
        _overview(figures, colour),
        _findings(report, shown.lines),
        _agreement(agreement) if agreement is not None else "",
        _examples(cards),
    ]
    agreement_link = '<a href="#agreement">Agreement</a>' if agreement is not None else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Preview: {escape(name)}</title><style>{PAGE_CSS}{CARD_CSS}</style></head><body>"
        f"<header><h1>{escape(name)}</h1>{_summary(report, figures, shown)}"
        '<nav><a href="#overview">Overview</a><a href="#findings">Findings</a>'
        f'{agreement_link}<a href="#examples">Examples</a></nav></header>'
        f"{''.join(sections)}<script>{PAGE_JS}</script></body></html>\n"
    )


def _summary(report: ValidationReport, figures: FileFigures, shown: Shown) -> str:
    verdict = (
        '<span class="jb-ok">OK</span>' if report.ok else '<span class="jb-failed">FAILED</span>'
    )
    mapping = f", mapping {escape(report.mapping)}" if report.mapping else ""
    checked = (
        f"validation: {verdict}, {_count(report.errors, 'error')}, "
        f"{_count(report.warnings, 'warning')} (profile {escape(report.profile)}{mapping})"
    )
    if shown.sampled >= shown.total_lines:
        which = f"all {_count(shown.total_lines, 'line')}"
    else:
        which = (
            f"a random sample of {shown.sampled:,} of {shown.total_lines:,} lines "
            f"(--sample {shown.sample}, --seed {shown.seed})"
        )
    extra = f", plus {_count(shown.flagged, 'line')} named by findings" if shown.flagged else ""
    return (
        f'<p class="jb-summary">{_count(shown.total_lines, "line")} · '
        f"{_count(figures.examples, 'example')} · {checked}</p>"
        f'<p class="jb-summary">Shown below: {which}{extra}.</p>'
    )


def _overview(figures: FileFigures, colour: Callable[[str], str]) -> str:
    complete = (
        ""
        if figures.labels_complete
        else '<p class="jb-note">too many different answers: free text, counting stopped</p>'
    )
    charts = [
        ("Labels in the answers", label_chart(figures.labels.most_common(), colour) + complete),
        ("Tokens per example (estimate)", histogram(figures.tokens, "tokens")),
        ("Answer length (characters)", histogram(figures.answer_chars, "characters")),
    ]
    body = "".join(
        f"<figure><figcaption>{title}</figcaption>{chart}</figure>" for title, chart in charts
    )
    return f'<section id="overview"><h2>Overview</h2><div class="jb-charts">{body}</div></section>'


def _findings(report: ValidationReport, shown: Collection[int]) -> str:
    if not report.codes:
        body = '<p class="jb-ok">No findings.</p>'
    else:
        rows = "".join(
            f'<tr class="jb-{s.severity}"><td>{code}</td><td>{escape(s.name)}</td>'
            f"<td>{s.severity}</td><td>{s.count:,}</td>"
            f"<td><ul>{''.join(_place(p, shown) for p in s.first)}{_more(s.count, s.first)}"
            "</ul></td></tr>"
            for code, s in sorted(report.codes.items())
        )
        body = (
            '<table class="jb-table"><tr><th>code</th><th>name</th><th>severity</th>'
            f"<th>count</th><th>first places</th></tr>{rows}</table>"
        )
    return f'<section id="findings"><h2>Validation findings</h2>{body}</section>'


def _place(place: Place, shown: Collection[int]) -> str:
    if place.line is None:
        where = "the file"
    elif place.line in shown:
        where = f'<a href="#line-{place.line}">line {place.line}</a>'
    else:
        where = f"line {place.line}"
    return f"<li>{where}: {escape(place.message)}</li>"


def _more(count: int, first: Sequence[Place]) -> str:
    return f"<li>… and {count - len(first):,} more</li>" if count > len(first) else ""


def _agreement(agreement: Agreement) -> str:
    report, threshold = agreement.report, agreement.threshold
    passed = report.passed(threshold)
    verdict = '<span class="jb-ok">pass</span>' if passed else '<span class="jb-failed">FAIL</span>'
    head = (
        f"<p>{escape(agreement.source)}: {_count(report.tasks, 'task')} · agreement {verdict} "
        f"(threshold {threshold:g}; the service's advice: refine the guidelines below it)</p>"
    )
    rows = "".join(_field_row(f, threshold) for f in report.fields.values())
    table = (
        '<table class="jb-table"><tr><th>field</th><th>kind</th><th>headline</th><th>items</th>'
        f"<th>annotators</th><th>other metrics</th></tr>{rows}</table>"
        if rows
        else "<p>Nothing to measure: no field has an item answered by two annotators.</p>"
    )
    skipped = "".join(
        f"<li>{escape(name)}: {escape(reason)}</li>" for name, reason in report.skipped.items()
    )
    skipped_list = f"<p>Not measured:</p><ul>{skipped}</ul>" if skipped else ""
    return (
        f'<section id="agreement"><h2>Inter-annotator agreement</h2>{head}{table}'
        f"{skipped_list}{_disagreements(report)}</section>"
    )


def _field_row(f: FieldAgreement, threshold: float) -> str:
    state = "jb-ok" if f.passed(threshold) else "jb-failed"
    value = "undefined" if f.value is None else f"{f.value:.3f}"
    others = "".join(
        f"<li>{escape(name)}: {'undefined' if v is None else f'{v:.3f}'}</li>"
        for name, v in f.metrics.items()
        if name != f.headline
    )
    reasons = "".join(f"<li>({escape(n)}: {escape(r)})</li>" for n, r in f.undefined.items())
    return (
        f"<tr><td>{escape(f.name)}</td><td>{escape(f.kind)}</td>"
        f'<td>{escape(f.headline)} <span class="{state}">{value}</span></td>'
        f"<td>{f.n_items:,}</td><td>{escape(', '.join(f.annotators))}</td>"
        f"<td><ul>{others}{reasons}</ul></td></tr>"
    )


def _disagreements(report: AgreementReport) -> str:
    listed = report.disagreements[:DISAGREEMENTS_LISTED]
    if not listed:
        return ""
    rows = "".join(
        f"<tr><td>{escape(d.id)}</td><td>{escape(d.source.where())}</td><td>{escape(d.field)}</td>"
        f"<td><ul>{''.join(_answer(who, a) for who, a in d.answers.items())}</ul></td></tr>"
        for d in listed
    )
    more = len(report.disagreements) - len(listed)
    tail = f"<p>… and {more:,} more (bridge agree --disagreements FILE lists them all)</p>"
    return (
        f"<h3>Disagreements ({len(report.disagreements):,} items)</h3>"
        '<table class="jb-table"><tr><th>task</th><th>where</th><th>field</th><th>answers</th></tr>'
        f"{rows}</table>{tail if more > 0 else ''}"
    )


def _answer(annotator: str, answer: object) -> str:
    text = json.dumps(_rounded(answer), ensure_ascii=False)
    if len(text) > ANSWER_CHARS:
        text = text[: ANSWER_CHARS - 1] + "…"
    return f"<li>{escape(annotator)}: <code>{escape(text)}</code></li>"


def _rounded(value: object) -> object:
    """Pixel coordinates to 2 decimals: converted percents read 100.00000000000001."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _examples(cards: Sequence[str]) -> str:
    pager = (
        '<div class="jb-pager"><button type="button" id="jb-prev">‹ previous</button>'
        '<span id="jb-page-status"></span><button type="button" id="jb-next">next ›</button>'
        '<label><input type="checkbox" id="jb-flagged-only"> only lines with findings</label>'
        '<label><input type="checkbox" id="jb-show-boxes" checked> boxes</label></div>'
    )
    body = "".join(cards) if cards else '<p class="jb-note">no line shown</p>'
    return (
        f'<section id="examples"><h2>Examples</h2>{pager}<div id="jb-cards">{body}</div></section>'
    )


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
