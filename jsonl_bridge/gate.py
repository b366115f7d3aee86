"""The last quality gate: `bridge validate`'s checks on every example `convert` writes.

An example that would fail `bridge validate` (or the training job) is rejected (reason
`invalid_example`, with the codes and messages as detail) and never written: the output of
`convert` always validates. Images embedded in this run are checked from what embedding knows
(format, mode, size, bytes) rather than decoded a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jsonl_bridge._validate_example import inspect_example
from jsonl_bridge._validate_images import KnownImage
from jsonl_bridge._validate_output import OutputRule
from jsonl_bridge.profiles import Profile, get_profile

if TYPE_CHECKING:
    from jsonl_bridge.chat import Example
    from jsonl_bridge.embed import EmbeddedImage
    from jsonl_bridge.mapping import Mapping

_FORMAT_OF_MIME = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


_ANNOTATED_PIXELS = frozenset({"xyxy", "xywh"})
"""Box conventions counted in pixels of the image as annotated (docs/images.md)."""


class Gate:
    """Checks examples against a target profile and the shape the mapping declares."""

    def __init__(self, mapping: Mapping, profile: str):
        self.profile: Profile = get_profile(profile)
        self._rule = OutputRule.from_mapping(mapping)
        self.over_tokens = 0
        """Examples over the profile's token estimate (a warning: services truncate them)."""
        self.shrunk_under_pixel_boxes = 0
        """Examples whose boxes are pixels of the image as annotated (`xyxy`, `xywh`) while
        the image was sent downscaled: the model sees other pixels than the boxes count."""

    def problems(self, example: Example, images: Sequence[EmbeddedImage] = ()) -> str | None:
        """What is wrong with `example` as the service would see it, or None."""
        known = (
            {
                id(image.url): KnownImage(
                    _FORMAT_OF_MIME.get(image.mime, image.mime),
                    image.mode,
                    image.width,
                    image.height,
                    image.nbytes,
                )
                for image in images
            }
            if images
            else None
        )
        if self._rule.convention in _ANNOTATED_PIXELS and any(
            image.displayed != (image.width, image.height) for image in images
        ):
            self.shrunk_under_pixel_boxes += 1
        facts = inspect_example(example.to_json_dict(), self.profile, self._rule, known)
        if facts.tokens > self.profile.max_tokens_per_example:
            self.over_tokens += 1
        errors = [f for f in facts.findings if f.severity == "error"]
        if not errors:
            return None
        return "; ".join(f"{f.code} {f.message}" for f in errors)

    def warnings(self) -> list[str]:
        """What the run should say about the examples it wrote."""
        said = []
        if self.over_tokens:
            said.append(
                f"{self.over_tokens} examples are over the {self.profile.name} profile's "
                f"{self.profile.max_tokens_per_example:,} tokens (estimated; see "
                "docs/validate.md): the service truncates them"
            )
        if self.shrunk_under_pixel_boxes:
            said.append(
                f"{self.shrunk_under_pixel_boxes} examples send a downscaled image (images."
                f"max_side) with boxes in pixels of the image as annotated "
                f"({self._rule.convention}): the model sees other pixels than the boxes "
                "count; use qwen (pixels as sent), gemini or xyxy_norm, or send the full size"
            )
        return said
