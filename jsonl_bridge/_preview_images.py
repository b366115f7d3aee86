"""Small JPEG thumbnails of an example's images, so that a preview page stays small.

Images are shown as stored: the EXIF orientation is reported, never applied. Boxes are
pixels of the stored image (or per mille of it), so drawing them on anything else would hide
the very rotation mix-up a preview is for. Remote images are not fetched: a preview page
must work, and be made, without a network.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

THUMB_SIDE = 256
"""The longest side of a thumbnail, in pixels."""
THUMB_QUALITY = 80
ORIENTATION_TAG = 0x0112
"""EXIF Orientation; 1 (or absent) is upright."""


@dataclass(frozen=True)
class Thumbnail:
    """An image as the page shows it: its stored size (the boxes' pixel space), the
    thumbnail's data URL and size, or why it cannot be shown."""

    url: str | None
    width: int = 0
    height: int = 0
    thumb_width: int = 0
    thumb_height: int = 0
    format: str | None = None
    orientation: int = 1
    problem: str | None = None


def thumbnail(url: str, side: int = THUMB_SIDE) -> Thumbnail:
    """A thumbnail of the image at `url` (a data URL), at most `side` pixels each way."""
    if url.startswith(("http://", "https://")):
        return Thumbnail(None, problem="a remote image: not fetched")
    data = _data_url_bytes(url)
    if data is None:
        return Thumbnail(None, problem="not a base64 data URL")
    try:
        return _shrink(data, side)
    except Exception as exc:  # decoders of untrusted bytes raise many types
        # The type, not the message: messages can hold object addresses, and the same file
        # must give the same page.
        return Thumbnail(None, problem=f"cannot be decoded ({type(exc).__name__})")


def _data_url_bytes(url: str) -> bytes | None:
    header, comma, payload = url.partition(",")
    if not (url.startswith("data:") and comma and header.endswith(";base64")):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _shrink(data: bytes, side: int) -> Thumbnail:
    from PIL import Image

    with warnings.catch_warnings():
        # a bomb is refused by Pillow's own limit (an error); its warning would only be noise
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
    with image:
        width, height = image.size
        if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
            # Pillow only refuses twice its limit; validate reports this one as E308
            return Thumbnail(None, problem=f"{width}x{height} pixels: too many to decode")
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
        image.draft("RGB", (side, side))  # JPEG: decode at a reduced scale, much faster
        small = _on_white(image)
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=THUMB_QUALITY)
        return Thumbnail(
            url="data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii"),
            width=width,
            height=height,
            thumb_width=small.width,
            thumb_height=small.height,
            format=image.format,
            orientation=orientation if isinstance(orientation, int) else 1,
        )


def _on_white(image: Image.Image) -> Image.Image:
    """RGB pixels for JPEG; transparent parts shown on white, as a page would show them."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")
