"""Image bytes → the data URL a fine-tuning service accepts (DESIGN §6).

The service takes JPEG, PNG or WEBP within size limits, and the model must see the pixels the
annotator saw, since the boxes were drawn on them. Most files already qualify and are sent byte
for byte: deciding that reads headers, plus a structural check of the whole file (PNG chunk CRCs,
JPEG markers and tables, WEBP chunks) that runs many times faster than decoding, because
decoding every image would dominate the run. Everything else is decoded, EXIF-transposed,
converted to 8-bit RGB(A), downscaled and re-encoded deterministically, so the same export gives
the same JSON Lines.

Pillow is imported inside the functions: importing this module must stay cheap.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from jsonl_bridge._soundness import Damage, damage_of
from jsonl_bridge.errors import BridgeError, ImageInvalidError, ImageTooLargeError

if TYPE_CHECKING:
    from PIL import Image, ImageFile

    from jsonl_bridge.mapping import ImageFormat, ImagesSpec

_MIME: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_KIND_OF_PILLOW: dict[str, ImageFormat] = {
    "JPEG": "jpeg",
    "MPO": "jpeg",  # a JPEG with extra pictures (depth, gain map) after the main one
    "PNG": "png",
    "WEBP": "webp",
}
_ORIENTATION_TAG = 0x0112
_TRANSPOSING = (2, 3, 4, 5, 6, 7, 8)
"""EXIF orientations that change the pixels shown (5 to 8 also swap width and height)."""
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_QUALITIES = (90, 80, 70, 60)
"""JPEG/WEBP qualities tried in turn until the encoded image fits `images.max_bytes`."""


@dataclass(frozen=True)
class EmbeddedImage:
    """An image as sent, and what embedding did to it."""

    url: str
    """`data:<mime>;base64,<...>`."""
    mime: str
    """The type of the bytes sent: image/jpeg, image/png or image/webp."""
    width: int
    height: int
    mode: str
    """Pillow's mode of the pixels sent (RGB or RGBA)."""
    displayed: tuple[int, int]
    """(width, height) after the EXIF orientation, before any downscale."""
    reencoded: bool
    """False: the original bytes were sent untouched."""
    nbytes: int
    """Bytes sent, before base64."""


def embed_image(data: bytes, spec: ImagesSpec, *, name: str) -> EmbeddedImage:
    """The data URL of `data`; `name` (the image reference) heads every error message.

    Raises ImageInvalidError (not an image, truncated, corrupt) and ImageTooLargeError
    (decompression bomb, still over `images.max_bytes` after re-encoding).
    """
    return pass_through(data, spec, name=name) or reencode(data, spec, name)


def pass_through(data: bytes, spec: ImagesSpec, *, name: str) -> EmbeddedImage | None:
    """`data` as it is when it already meets every limit, else None (it needs `reencode`).
    Reads headers only: cheap next to re-encoding, which worker processes can take on."""
    kind = _sniff(data)
    with _open(data, name) as image:
        if kind is not None and _passes_through(image, data, kind, spec, name):
            return EmbeddedImage(
                url=_data_url(_MIME[kind], data),
                mime=_MIME[kind],
                width=image.width,
                height=image.height,
                mode=image.mode,
                displayed=image.size,
                reencoded=False,
                nbytes=len(data),
            )
    return None


def _sniff(data: bytes) -> ImageFormat | None:
    """jpeg, png or webp from the magic bytes, else None (file names are never trusted)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _open(data: bytes, name: str) -> ImageFile.ImageFile:
    """The image with only its headers read; a decompression bomb is refused here."""
    from PIL import Image, UnidentifiedImageError

    with _pillow_errors(name, data):
        try:
            with warnings.catch_warnings():
                # Refused below with the image's size in the message rather than warned about.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            raise ImageInvalidError(f"image {name!r}: {_looks_like(data)}") from exc
    limit = Image.MAX_IMAGE_PIXELS  # read now: users may change it
    if limit is not None and image.width * image.height > limit:
        image.close()
        raise ImageTooLargeError(
            f"image {name!r}: {image.width}x{image.height} is {image.width * image.height:,} "
            f"pixels, over PIL.Image.MAX_IMAGE_PIXELS ({limit:,}): refused as a possible "
            "decompression bomb (raise that limit if the image is genuine)"
        )
    if image.format == "EPS":
        image.close()
        raise ImageInvalidError(f"image {name!r}: EPS is PostScript, not an image format here")
    return image


def _passes_through(
    image: ImageFile.ImageFile,
    data: bytes,
    kind: ImageFormat,
    spec: ImagesSpec,
    name: str,
) -> bool:
    """Whether the original bytes already meet every limit; cheapest checks first."""
    if kind not in spec.formats or _KIND_OF_PILLOW.get(image.format or "") != kind:
        return False
    if image.mode not in ("RGB", "RGBA"):
        return False
    if len(data) > spec.max_bytes or max(image.size) > spec.max_side:
        return False
    if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
        return False
    with _pillow_errors(name, data):
        if _orientation(image, data) in _TRANSPOSING:
            return False
    damage = damage_of(kind, data, multi_picture=image.format == "MPO")
    if damage is not None:
        _decode_or_refuse(image, damage, name)
    return True


def _decode_or_refuse(image: ImageFile.ImageFile, damage: Damage, name: str) -> None:
    """Decide on bytes the structural check found wrong, by decoding them.

    A file that ends early or carries bytes after its end is sent if Pillow decodes it, as
    before: cameras and old writers produce such files and decoders cope. Damage inside the
    file (a CRC mismatch, a bad table or segment length, a stray marker in the entropy-coded
    data) is refused even when Pillow decodes it: libjpeg only warns about corrupt entropy
    data and fills in gray, Pillow does not check IDAT CRCs, so "it decodes" does not mean
    the pixels are those the annotator saw, and stricter decoders (libpng rejects a critical
    chunk with a bad CRC) may fail the fine-tuning job on it.
    """
    try:
        image.load()
    except (BridgeError, MemoryError):
        raise
    except Exception as exc:  # decoders of untrusted bytes raise many types; all mean "unusable"
        raise ImageInvalidError(
            f"image {name!r}: {damage.summary}; Pillow cannot decode it either "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if damage.fatal:
        raise ImageInvalidError(
            f"image {name!r}: {damage.summary} (Pillow decodes it regardless, but stricter "
            "decoders refuse such files and its pixels may be damaged: export it again)"
        )


def _orientation(image: ImageFile.ImageFile, data: bytes) -> object:
    """The EXIF (or XMP) orientation, from the headers already read."""
    from PIL import Image

    if image.format == "PNG" and not _png_has_exif(data):
        # PngImageFile.getexif() decodes the whole image to look for an eXIf chunk after the
        # pixel data; these bytes have none, so the headers read so far are enough.
        return Image.Image.getexif(image).get(_ORIENTATION_TAG)
    return image.getexif().get(_ORIENTATION_TAG)


def _png_has_exif(data: bytes) -> bool:
    """Whether a PNG has an eXIf chunk, from the chunk headers alone (a search of the bytes
    would read them all)."""
    pos = 8
    while pos + 8 <= len(data):
        chunk = data[pos + 4 : pos + 8]
        if chunk == b"eXIf":
            return True
        if chunk == b"IEND":
            return False
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return False


def reencode(data: bytes, spec: ImagesSpec, name: str) -> EmbeddedImage:
    """Decode, orient as displayed, convert, downscale and encode to `spec.format`."""
    from PIL import ImageOps

    image: Image.Image = _open(data, name)
    with _pillow_errors(name, data):
        image.load()  # the first frame of an animation
        ImageOps.exif_transpose(image, in_place=True)
        displayed = image.size
        icc = image.info.get("icc_profile")
        # Each step rebinds `image`, so the previous pixels are freed as soon as it is done.
        image = _to_8bit(image, spec.format)
        image = _downscale(image, spec.max_side)
    # Kept only when it describes RGB data: a CMYK or gray profile would be wrong on RGB output.
    keep_icc = icc if isinstance(icc, bytes) and icc[16:20] == b"RGB " else None
    encoded = _encode(image, spec, keep_icc, name)
    mime = _MIME[spec.format]
    return EmbeddedImage(
        url=_data_url(mime, encoded),
        mime=mime,
        width=image.width,
        height=image.height,
        mode=image.mode,
        displayed=displayed,
        reencoded=True,
        nbytes=len(encoded),
    )


def _to_8bit(image: Image.Image, target: ImageFormat) -> Image.Image:
    """8-bit RGB, or RGBA when the image has transparency and `target` can keep it (JPEG
    cannot: transparent pixels are composited over white, as a viewer shows them)."""
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        image = _gray_to_8bit(image)
    if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
        return image if image.mode == "RGB" else image.convert("RGB")
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    if target != "jpeg":
        return image
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image)
    return flat


def _gray_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit or float gray → 8-bit gray ("L").

    16-bit scales the full range linearly (v / 257, rounded), as a browser shows a 16-bit PNG:
    the annotator saw that, and the same value always gives the same gray. 32-bit integer and
    float images have no display range, so their own min..max is stretched to 0..255.
    Pillow's own conversion clips at 255, which turns 16-bit data white.
    """
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:
        low, high = cast("tuple[float, float]", image.getextrema())  # one band: (min, max)
    scale = 255 / (high - low) if high > low else 0.0
    # F → L truncates, so + 0.5 rounds.
    return image.convert("F").point(lambda v: (v - low) * scale + 0.5).convert("L")


def _downscale(image: Image.Image, max_side: int) -> Image.Image:
    """`image` with its longest side at most `max_side`, aspect ratio kept (LANCZOS)."""
    from PIL import Image

    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _encode(image: Image.Image, spec: ImagesSpec, icc: bytes | None, name: str) -> bytes:
    """`image` in `spec.format`, at the highest quality that fits `spec.max_bytes`.

    Deterministic: no metadata but the ICC profile (EXIF is dropped, its orientation having been
    applied), and neither JPEG, PNG nor WEBP writes a timestamp.
    """
    image.info = {}  # PNG and others would otherwise copy text chunks, EXIF, DPI along
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    qualities: tuple[int | None, ...] = (None,) if spec.format == "png" else _QUALITIES
    for quality in qualities:
        if quality is not None:
            options["quality"] = quality
        out = io.BytesIO()
        image.save(out, spec.format.upper(), **options)
        if out.tell() <= spec.max_bytes:
            return out.getvalue()
    how = "" if quality is None else f" at quality {quality}"
    advice = "lower images.max_side or raise images.max_bytes"
    if spec.format == "png":
        advice += ", or re-encode to jpeg or webp (images.format)"
    raise ImageTooLargeError(
        f"image {name!r}: {out.tell():,} bytes as {spec.format.upper()}{how} at "
        f"{image.width}x{image.height}, over images.max_bytes ({spec.max_bytes:,}): {advice}"
    )


def _data_url(mime: str, payload: bytes) -> str:
    """`data:<mime>;base64,<payload>`. pybase64 (SIMD) encodes about 5x faster than the
    standard library, and base64 is most of the cost of passing an image through."""
    import pybase64

    return f"data:{mime};base64,{pybase64.b64encode_as_string(payload)}"


def _looks_like(data: bytes) -> str:
    """What bytes Pillow cannot identify look like, cheaply."""
    if not data:
        return "not an image (empty)"
    kind = _sniff(data)
    if kind is not None:
        damage = damage_of(kind, data)
        found = f" ({damage.what})" if damage else ""
        return f"truncated or corrupt: a {kind.upper()} header that cannot be read{found}"
    return f"not an image (starts with {data[:8]!r})"


@contextmanager
def _pillow_errors(name: str, data: bytes) -> Iterator[None]:
    """Turn what Pillow raises on bad bytes into the errors the rejects file reports."""
    from PIL import Image

    try:
        yield
    except (BridgeError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"image {name!r}: {exc} (the limit is PIL.Image.MAX_IMAGE_PIXELS)"
        ) from exc
    except Exception as exc:  # decoders of untrusted bytes raise many types; all mean "unusable"
        damage = damage_of(_sniff(data), data)
        what = f"{damage.summary};" if damage else "corrupt or unsupported:"
        raise ImageInvalidError(f"image {name!r}: {what} {type(exc).__name__}: {exc}") from exc
