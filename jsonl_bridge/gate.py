"""The last quality gate: `bridge validate`'s checks on every example `convert` writes.

An example that would fail `bridge validate` (or the training job) is rejected (reason
`invalid_example`, with the codes and messages as detail) and never written: the output of
`convert` always validates. Images embedded in this run are checked from what embedding knows
(format, mode, size, bytes) rather than decoded a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jsonl_bridge._validate_codes import Finding
from jsonl_bridge._validate_example import inspect_example, text_tokens, usual_text
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
        self._said_of_output: dict[str, str | None] = {}
        """`_output_problems` of the outputs seen (bounded: `CHECKED_OUTPUTS`)."""
        self.over_tokens = 0
        """Examples over the profile's token estimate (a warning: services truncate them)."""
        self.shrunk_under_pixel_boxes = 0
        """Examples whose boxes are pixels of the image as annotated (`xyxy`, `xywh`) while
        the image was sent downscaled: the model sees other pixels than the boxes count."""

    def problems(self, example: Example, images: Sequence[EmbeddedImage] = ()) -> str | None:
        """What is wrong with `example` as the service would see it, or None."""
        if not images and type(example.messages) is list:
            usual = usual_text(example.messages, self.profile)
            if usual is not None:
                chars, output = usual
                if text_tokens(chars) > self.profile.max_tokens_per_example:
                    self.over_tokens += 1
                return self._output_problems(output)
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
        return _joined(facts.findings)

    def _output_problems(self, output: str) -> str | None:
        """The problems of a usual example (see `usual_text`): its output's under the
        mapping's rule, as `bridge validate` checks it (a usual output is never blank). A
        label is checked once per distinct output (a classification has a handful); other
        outputs rarely repeat, and are not kept."""
        if self._rule.kind != "label":
            return _joined(self._rule.check(output))
        said = self._said_of_output
        if output in said:
            return said[output]
        problems = said[output] = _joined(self._rule.check(output))
        if len(said) > CHECKED_OUTPUTS:
            del said[next(iter(said))]  # the oldest
        return problems

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


def _joined(findings: list[Finding]) -> str | None:
    """The errors among `findings`, as a reject's detail (None: nothing refuses the example)."""
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return None
    return "; ".join(f"{f.code} {f.message}" for f in errors)


CHECKED_OUTPUTS = 4096
"""How many distinct labels the gate remembers the check of (the oldest go)."""
