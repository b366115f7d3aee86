"""The output side: chat messages in the fine-tuning service's role/content shape.

msgspec Structs like the records (jsonl_bridge/records.py): a message and its parts are
built for every example, and `to_json_dict` runs for every line written.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from jsonl_bridge.records import Source

Role = Literal["system", "user", "assistant"]


class _Frozen(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class TextPart(_Frozen, tag_field="type", tag="text", frozen=True, kw_only=True):
    type: ClassVar[str] = "text"
    text: str


class ImageURL(_Frozen, frozen=True, kw_only=True):
    url: str
    plain_base64: ClassVar[bool] = False
    """Made by embedding (`EmbeddedImageURL`): JSON needs no escaping in it."""


class EmbeddedImageURL(ImageURL, frozen=True, kw_only=True):
    """A data URL made by embedding: `data:<mime>;base64,` and pybase64's output, which the
    writer copies into the line without checking its alphabet again (the check reads every
    byte; images are most of the output)."""

    plain_base64: ClassVar[bool] = True


class ImagePart(_Frozen, tag_field="type", tag="image_url", frozen=True, kw_only=True):
    """An image part; `url` is a data URL once media has been embedded."""

    type: ClassVar[str] = "image_url"
    image_url: ImageURL


Part = TextPart | ImagePart


class Message(_Frozen, frozen=True, kw_only=True):
    role: Role
    content: str | list[Part]


class Example(_Frozen, frozen=True, kw_only=True):
    """One training example and the task it came from (the source is not written out)."""

    id: str
    source: Source
    messages: list[Message]

    def to_json_dict(self) -> dict[str, Any]:
        """The exact object written as one JSON Lines line."""
        return {"messages": msgspec.to_builtins(self.messages)}

    def _repr_html_(self) -> str:
        """Notebooks show the preview report's card: chat bubbles, the image with its boxes."""
        from jsonl_bridge._preview_cards import example_html

        return example_html(self.to_json_dict())
