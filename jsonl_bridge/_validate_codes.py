"""The stable finding codes of `bridge validate` (documented in docs/validate.md).

A code never changes meaning once published: scripts grep for them. E1xx are lines that are not
a JSON object, E2xx the chat structure, E3xx images, E4xx the assistant output against the
mapping; W1xx are warnings, which never fail a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

CODES: dict[str, tuple[str, Severity]] = {
    "E101": ("not-utf8", "error"),
    "E102": ("invalid-json", "error"),
    "E103": ("not-an-object", "error"),
    "E104": ("empty-file", "error"),
    "E105": ("line-too-long", "error"),
    "E201": ("no-messages", "error"),
    "E202": ("message-not-object", "error"),
    "E203": ("missing-role-or-content", "error"),
    "E204": ("unknown-role", "error"),
    "E205": ("unknown-message-key", "error"),
    "E206": ("empty-content", "error"),
    "E207": ("unknown-part-type", "error"),
    "E208": ("text-part-without-text", "error"),
    "E209": ("image-part-without-url", "error"),
    "E210": ("image-outside-user", "error"),
    "E211": ("system-not-first", "error"),
    "E212": ("no-assistant", "error"),
    "E213": ("last-not-assistant", "error"),
    "E214": ("bad-content-type", "error"),
    "E301": ("bad-data-url", "error"),
    "E302": ("bad-base64", "error"),
    "E303": ("not-an-image", "error"),
    "E304": ("mime-mismatch", "error"),
    "E305": ("image-format", "error"),
    "E306": ("image-mode", "error"),
    "E307": ("image-too-many-bytes", "error"),
    "E308": ("image-too-many-pixels", "error"),
    "E309": ("too-many-images", "error"),
    "E310": ("image-corrupt", "error"),
    "E401": ("label-not-allowed", "error"),
    "E402": ("output-not-json", "error"),
    "E403": ("bad-box", "error"),
    "E404": ("box-out-of-range", "error"),
    "E405": ("box-inverted", "error"),
    "E406": ("output-form", "error"),
    "W101": ("duplicate-example", "warning"),
    "W102": ("leak-between-files", "warning"),
    "W103": ("no-system-message", "warning"),
    "W104": ("too-many-tokens", "warning"),
    "W105": ("label-skew", "warning"),
    "W106": ("too-few-examples", "warning"),
    "W107": ("remote-image-unchecked", "warning"),
}


class Coded:
    """What a finding code says of itself: its slug and its severity."""

    code: str

    @property
    def name(self) -> str:
        """The code's slug, e.g. `invalid-json`."""
        return CODES[self.code][0]

    @property
    def severity(self) -> Severity:
        return CODES[self.code][1]


@dataclass(frozen=True)
class Finding(Coded):
    """One problem: a stable code and a short message (where it is, the caller knows)."""

    code: str
    message: str
