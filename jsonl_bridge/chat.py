"""The output side: chat messages in the fine-tuning service's role/content shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from jsonl_bridge.records import Source

Role = Literal["system", "user", "assistant"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPart(_Frozen):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Frozen):
    url: str
    _plain_base64: bool = PrivateAttr(default=False)

    @classmethod
    def embedded(cls, url: str) -> ImageURL:
        """A data URL made by embedding: `data:<mime>;base64,` and pybase64's output, which
        the writer copies into the line without checking its alphabet again (the check
        reads every byte; images are most of the output)."""
        made = cls(url=url)
        made._plain_base64 = True
        return made

    @property
    def plain_base64(self) -> bool:
        """Made by `embedded`: JSON needs no escaping in it."""
        return self._plain_base64


class ImagePart(_Frozen):
    """An image part; `url` is a data URL once media has been embedded."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(_Frozen):
    role: Role
    content: str | list[Part]


class Example(_Frozen):
    """One training example and the task it came from (the source is not written out)."""

    id: str
    source: Source
    messages: list[Message]

    def to_json_dict(self) -> dict[str, Any]:
        """The exact object written as one JSON Lines line."""
        return {"messages": [m.model_dump(mode="json") for m in self.messages]}

    def _repr_html_(self) -> str:
        """Notebooks show the preview report's card: chat bubbles, the image with its boxes."""
        from jsonl_bridge._preview_cards import example_html

        return example_html(self.to_json_dict())
