"""One example as HTML: chat bubbles, image thumbnails with the answer's boxes drawn over them.

The same card is a preview report's unit and an `Example`'s notebook view
(`Example._repr_html_`). Boxes are SVG rectangles in the stored image's own pixel space
(`viewBox` = its size) over a downscaled thumbnail, so the browser scales them exactly with
the picture, and each one can be inspected (its label and coordinates as written are on the
element). Everything drawn comes from untrusted files: every text is escaped, and nothing
but data URLs is ever referenced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from jsonl_bridge._preview_boxes import DrawnBox, OutputBoxes, boxes_of
from jsonl_bridge._preview_images import Thumbnail, thumbnail
from jsonl_bridge._validate_codes import Finding
from jsonl_bridge._validate_example import inspect_example
from jsonl_bridge.profiles import DEFAULT_PROFILE, get_profile

MAX_TEXT_CHARS = 3000
"""A longer text is cut in the card (the page must stay small); the rest is counted."""
MAX_RAW_CHARS = 1000
"""What is shown of a line that is not a chat example."""
MAX_MESSAGES = 40
"""A card shows the first 30 and the last 10 messages of a longer example: a line of ten
thousand messages must not make a page of ten thousand bubbles."""
MAX_PARTS = 40
"""Content parts shown per message; the rest are counted."""
MAX_IMAGES = 8
"""Thumbnails per card: each one decodes an image, so a line of a thousand images would make
the report slow and large; the others are counted."""
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#f032e6", "#1f9e89", "#9a6324", "#800000", "#000075",
)  # fmt: skip
"""Saturated colours, told apart on the grey and natural images annotations are made on."""
LABEL_FONT = 0.05
"""Box label height as a share of the image's longest side."""

CARD_CSS = """
.jb-card{font:14px/1.4 system-ui,sans-serif;border:1px solid #ccd;border-radius:8px;
 padding:10px 12px;margin:0 0 14px;background:#fff;color:#111;max-width:880px}
.jb-card.jb-flagged{border-left:5px solid #d33}
.jb-head{font-size:12px;color:#555;margin-bottom:6px}
.jb-head a{color:inherit}
.jb-findings{margin:4px 0 8px;padding-left:18px;font-size:12px}
.jb-findings .jb-error{color:#b00}
.jb-findings .jb-warning{color:#8a5a00}
.jb-msg{margin:6px 0;padding:6px 10px;border-radius:10px;max-width:92%}
.jb-system{background:#f1f1f4}
.jb-user{background:#e8f0fe}
.jb-assistant{background:#e6f4ea;margin-left:auto}
.jb-other{background:#fdecea}
.jb-role{font-size:11px;font-weight:600;text-transform:uppercase;color:#666}
.jb-text{white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0}
.jb-more,.jb-note{font-size:12px;color:#666;font-style:italic}
.jb-raw{white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px;background:#fafafa;
 padding:6px;margin:0}
.jb-figure{display:inline-block;margin:4px 8px 4px 0;vertical-align:top}
.jb-figure svg{display:block;background:#ddd}
.jb-figure figcaption{font-size:11px;color:#555;max-width:256px}
.jb-noimage{display:inline-block;padding:8px;border:1px dashed #999;font-size:12px;
 color:#555;max-width:256px;overflow-wrap:anywhere}
.jb-chip{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:3px}
.jb-box-label{font-family:system-ui,sans-serif;fill:#fff;stroke:#000;paint-order:stroke}
"""


@dataclass
class Palette:
    """A colour per label, given in order of first use, so the labels of one page differ
    (cycling after ten); the label chart uses the same colours as the boxes."""

    colours: dict[str, str] = field(default_factory=dict)

    def __call__(self, label: str) -> str:
        if label not in self.colours:
            self.colours[label] = PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[label]


@dataclass(frozen=True)
class CardFacts:
    """What the report knows about a line besides its content."""

    line: int | None = None
    findings: Sequence[Finding] = ()
    tokens: int | None = None
    raw: str | None = None
    """The line's text when it is not JSON (the value is then ignored)."""


def example_card(
    value: Any, palette: Palette, convention: str | None = None, facts: CardFacts = CardFacts()
) -> str:
    """The card of one parsed JSONL line. `convention`: the mapping's box convention, if
    any (else it is found from the boxes' key, see `_preview_boxes`)."""
    anchor = f' id="line-{facts.line}" data-line="{facts.line}"' if facts.line else ""
    flagged = any(f.severity == "error" for f in facts.findings)
    classes = "jb-card jb-flagged" if flagged else "jb-card"
    flag = ' data-flagged="1"' if facts.findings else ""
    parts = [f'<article class="{classes}"{anchor}{flag}>', _head(value, facts)]
    if facts.findings:
        parts.append(_findings(facts.findings))
    messages = value.get("messages") if isinstance(value, dict) else None
    if facts.raw is not None:
        parts.append(_raw(facts.raw) if facts.raw.strip() else "")
    elif isinstance(messages, list) and messages:
        parts.append(_chat(messages, palette, convention))
    else:
        parts.append(_raw(json.dumps(value, ensure_ascii=False)))
    parts.append("</article>")
    return "".join(parts)


def _head(value: Any, facts: CardFacts) -> str:
    bits = []
    if facts.line is not None:
        bits.append(f'<a href="#line-{facts.line}">line {facts.line}</a>')
    messages = value.get("messages") if isinstance(value, dict) else None
    if facts.raw is None and isinstance(messages, list):
        bits.append(_count(len(messages), "message"))
        if facts.tokens is not None:
            bits.append(f"~{facts.tokens:,} tokens")
    return f'<div class="jb-head">{" · ".join(bits)}</div>'


def _findings(findings: Sequence[Finding]) -> str:
    items = "".join(
        f'<li class="jb-{f.severity}"><b>{f.code}</b> {escape(f.name)}: {escape(f.message)}</li>'
        for f in findings
    )
    return f'<ul class="jb-findings">{items}</ul>'


def _raw(text: str) -> str:
    shown = text[:MAX_RAW_CHARS]
    more = len(text) - len(shown)
    cut = f'<div class="jb-more">… {more:,} more characters</div>' if more > 0 else ""
    return f'<pre class="jb-raw">{escape(shown)}</pre>{cut}'


def _chat(messages: list[Any], palette: Palette, convention: str | None) -> str:
    """The bubbles; the last assistant answer's boxes go on the example's image."""
    last = messages[-1]
    answer = _text_of(last.get("content")) if _role(last) == "assistant" else ""
    found = boxes_of(answer, convention) if answer else None
    images = sum(len(_image_urls(m)) for m in messages)
    drawn = found if found is not None and images == 1 else None
    budget = _Budget(images=MAX_IMAGES)
    shown = messages
    if len(messages) > MAX_MESSAGES:
        shown = [*messages[: MAX_MESSAGES - 10], None, *messages[-10:]]
    out = [
        _message(m, palette, drawn, budget)
        if m is not None
        else f'<div class="jb-more">… {len(messages) - MAX_MESSAGES:,} more messages</div>'
        for m in shown
    ]
    if found is not None and images != 1:
        out.append(f'<div class="jb-note">boxes not drawn: the example has {images} images</div>')
    if found is not None and found.problems:
        notes = "; ".join(found.problems[:5])
        out.append(f'<div class="jb-note">not drawn: {escape(notes)}</div>')
    return "".join(out)


def _role(message: Any) -> str:
    role = message.get("role") if isinstance(message, dict) else None
    return role if isinstance(role, str) else ""


def _image_urls(message: Any) -> list[str]:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [url for part in content if (url := _image_url(part)) is not None]


def _image_url(part: Any) -> str | None:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    return url if isinstance(url, str) else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


@dataclass
class _Budget:
    """What a card may still show."""

    images: int


def _message(message: Any, palette: Palette, boxes: OutputBoxes | None, budget: _Budget) -> str:
    role = _role(message)
    kind = role if role in ("system", "user", "assistant") else "other"
    if not isinstance(message, dict):
        body = _raw(json.dumps(message, ensure_ascii=False))
    else:
        body = _content(message.get("content"), palette, boxes, budget)
    label = escape(role or "(no role)")
    if kind == "system":
        size = len(_text_of(message.get("content") if isinstance(message, dict) else None))
        return (
            f'<div class="jb-msg jb-system"><details><summary class="jb-role">{label} · '
            f"{_count(size, 'character')}</summary>{body}</details></div>"
        )
    return f'<div class="jb-msg jb-{kind}"><div class="jb-role">{label}</div>{body}</div>'


def _content(content: Any, palette: Palette, boxes: OutputBoxes | None, budget: _Budget) -> str:
    if isinstance(content, str):
        return _text(content)
    if not isinstance(content, list):
        return _raw(json.dumps(content, ensure_ascii=False))
    out = []
    for part in content[:MAX_PARTS]:
        url = _image_url(part)
        if url is not None and budget.images <= 0:
            out.append(
                f'<div class="jb-noimage">image not shown: over {MAX_IMAGES} in this card</div>'
            )
        elif url is not None:
            budget.images -= 1
            out.append(_figure(thumbnail(url), palette, boxes))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(_text(part["text"]))
        else:
            out.append(_raw(json.dumps(part, ensure_ascii=False)))
    if len(content) > MAX_PARTS:
        out.append(f'<div class="jb-more">… {len(content) - MAX_PARTS:,} more parts</div>')
    return "".join(out)


def _text(text: str) -> str:
    shown = text[:MAX_TEXT_CHARS]
    more = len(text) - len(shown)
    cut = f'<div class="jb-more">… {more:,} more characters</div>' if more > 0 else ""
    return f'<div class="jb-text">{escape(shown)}</div>{cut}'


def _figure(thumb: Thumbnail, palette: Palette, boxes: OutputBoxes | None) -> str:
    if thumb.url is None:
        return f'<div class="jb-noimage">image not shown: {escape(thumb.problem or "")}</div>'
    w, h = thumb.width, thumb.height
    drawn = boxes.boxes if boxes is not None else []
    rects = "".join(_rect(box, w, h, palette) for box in drawn)
    group = f'<g class="jb-boxes">{rects}</g>' if drawn else ""
    svg = (
        f'<svg class="jb-image" width="{thumb.thumb_width}" height="{thumb.thumb_height}" '
        f'viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img">'
        f'<image href="{thumb.url}" x="0" y="0" width="{w}" height="{h}" '
        f'preserveAspectRatio="none"/>{group}</svg>'
    )
    return (
        f'<figure class="jb-figure">{svg}<figcaption>{_caption(thumb, drawn)}</figcaption></figure>'
    )


def _rect(box: DrawnBox, width: int, height: int, palette: Palette) -> str:
    x1, y1, x2, y2 = box.pixels(width, height)
    colour = palette(box.label)
    coords = ", ".join(_num(v) for v in box.coords)
    title = f"{box.label}: {box.key} [{coords}] ({box.convention})"
    font = max(width, height) * LABEL_FONT
    above = y1 - font * 0.25 if y1 >= font else y2 + font
    # a label starting right of the middle ends at the box's right edge, inside the image
    anchor = f'x="{_num(x2)}" text-anchor="end"' if x1 > width / 2 else f'x="{_num(x1)}"'
    return (
        f'<rect class="jb-box" x="{_num(x1)}" y="{_num(y1)}" width="{_num(x2 - x1)}" '
        f'height="{_num(y2 - y1)}" fill="none" stroke="{colour}" stroke-width="2" '
        f'vector-effect="non-scaling-stroke" data-label="{escape(box.label)}" '
        f'data-coords="{coords}" data-convention="{box.convention}">'
        f"<title>{escape(title)}</title></rect>"
        f'<text class="jb-box-label" {anchor} y="{_num(above)}" '
        f'font-size="{_num(font)}" stroke-width="{_num(font * 0.2)}">{escape(box.label)}</text>'
    )


def _caption(thumb: Thumbnail, drawn: list[DrawnBox]) -> str:
    bits = [f"{thumb.width}×{thumb.height} {escape(thumb.format or '')}".strip()]
    if drawn:
        conventions = ", ".join(sorted({box.convention for box in drawn}))
        bits.append(f"{_count(len(drawn), 'box', 'boxes')} ({conventions})")
        outside = sum(not _inside(box, thumb.width, thumb.height) for box in drawn)
        if outside:
            bits.append(f"<b>{outside} outside the image</b>")
    if thumb.orientation != 1:
        bits.append(f"<b>EXIF orientation {thumb.orientation}</b>: shown as stored, unrotated")
    return " · ".join(bits)


def _inside(box: DrawnBox, width: int, height: int) -> bool:
    x1, y1, x2, y2 = box.pixels(width, height)
    slack = 0.5  # rounding of per-mille coordinates
    return x1 >= -slack and y1 >= -slack and x2 <= width + slack and y2 <= height + slack


def _num(value: float) -> str:
    """A coordinate for an attribute: at most 2 decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _count(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def example_html(value: Any) -> str:
    """One example's card with its own style sheet, for a notebook (`Example._repr_html_`):
    the report's view, with the example's validation findings and token estimate."""
    facts = inspect_example(value, get_profile(DEFAULT_PROFILE))
    card = example_card(value, Palette(), facts=CardFacts(None, facts.findings, facts.tokens))
    return f"<style>{CARD_CSS}</style>{card}"
