"""Target profiles: what a fine-tuning service accepts, as data (DESIGN §12).

A profile is one row of `PROFILES`; the checks in `_validate_example` read its numbers and
never name a service, so supporting another target is adding a row. Where each number comes
from is cited in docs/validate.md.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from jsonl_bridge.errors import UsageError


@dataclass(frozen=True)
class Profile:
    """The limits one fine-tuning target puts on a chat JSON Lines file."""

    name: str
    description: str
    max_images_per_example: int
    max_image_bytes: int
    """Per image, decoded bytes (not the base64 text)."""
    image_formats: frozenset[str]
    """Pillow format names (`JPEG`, `PNG`, `WEBP`); MPO counts as JPEG."""
    image_modes: frozenset[str]
    """Pillow modes (`RGB`, `RGBA`)."""
    max_tokens_per_example: int
    min_examples: int
    roles: frozenset[str]
    message_keys: frozenset[str]


_OPENAI_KEYS = frozenset({"role", "content", "name", "weight"})
_CHAT_ROLES = frozenset({"system", "user", "assistant"})
_SERVICE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_SERVICE_MODES = frozenset({"RGB", "RGBA"})

_OPENAI = Profile(
    name="openai",
    description="OpenAI chat and vision fine-tuning (the default)",
    max_images_per_example=10,
    max_image_bytes=10 * 1024 * 1024,
    image_formats=_SERVICE_FORMATS,
    image_modes=_SERVICE_MODES,
    max_tokens_per_example=65_536,
    min_examples=10,
    roles=_CHAT_ROLES,
    message_keys=_OPENAI_KEYS,
)

PROFILES: dict[str, Profile] = {
    "azure-openai": replace(
        _OPENAI,
        name="azure-openai",
        description="Azure OpenAI fine-tuning (gpt-4o, gpt-4.1): as openai, 64 images",
        max_images_per_example=64,
    ),
    "openai": _OPENAI,
}
DEFAULT_PROFILE = "openai"


def get_profile(name: str) -> Profile:
    """The profile called `name`; an unknown name is a usage error with a suggestion."""
    profile = PROFILES.get(name)
    if profile is not None:
        return profile
    close = difflib.get_close_matches(name, list(PROFILES), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown profile {name!r}{hint}; profiles: {', '.join(sorted(PROFILES))}")
