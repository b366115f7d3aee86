"""The check of one chat example: a pure function of the parsed line and a profile.

`check_example` is what `bridge validate` runs on every line, and what `bridge convert` can
run on each example before writing it: it reads nothing but the object (images are data URLs
inside it), never raises for any JSON value, and returns findings in message order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonl_bridge._validate_codes import Finding
from jsonl_bridge._validate_images import ImageFacts, KnownImage, check_image
from jsonl_bridge.chat import Message

if TYPE_CHECKING:
    from jsonl_bridge._validate_output import OutputRule
    from jsonl_bridge.profiles import Profile

CHARS_PER_TOKEN = 4
"""Token estimate of text: characters / 4, rounded up (OpenAI's rule of thumb for English)."""


@dataclass(slots=True)
class ExampleFacts:
    """What one example holds (for warnings and `bridge stats`) and what is wrong with it."""

    findings: list[Finding] = field(default_factory=list)
    messages: int = 0
    text_chars: int = 0
    images: list[ImageFacts] = field(default_factory=list)
    has_system: bool = False
    output: str | None = None
    """The text of the final assistant message (None when the last message is not one)."""
    known: Mapping[int, KnownImage] = field(default_factory=dict)
    """Images made in this process, by `id()` of their URL string (see `check_example`)."""

    @property
    def tokens(self) -> int:
        """Estimated tokens: text characters / 4 plus each image's published cost."""
        text = text_tokens(self.text_chars)
        return text + sum(image.tokens for image in self.images) if self.images else text


def check_example(
    obj: Any,
    profile: Profile,
    rule: OutputRule | None = None,
    known: Mapping[int, KnownImage] | None = None,
) -> list[Finding]:
    """Every problem of one example (the parsed JSON of a line) under `profile`, and under
    the mapping's output `rule` when given. Never raises for any JSON value.

    `known`: images `bridge convert` embedded itself, keyed by `id()` of the URL string in
    `obj`; they are checked from their facts instead of being decoded again."""
    return inspect_example(obj, profile, rule, known).findings


def inspect_example(
    obj: Any,
    profile: Profile,
    rule: OutputRule | None = None,
    known: Mapping[int, KnownImage] | None = None,
) -> ExampleFacts:
    """`check_example`, plus the facts warnings and statistics are computed from."""
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        return ExampleFacts([Finding("E103", f"the line is a JSON {kind}, not an object")])
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        what = "missing" if messages is None else "empty" if messages == [] else "not a list"
        return ExampleFacts([Finding("E201", f"`messages` is {what}")])
    facts = _usual_example(messages, profile)
    if facts is None:
        facts = _inspect_fully(messages, profile, known or {})
    return _checked_output(facts, rule)


def usual_text(messages: list[Message], profile: Profile) -> tuple[int, str] | None:
    """The text characters and the output of `{"messages": msgspec.to_builtins(messages)}`
    when that is the usual example (`_usual_example`), read off the messages themselves:
    a text-only example `convert` built need not become dicts to be checked. None for any
    other."""
    roles = profile.roles
    chars = 0
    role: Any = None
    content: Any = None
    for message in messages:
        if type(message) is not Message:
            return None
        role, content = message.role, message.content
        if type(role) is not str or role not in roles or type(content) is not str:
            return None
        if not content or content.isspace() or (role == "system" and chars):  # chars: not first
            return None
        chars += len(content)
    if role != "assistant":  # also no message at all
        return None
    return chars, content


def text_tokens(chars: int) -> int:
    """The token estimate of `chars` text characters (rounded up)."""
    return -(-chars // CHARS_PER_TOKEN)


def _checked_output(facts: ExampleFacts, rule: OutputRule | None) -> ExampleFacts:
    """`facts` with the findings of the mapping's output rule (a blank output is E206)."""
    if rule is not None and facts.output and not facts.output.isspace():
        facts.findings += rule.check(facts.output)
    return facts


def _usual_example(messages: list[Any], profile: Profile) -> ExampleFacts | None:
    """The facts of the usual example (every message with known keys, a known role and
    non-blank string content; system only first; the assistant last), or None for any other.

    It finds nothing wrong by construction, so it is the whole check of most lines at a
    fraction of the full check's cost; None sends the example through `_inspect_fully`.
    """
    keys, roles = profile.message_keys, profile.roles
    chars = 0
    role: Any = None
    content: Any = None
    for message in messages:
        if type(message) is not dict:
            return None
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or role not in roles or type(content) is not str:
            return None
        if not content or content.isspace() or (role == "system" and chars):  # chars: not first
            return None
        if len(message) > 2 and not message.keys() <= keys:  # 2: role and content, just read
            return None
        chars += len(content)
    if role != "assistant":
        return None
    has_system = messages[0]["role"] == "system"
    # Positional: keyword arguments make this call several times slower, on every line.
    return ExampleFacts([], len(messages), chars, [], has_system, content)


def _inspect_fully(
    messages: list[Any], profile: Profile, known: Mapping[int, KnownImage]
) -> ExampleFacts:
    """Every check of an example that is not the usual one, with a finding for each problem."""
    facts = ExampleFacts(known=known)
    facts.messages = len(messages)
    roles = [_check_message(i, m, profile, facts) for i, m in enumerate(messages)]
    _check_order(roles, facts)
    if len(facts.images) > profile.max_images_per_example:
        limit = profile.max_images_per_example
        facts.findings.append(Finding("E309", f"{len(facts.images)} images, over {limit}"))
    last = messages[-1]
    if roles[-1] == "assistant" and isinstance(last, dict):
        facts.output = _text_of(last.get("content"))
    return facts


def _check_message(index: int, message: Any, profile: Profile, facts: ExampleFacts) -> str | None:
    """Check one message; its role when it is a known one."""
    where = f"messages[{index}]"
    out = facts.findings
    if not isinstance(message, dict):
        out.append(Finding("E202", f"{where} is a JSON {type(message).__name__}, not an object"))
        return None
    if not message.keys() <= profile.message_keys:
        unknown = ", ".join(sorted(message.keys() - profile.message_keys))
        allowed = ", ".join(sorted(profile.message_keys))
        out.append(Finding("E205", f"{where}: unknown key(s) {unknown} ({allowed})"))
    role, content = message.get("role"), message.get("content")
    if role is None or content is None:
        missing = " and no ".join(k for k, v in (("role", role), ("content", content)) if v is None)
        out.append(Finding("E203", f"{where}: no {missing}"))
    known = isinstance(role, str) and role in profile.roles
    if role is not None and not known:
        allowed = ", ".join(sorted(profile.roles))
        out.append(Finding("E204", f"{where}: role {role!r} is not one of {allowed}"))
    if content is not None:
        _check_content(where, role if known else None, content, profile, facts)
    return str(role) if known else None


def _check_content(
    where: str, role: str | None, content: Any, profile: Profile, facts: ExampleFacts
) -> None:
    out = facts.findings
    if isinstance(content, str):
        if not content or content.isspace():
            out.append(Finding("E206", f"{where}: content is empty"))
        facts.text_chars += len(content)
        return
    if not isinstance(content, list):
        kind = type(content).__name__
        out.append(Finding("E214", f"{where}: content is a JSON {kind}, not a string or list"))
        return
    if not content:
        out.append(Finding("E206", f"{where}: content is an empty list"))
    for index, part in enumerate(content):
        _check_part(f"{where}.content[{index}]", role, part, profile, facts)


def _check_part(
    where: str, role: str | None, part: Any, profile: Profile, facts: ExampleFacts
) -> None:
    out = facts.findings
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            out.append(Finding("E208", f"{where}: text part without a `text` string"))
        elif not text or text.isspace():
            out.append(Finding("E206", f"{where}: text is empty"))
        else:
            facts.text_chars += len(text)
        return
    if kind != "image_url":
        shown = f"type {kind!r}" if isinstance(part, dict) else f"a JSON {type(part).__name__}"
        out.append(Finding("E207", f"{where}: {shown}, not a text or image_url part"))
        return
    image_url = part.get("image_url")
    if not isinstance(image_url, dict):
        image_url = {}
    url = image_url.get("url")
    if not isinstance(url, str) or not url:
        out.append(Finding("E209", f"{where}: image part without an image_url.url string"))
        return
    if role is not None and role != "user":
        out.append(Finding("E210", f"{where}: an image in a {role} message (only user ones)"))
    image = check_image(url, image_url.get("detail"), profile, where, facts.known.get(id(url)))
    facts.images.append(image)
    out += image.findings


def _check_order(roles: list[str | None], facts: ExampleFacts) -> None:
    out = facts.findings
    facts.has_system = "system" in roles
    late = [i for i, role in enumerate(roles) if role == "system" and i > 0]
    if late:
        out.append(Finding("E211", f"messages[{late[0]}]: a system message after the first"))
    if "assistant" not in roles:
        out.append(Finding("E212", "no assistant message"))
    elif roles[-1] != "assistant":
        last = roles[-1] or "an unknown role"
        out.append(Finding("E213", f"the last message is from {last}, not the assistant"))


def _text_of(content: Any) -> str:
    """A message's text: the string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(t for t in texts if isinstance(t, str))
    return ""
