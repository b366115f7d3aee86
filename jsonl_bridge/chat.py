"""The output side: chat messages in the fine-tuning service's role/content shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jsonl_bridge.records import Source

Role = Literal["system", "user", "assistant"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPart(_Frozen):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Frozen):
    url: str


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
