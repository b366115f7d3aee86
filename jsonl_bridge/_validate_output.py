"""What a mapping says its assistant output looks like, and the check of one output.

The rule is read from the mapping's assistant template, statically (jinja's parse tree):
- a `boxes(...)` filter anywhere: a JSON list of `{<coords key>: [4 numbers], "label": ...}`
  in that convention (`gemini` when the argument is left out);
- the whole template is one `{{ ... | json }}`: one valid JSON value;
- the whole template is literal text around one `{{ ... }}` (no `lines` filter): a label,
  e.g. `Classification: {{ label }}` gives prefix `Classification: `;
- anything else (loops, conditions, free text): not checked.
Labels are checked against `labels.allowed` when the mapping lists any.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from jsonl_bridge._validate_codes import Finding
from jsonl_bridge.geometry import CONVENTIONS

if TYPE_CHECKING:
    from jinja2 import nodes

    from jsonl_bridge.mapping import Mapping

OutputKind = Literal["label", "json", "boxes", "text"]
LABEL_MAX_CHARS = 64
"""Without a mapping, a one-line assistant output up to this long counts as a label."""
_JSON_FILTERS = frozenset({"json", "tojson"})
_BOX_KEYS = tuple(dict.fromkeys(CONVENTIONS.values()))


@dataclass(frozen=True)
class OutputRule:
    """The shape a mapping's assistant output must have."""

    kind: OutputKind
    allowed: frozenset[str] = frozenset()
    prefix: str = ""
    suffix: str = ""
    convention: str | None = None
    """Box convention (`gemini`, `xyxy`...); None when the template computes it."""

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> OutputRule:
        """Read the rule off the mapping's assistant template and labels schema."""
        from jinja2 import nodes

        from jsonl_bridge.templates import make_environment

        tree = make_environment().parse(mapping.assistant)
        # `unknown: keep` writes labels outside `allowed` on purpose (DESIGN §7).
        keep = mapping.labels.unknown == "keep"
        allowed = frozenset() if keep else frozenset(mapping.labels.allowed)
        filters = list(tree.find_all(nodes.Filter))
        single = _single_expression(tree)
        if single is None:
            return cls("text", allowed)
        prefix, expression, suffix = single
        if isinstance(expression, nodes.Filter) and expression.name == "boxes":
            # Only a template that is the box list alone: text around it, or two lists in
            # one answer, is free text as far as a check can tell.
            if prefix.strip() or suffix.strip():
                return cls("text", allowed)
            return cls("boxes", allowed, convention=_convention(expression))
        if isinstance(expression, nodes.Filter) and expression.name in _JSON_FILTERS:
            return cls("json" if not prefix.strip() and not suffix.strip() else "text", allowed)
        if any(f.name == "lines" for f in filters):
            return cls("text", allowed)
        return cls("label", allowed, prefix, suffix)

    def check(self, text: str) -> list[Finding]:
        """Findings for one assistant output (empty when it has the declared shape)."""
        if self.kind == "label":
            return self._check_label(text)
        if self.kind in ("json", "boxes"):
            try:
                value = json.loads(text)
            except ValueError as exc:
                return [Finding("E402", f"assistant output is not valid JSON: {exc}")]
            return _check_boxes(value, self) if self.kind == "boxes" else []
        return []

    def labels(self, text: str) -> list[str]:
        """The labels an output carries, for counting (stats, label skew)."""
        if self.kind == "label":
            label = self._strip(text)
            return [] if label is None else label.split(", ")
        if self.kind == "boxes":
            return box_labels(text)
        return []

    def _strip(self, text: str) -> str | None:
        fits = len(text) >= len(self.prefix) + len(self.suffix)
        if not (fits and text.startswith(self.prefix) and text.endswith(self.suffix)):
            return None
        return text[len(self.prefix) : len(text) - len(self.suffix)]

    def _check_label(self, text: str) -> list[Finding]:
        label = self._strip(text)
        if label is None:
            form = f"{self.prefix}<label>{self.suffix}"
            return [Finding("E406", f"assistant output {_short(text)} is not of the form {form!r}")]
        if not self.allowed or label in self.allowed:
            return []
        return [
            Finding("E401", f"label {part!r} is not in labels.allowed ({_listed(self.allowed)})")
            for part in label.split(", ")
            if part not in self.allowed
        ]


def guess_labels(text: str) -> list[str]:
    """Labels of an output when no mapping says: a box list's labels, else a short one-line
    output as a whole."""
    if text.startswith("["):
        return box_labels(text)
    if len(text) <= LABEL_MAX_CHARS and "\n" not in text and text.strip():
        return [text]
    return []


def box_labels(text: str) -> list[str]:
    """The `label` of each object of a JSON list (none when `text` is not such a list)."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [e["label"] for e in value if isinstance(e, dict) and isinstance(e.get("label"), str)]


def _check_boxes(value: Any, rule: OutputRule) -> list[Finding]:
    if not isinstance(value, list):
        return [Finding("E403", f"assistant output is a JSON {type(value).__name__}, not a list")]
    findings: list[Finding] = []
    key = CONVENTIONS.get(rule.convention or "")
    for index, entry in enumerate(value):
        where = f"box {index}"
        if not isinstance(entry, dict):
            findings.append(Finding("E403", f"{where}: not a JSON object"))
            continue
        coords_key = key or next((k for k in _BOX_KEYS if k in entry), _BOX_KEYS[0])
        findings += _check_coords(entry.get(coords_key), coords_key, rule.convention, where)
        label = entry.get("label")
        if not isinstance(label, str):
            findings.append(Finding("E403", f"{where}: no string label"))
        elif rule.allowed and label not in rule.allowed:
            message = f"{where}: label {label!r} is not in labels.allowed"
            findings.append(Finding("E401", f"{message} ({_listed(rule.allowed)})"))
    return findings


def _check_coords(coords: Any, key: str, convention: str | None, where: str) -> list[Finding]:
    numbers = isinstance(coords, list) and len(coords) == 4
    if not numbers or not all(_is_number(v) for v in coords):
        return [Finding("E403", f"{where}: {key} is not a list of 4 numbers: {coords!r}")]
    if convention == "gemini" and not all(isinstance(v, int) for v in coords):
        return [Finding("E403", f"{where}: {key} {coords} must hold integers")]
    high = {"gemini": 1000, "xyxy_norm": 1}.get(convention or "")
    if any(v < 0 or (high is not None and v > high) for v in coords):
        span = f"0-{high}" if high is not None else "≥ 0"
        return [Finding("E404", f"{where}: {key} {coords} outside {span}")]
    first, second = (coords[:2], coords[2:]) if convention != "xywh" else ([0, 0], coords[2:])
    if convention is not None and (first[0] > second[0] or first[1] > second[1]):
        order = "[ymin, xmin, ymax, xmax]" if convention == "gemini" else "[x1, y1, x2, y2]"
        return [Finding("E405", f"{where}: {key} {coords} is not {order} with min ≤ max")]
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _single_expression(tree: nodes.Template) -> tuple[str, nodes.Expr, str] | None:
    """(prefix, expression, suffix) when the template is literal text around one `{{ }}`."""
    from jinja2 import nodes

    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    parts = list(tree.body[0].nodes)
    head, tail = (parts[0], parts[-1]) if parts else (None, None)
    prefix = head.data if isinstance(head, nodes.TemplateData) else ""
    suffix = tail.data if isinstance(tail, nodes.TemplateData) and len(parts) > 1 else ""
    middle = parts[1 if prefix else 0 : len(parts) - 1 if suffix else len(parts)]
    if len(middle) != 1 or isinstance(middle[0], nodes.TemplateData):
        return None
    return prefix, middle[0], suffix


def _convention(node: nodes.Filter) -> str | None:
    from jinja2 import nodes

    given = [*node.args[:1], *(kw.value for kw in node.kwargs if kw.key == "convention")]
    if not given:
        return "gemini"
    first = given[0]
    return first.value if isinstance(first, nodes.Const) and first.value in CONVENTIONS else None


def _listed(labels: frozenset[str]) -> str:
    return ", ".join(sorted(labels))


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
