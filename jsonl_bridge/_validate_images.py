"""Check one image URL of an example against a profile, reading the image header only.

A data URL is decoded (base64 is checked strictly), then Pillow's `Image.open` reads the
header, which gives format, mode and size without decoding pixels; the structural walk of
`_soundness` finds truncated or corrupt files at several hundred MB/s. An http(s) URL is not
fetched: it is reported as unchecked (W107).
"""

from __future__ import annotations

import binascii
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jsonl_bridge._soundness import damage_of
from jsonl_bridge._validate_codes import Finding

if TYPE_CHECKING:
    from jsonl_bridge.mapping import ImageFormat
    from jsonl_bridge.profiles import Profile

_KIND: dict[str, ImageFormat] = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp"}
_MIME_OF_FORMAT = {"MPO": "image/jpeg"}
"""Pillow formats whose bytes are served as another type (an MPO is a JPEG with extras)."""

LOW_DETAIL_TOKENS = 85
"""Token cost of an image sent with `detail: low`, and the base of every high-detail one."""
TILE_TOKENS = 170
"""Token cost of each 512 px tile of a high-detail image."""
UNKNOWN_SIZE_TOKENS = 765
"""An image whose size is unknown (remote, unreadable) is costed as a 1024x1024 one."""


@dataclass
class ImageFacts:
    """What one image part holds, and what is wrong with it."""

    findings: list[Finding] = field(default_factory=list)
    format: str | None = None
    width: int | None = None
    height: int | None = None
    nbytes: int | None = None
    tokens: int = UNKNOWN_SIZE_TOKENS


@dataclass(frozen=True)
class KnownImage:
    """An image whose bytes were made and checked in this process (`bridge convert`'s own
    embedding): checked against the profile from these facts, not decoded again."""

    format: str
    """Pillow's name: JPEG, PNG, WEBP."""
    mode: str
    width: int
    height: int
    nbytes: int


def check_image(
    url: str, detail: object, profile: Profile, where: str, known: KnownImage | None = None
) -> ImageFacts:
    """The facts and findings of the image at `url` (a data URL or an http(s) URL)."""
    facts = ImageFacts()
    if known is not None:
        facts.nbytes = known.nbytes
        _check_limits(known.format, known.mode, (known.width, known.height), profile, where, facts)
    elif url.startswith(("http://", "https://")):
        facts.findings.append(Finding("W107", f"{where}: remote image not fetched, not checked"))
    else:
        data, declared = _decode(url, where, facts.findings)
        if data is not None and declared is not None:
            _check_bytes(data, declared, profile, where, facts)
    if detail == "low":
        facts.tokens = LOW_DETAIL_TOKENS
    elif facts.width and facts.height:
        facts.tokens = high_detail_tokens(facts.width, facts.height)
    return facts


def high_detail_tokens(width: int, height: int) -> int:
    """OpenAI's published cost of a `detail: high` image: fit in 2048x2048, scale the short
    side down to 768, then 85 tokens plus 170 per 512 px tile."""
    fit = min(1.0, 2048 / max(width, height))
    scale = fit * min(1.0, 768 / (min(width, height) * fit))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return LOW_DETAIL_TOKENS + TILE_TOKENS * tiles


def _decode(url: str, where: str, findings: list[Finding]) -> tuple[bytes | None, str | None]:
    """The bytes and declared MIME type of a `data:<type>;base64,<payload>` URL."""
    import pybase64

    header, comma, payload = url.partition(",")
    if not url.startswith("data:") or not comma:
        shown = url[:40] + ("..." if len(url) > 40 else "")
        findings.append(Finding("E301", f"{where}: not a data URL nor http(s): {shown!r}"))
        return None, None
    mime, *params = header[5:].split(";")
    if "base64" not in params:
        findings.append(Finding("E301", f"{where}: data URL is not ;base64 encoded"))
        return None, None
    if not mime.lower().startswith("image/"):
        findings.append(Finding("E301", f"{where}: data URL type {mime!r} is not image/*"))
        return None, None
    try:
        data = pybase64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        findings.append(Finding("E302", f"{where}: invalid base64: {exc}"))
        return None, None
    return data, mime.lower()


def _check_bytes(
    data: bytes, declared: str, profile: Profile, where: str, facts: ImageFacts
) -> None:
    from PIL import Image, UnidentifiedImageError

    facts.nbytes = len(data)
    out = facts.findings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        out.append(Finding("E308", f"{where}: {exc}"))
        return
    except UnidentifiedImageError:
        out.append(Finding("E303", f"{where}: the bytes are not an image ({data[:8]!r}...)"))
        return
    except Exception as exc:  # header parsers of untrusted bytes raise many types
        out.append(Finding("E303", f"{where}: unreadable image header: {exc}"))
        return
    with image:
        fmt, mode, size = image.format or "?", image.mode, image.size
    actual = _MIME_OF_FORMAT.get(fmt) or Image.MIME.get(fmt, f"({fmt})")
    if declared != actual:
        out.append(Finding("E304", f"{where}: declared {declared}, the bytes are {actual}"))
    _check_limits(fmt, mode, size, profile, where, facts)
    damage = damage_of(_KIND.get(fmt), data, multi_picture=fmt == "MPO")
    if damage is not None and damage.fatal:  # a missing end or trailing bytes: decoders cope
        out.append(Finding("E310", f"{where}: {damage.summary}"))


def _check_limits(
    fmt: str, mode: str, size: tuple[int, int], profile: Profile, where: str, facts: ImageFacts
) -> None:
    """The profile's limits on an image's bytes, pixels, format and mode."""
    from PIL import Image

    out = facts.findings
    width, height = size
    facts.format, facts.width, facts.height = fmt, width, height
    if facts.nbytes is not None and facts.nbytes > profile.max_image_bytes:
        limit = profile.max_image_bytes
        out.append(Finding("E307", f"{where}: {facts.nbytes:,} bytes, over {limit:,}"))
    max_pixels = Image.MAX_IMAGE_PIXELS  # read now: users may change it
    if max_pixels is not None and width * height > max_pixels:
        message = f"{where}: {width}x{height} pixels, over {max_pixels:,} (a decompression bomb?)"
        out.append(Finding("E308", message))
    if fmt not in profile.image_formats and not (fmt == "MPO" and "JPEG" in profile.image_formats):
        allowed = ", ".join(sorted(profile.image_formats))
        out.append(Finding("E305", f"{where}: format {fmt}, not one of {allowed}"))
    if mode not in profile.image_modes:
        allowed = ", ".join(sorted(profile.image_modes))
        out.append(Finding("E306", f"{where}: mode {mode}, not one of {allowed}"))
