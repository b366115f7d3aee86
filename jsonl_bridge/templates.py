"""The Jinja2 environment mapping templates run in, and the filters they get.

Mapping files come from users and are shared like configuration, so templates run in jinja's
immutable sandbox (no dunder access, no mutating `data` or `fields`) with StrictUndefined: a
typo in a field name fails loudly on the first task instead of writing empty answers.
Autoescaping is off (the output is JSON Lines text, not HTML); `json`/`tojson` are our own,
because jinja's `tojson` escapes `<`, `>` and `&` for HTML.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from jsonl_bridge._yaml_positions import KeyPath
from jsonl_bridge.errors import MappingError
from jsonl_bridge.geometry import CONVENTIONS, envelope, has_box, scale, to_convention
from jsonl_bridge.mapping import Mapping, dotted, sort_problems

MEDIA_VAR = "__bridge_images__"
"""Context variable holding the task's `ImageSizes` (read by the `boxes` filter)."""


@dataclass(frozen=True)
class ImageSizes:
    """Pixel sizes of a task's images, found by the key a region points at: the size the
    annotations were drawn on, and (through `sent`) the size of the image as sent."""

    sizes: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    sent: Callable[[str], tuple[int, int]] | None = None

    def key_of(self, target: str | None) -> str:
        """The image `target` names, else the only image."""
        if target is not None and target in self.sizes:
            return target
        if len(self.sizes) == 1:
            return next(iter(self.sizes))
        known = ", ".join(self.sizes) or "none"
        raise ValueError(
            f"boxes: no image for field target {target!r} (images of this task: {known})"
        )

    def of(self, target: str | None) -> tuple[int, int]:
        """The (width, height) the regions of `target` are measured in."""
        key = self.key_of(target)
        width, height = self.sizes[key]
        if not width or not height:
            raise ValueError(f"boxes: the size of image {key!r} is unknown")
        return width, height

    def as_sent(self, target: str | None) -> tuple[int, int]:
        """The (width, height) of the image as sent (after any downscale)."""
        key = self.key_of(target)
        return self.sent(key) if self.sent is not None else self.of(target)


MAX_REPEAT = 1_000_000
"""Longest string or list a template may build with `*` (`'-' * 40` is fine, `'a' * 10**10`
would take 10 GB)."""
MAX_POWER_BITS = 4096
"""Largest integer `**` may compute (`9 ** 99999999` would run for minutes)."""


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with `*` and `**` refused when one expression would exhaust
    memory or CPU. Jinja leaves these operators to Python (which would build a 10 GB string
    as asked), and folds constant expressions at compile time, so an unchecked `9 ** 99999999`
    would hang even the loading of the mapping; intercepted, it is neither folded nor run."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`obj.attribute` as the sandbox answers it, sooner for a key of a plain dict that
        is not a dict attribute (`data.subject`): the sandbox tries the attribute first and
        the key on its AttributeError, and raising that took a tenth of a render."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _power_too_large(left, right):
            raise SecurityError(f"{left!r} ** {right!r} is too large (over {MAX_POWER_BITS} bits)")
        if operator == "*" and _repeat_too_long(left, right):
            raise SecurityError(f"repeating a sequence to more than {MAX_REPEAT:,} items")
        return super().call_binop(context, operator, left, right)


_DICT_ATTRIBUTES = frozenset(dir(dict))
"""What `getattr` finds on any dict (its class's attributes: a dict has no others)."""


def _power_too_large(base: Any, exponent: Any) -> bool:
    if not isinstance(base, int) or not isinstance(exponent, int) or exponent <= 1:
        return False  # floats overflow quickly and raise OverflowError
    return abs(base) > 1 and exponent * abs(base).bit_length() > MAX_POWER_BITS


def _repeat_too_long(left: Any, right: Any) -> bool:
    sequence, times = (left, right) if isinstance(right, int) else (right, left)
    if not isinstance(sequence, (str, list, tuple)) or not isinstance(times, int):
        return False
    return len(sequence) * times > MAX_REPEAT


def make_environment() -> ImmutableSandboxedEnvironment:
    """A fresh sandboxed environment with the bridge filters.

    `lipsum` (a lorem-ipsum generator, of no use in a mapping) is removed: `lipsum(100000)`
    takes minutes.
    """
    env = _BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    del env.globals["lipsum"]
    env.filters["json"] = to_json
    env.filters["tojson"] = to_json
    env.filters["lines"] = lines
    env.filters["boxes"] = _boxes_filter
    return env


def compile_template(
    env: ImmutableSandboxedEnvironment, source: str, filename: str
) -> tuple[Template, nodes.Template]:
    """Parse and compile one template; raises jinja2.TemplateSyntaxError with its line.

    `filename` is given to jinja so that runtime errors can be traced to a template line
    (see `template_lineno`).
    """
    tree = env.parse(source, name=filename, filename=filename)
    code = env.compile(tree, name=filename, filename=filename)
    return env.template_class.from_code(env, code, env.make_globals(None), None), tree


@dataclass(frozen=True)
class CompiledTemplate:
    """A mapping template, ready to render, with its parse tree for static checks."""

    path: KeyPath
    template: Template
    tree: nodes.Template
    filename: str
    _globals: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_globals", dict(self.template.globals))

    def render(self, context: dict[str, Any]) -> str:
        """`template.render(context)`, five times faster: Jinja merges its globals (a
        ChainMap, iterated twice) into every new context, which took a tenth of a
        classification run; here they are merged once per template, then copied."""
        template = self.template
        env = template.environment
        variables = {**self._globals, **context}
        # new_context(env, name, blocks, variables, shared=True), without its checks
        run = env.context_class(env, variables, template.name, template.blocks)
        try:
            return env.concat(template.root_render_func(run))
        except Exception:
            env.handle_exception()  # re-raises with the template's own line numbers
            raise  # not reached


def compile_mapping(
    mapping: Mapping, env: ImmutableSandboxedEnvironment | None = None
) -> dict[KeyPath, CompiledTemplate]:
    """Compile every template of a mapping; one MappingError lists all syntax problems."""
    env = env or make_environment()
    compiled: dict[KeyPath, CompiledTemplate] = {}
    problems: list[str] = []
    for path, source in mapping.templates():
        filename = f"<{mapping.origin}:{dotted(path)}>"
        try:
            template, tree = compile_template(env, source, filename)
        except TemplateSyntaxError as exc:
            message = f"template syntax error: {exc.message}"
            problems.append(mapping.problem(path, message, exc.lineno))
            continue
        problems.extend(mapping.problem(path, message) for message in _static_problems(tree))
        compiled[path] = CompiledTemplate(path, template, tree, filename)
    if problems:
        raise MappingError(sort_problems(problems))
    return compiled


def _static_problems(tree: nodes.Template) -> list[str]:
    """Mistakes visible without data: an unknown `boxes` convention written as a literal."""
    problems = []
    for node in tree.find_all(nodes.Filter):
        if node.name != "boxes":
            continue
        given = [*node.args[:1], *(kw.value for kw in node.kwargs if kw.key == "convention")]
        for arg in given:
            if isinstance(arg, nodes.Const) and arg.value not in CONVENTIONS:
                problems.append(f"boxes: unknown convention {arg.value!r} (one of {_choices()})")
    return problems


def template_lineno(exc: BaseException, filename: str) -> int | None:
    """The line of the template `filename` where `exc` was raised, from jinja's traceback."""
    lineno: int | None = None
    for frame_tb in _walk_traceback(exc.__traceback__):
        if frame_tb.tb_frame.f_code.co_filename == filename:
            lineno = frame_tb.tb_lineno
    return lineno


def _walk_traceback(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def to_json(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False)` with default separators; undefined fails."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable.
    return json.dumps(value, ensure_ascii=False)


def lines(value: Any) -> str:
    """A list joined by newlines (several TextArea entries); a string passes through."""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(item) for item in value)
    return str(value)


@pass_context
def _boxes_filter(context: Context, value: Any, convention: str = "gemini") -> str:
    images = context.get(MEDIA_VAR)
    return boxes(value, convention, images if isinstance(images, ImageSizes) else ImageSizes())


def boxes(value: Any, convention: str, images: ImageSizes) -> str:
    """Localised regions (dicts from `fields` or `regions`) as a JSON list of
    `{<coords key>: [...], "label": ...}`, in source order, json.dumps default separators.

    Regions without an area to box (choices, texts, numbers, bare key points, relations, a
    brush mask with nothing painted) are left out, so `regions | boxes` serves an annotation
    mixing boxes, polygons and choices. An undefined or missing field, or an annotation
    without regions, gives "[]".
    """
    if isinstance(value, Undefined) or value is None:
        return "[]"
    if convention not in CONVENTIONS:
        raise ValueError(f"boxes: unknown convention {convention!r} (one of {_choices()})")
    if isinstance(value, (AbcMapping, str)):
        raise ValueError("boxes: expects a list of regions (a box or polygon field)")
    entries = [
        box_entry(region, convention, images)
        for region in value
        if not isinstance(region, AbcMapping) or has_box(region)
    ]
    return json.dumps(entries, ensure_ascii=False)


def box_entry(region: AbcMapping[str, Any], convention: str, images: ImageSizes) -> dict[str, Any]:
    """One region as `{"box_2d": [...], "label": ...}` (the key depends on the convention).

    Regions are measured on the image the annotator saw; `qwen` counts pixels of the image as
    sent, so its boxes are scaled to the downscaled size.
    """
    if not isinstance(region, AbcMapping):
        raise ValueError(f"boxes: expects regions, got {type(region).__name__}")
    turned = (region.get("attributes") or {}).get("image_rotation")
    if turned:
        raise ValueError(
            f"boxes: region {region.get('id') or region.get('label')!r} was drawn on the image "
            f"turned {turned} degrees in the editor (image_rotation); such coordinates are not "
            "converted, rather than risk a misplaced box"
        )
    target = region.get("target")
    width, height = images.of(target)
    rect = envelope(region)
    if convention == "qwen":
        sent_width, sent_height = images.as_sent(target)
        rect = scale(rect, sent_width / width, sent_height / height)
        width, height = sent_width, sent_height
    coords = to_convention(rect, width, height, convention)
    return {CONVENTIONS[convention]: coords, "label": region.get("label")}


def _choices() -> str:
    return ", ".join(CONVENTIONS)
