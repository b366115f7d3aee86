"""Image embedding: pass-through, EXIF orientation, mode conversions, limits, bad bytes."""

from __future__ import annotations

import base64
import io
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageOps, ImageStat

from jsonl_bridge.embed import EmbeddedImage, embed_image
from jsonl_bridge.errors import ImageError, ImageInvalidError, ImageTooLargeError
from jsonl_bridge.mapping import ImagesSpec

EXIF6 = (
    Path(__file__).parent
    / "fixtures/label-studio/qc-defects/media/upload/6/781e75a6-qc_part_03_exif6.jpg"
)
MIMES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def sent_bytes(result: EmbeddedImage) -> bytes:
    prefix = f"data:{result.mime};base64,"
    assert result.url.startswith(prefix)
    payload = base64.b64decode(result.url[len(prefix) :], validate=True)
    assert len(payload) == result.nbytes
    return payload


def sent_image(result: EmbeddedImage) -> Image.Image:
    image = Image.open(io.BytesIO(sent_bytes(result)))
    assert MIMES[image.format or ""] == result.mime  # the MIME type is the bytes' real type
    assert image.size == (result.width, result.height)
    return image


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A picture with structure, so rotations and flips are told apart."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = red.transpose(Image.Transpose.ROTATE_90).resize(size)
    blue = Image.new("L", size, 60)
    blue.paste(255, (0, 0, width // 3, height // 4))
    return Image.merge("RGB", (red, green, blue)).convert(mode)


def noisy_gradient(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A gradient with seeded noise: compresses like a photograph, unlike a plain gradient."""
    width, height = size
    noise = Image.frombytes("RGB", size, random.Random(seed).randbytes(width * height * 3))
    return Image.blend(gradient(size), noise, 0.25)


def decodes(data: bytes) -> bool:
    try:
        Image.open(io.BytesIO(data)).load()
    except Exception:
        return False
    return True


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def with_orientation(image: Image.Image, fmt: str, orientation: int, **options: object) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, fmt, exif=exif.tobytes(), **options)


# --- the real fixture: a JPEG stored 640x480 with EXIF Orientation=6 -------------------------


def test_exif_rotated_fixture_is_sent_as_displayed() -> None:
    result = embed_image(EXIF6.read_bytes(), ImagesSpec(), name=str(EXIF6))
    assert result.reencoded
    assert result.mime == "image/jpeg"
    assert (result.width, result.height) == (480, 640)
    assert result.displayed == (480, 640)
    sent = sent_image(result)
    assert sent.getexif().get(0x0112) is None  # orientation applied, EXIF stripped
    with Image.open(EXIF6) as stored:
        shown = ImageOps.exif_transpose(stored)
        wrong_way = stored.transpose(Image.Transpose.ROTATE_90)
    assert mean_difference(sent, shown) < 2  # JPEG re-encoding noise only
    assert mean_difference(sent, wrong_way) > 4 * mean_difference(sent, shown)


# --- pass-through --------------------------------------------------------------------------


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the pixels are decoded: passing through must read headers only."""

    def load(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("PNG", "RGB"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("WEBP", "RGB"), ("WEBP", "RGBA")],
)
@pytest.mark.usefixtures("no_decoding")
def test_valid_small_images_pass_through_byte_for_byte(fmt: str, mode: str) -> None:
    data = encode(gradient((40, 30), mode), fmt)
    result = embed_image(data, ImagesSpec(), name="a.bin")
    assert not result.reencoded
    assert sent_bytes(result) == data
    assert result.mime == MIMES[fmt]  # from the magic bytes: the name says nothing
    assert (result.width, result.height) == result.displayed == (40, 30)


@pytest.mark.usefixtures("no_decoding")
def test_webp_is_sent_as_image_webp() -> None:
    data = encode(gradient((20, 20)), "WEBP")
    result = embed_image(data, ImagesSpec(), name="photo.jpg")
    assert result.url.startswith("data:image/webp;base64,")
    assert result.mime == "image/webp"


@pytest.mark.parametrize("padding", [b"\0" * 7, b"\0" * 10_000])
@pytest.mark.usefixtures("no_decoding")
def test_jpeg_with_nul_padding_passes_through(padding: bytes) -> None:
    data = encode(gradient((32, 24)), "JPEG") + padding
    result = embed_image(data, ImagesSpec(), name="padded.jpg")
    assert not result.reencoded
    assert sent_bytes(result) == data


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_trailing_bytes_that_still_decode_pass_through(fmt: str) -> None:
    data = encode(gradient((32, 24)), fmt) + b"some trailer"
    result = embed_image(data, ImagesSpec(), name="trailer.bin")
    assert not result.reencoded
    assert sent_bytes(result) == data


@pytest.mark.usefixtures("no_decoding")
def test_orientation_1_passes_through() -> None:
    data = with_orientation(gradient((32, 24)), "JPEG", 1)
    result = embed_image(data, ImagesSpec(), name="upright.jpg")
    assert not result.reencoded
    assert sent_bytes(result) == data


@pytest.mark.usefixtures("no_decoding")
def test_multi_picture_jpeg_passes_through_as_jpeg() -> None:
    main, extra = gradient((32, 24)), gradient((16, 12))
    data = encode(main, "MPO", save_all=True, append_images=[extra])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = embed_image(data, ImagesSpec(), name="camera.jpg")
    assert not result.reencoded
    assert result.mime == "image/jpeg"
    assert sent_bytes(result) == data


def progressive_or_restarts(options: dict[str, object]) -> bytes:
    data = encode(noisy_gradient((96, 64)), "JPEG", quality=90, **options)
    if "restart_marker_blocks" in options or "restart_marker_rows" in options:
        if b"\xff\xdd" not in data:  # this Pillow ignored the option
            pytest.skip("Pillow cannot write restart markers")
        assert any(bytes([0xFF, 0xD0 + n]) in data for n in range(8))
    return data


@pytest.mark.parametrize(
    "options",
    [
        {"progressive": True},
        {"progressive": True, "subsampling": 0},
        {"restart_marker_blocks": 1},
        {"restart_marker_rows": 1},
        {"progressive": True, "restart_marker_blocks": 3},
        {"optimize": True, "subsampling": 2},
    ],
    ids=str,
)
@pytest.mark.usefixtures("no_decoding")
def test_progressive_and_restart_jpegs_pass_through(options: dict[str, object]) -> None:
    data = progressive_or_restarts(options)
    result = embed_image(data, ImagesSpec(), name="scans.jpg")
    assert not result.reencoded
    assert sent_bytes(result) == data


@pytest.mark.usefixtures("no_decoding")
def test_fill_bytes_before_a_jpeg_marker_pass_through() -> None:
    data = encode(gradient((32, 24)), "JPEG")
    data = data[:-2] + b"\xff\xff\xff\xd9"  # 0xFF fill bytes may precede any marker
    assert not embed_image(data, ImagesSpec(), name="fill.jpg").reencoded


def without_segments(data: bytes, marker: int) -> bytes:
    """`data` without its `marker` segments before the first scan."""
    pos, kept = 2, [data[:2]]
    while data[pos + 1] != 0xDA:
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if data[pos + 1] != marker:
            kept.append(data[pos:end])
        pos = end
    return b"".join([*kept, data[pos:]])


@pytest.mark.usefixtures("no_decoding")
def test_motion_jpeg_frame_without_huffman_tables_passes_through() -> None:
    # libjpeg supplies the standard tables a sequential JPEG omits (Motion-JPEG frames do);
    # Pillow writes those very tables unless it optimizes them.
    data = without_segments(encode(gradient((32, 24)), "JPEG"), 0xC4)
    assert b"\xff\xc4" not in data
    assert not embed_image(data, ImagesSpec(), name="frame.jpg").reencoded


def test_progressive_jpeg_without_huffman_tables_is_invalid() -> None:
    # For progressive JPEGs libjpeg has no standard tables to fall back on.
    data = encode(gradient((32, 24)), "JPEG", progressive=True)
    data = without_segments(data, 0xC4)
    with pytest.raises(ImageInvalidError, match=r"^image 'p\.jpg': corrupt: .*not defined"):
        embed_image(data, ImagesSpec(), name="p.jpg")


# --- re-encoding ---------------------------------------------------------------------------


def test_downscale_keeps_the_aspect_ratio() -> None:
    data = encode(gradient((800, 300)), "PNG")
    result = embed_image(data, ImagesSpec(max_side=400), name="wide.png")
    assert result.reencoded
    assert (result.width, result.height) == (400, 150)
    assert result.displayed == (800, 300)
    assert result.mime == "image/jpeg"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 60),
    height=st.integers(1, 60),
    max_side=st.integers(1, 60),
)
def test_longest_side_fits_and_aspect_is_kept(width: int, height: int, max_side: int) -> None:
    data = encode(Image.new("RGB", (width, height), "teal"), "PNG")
    result = embed_image(data, ImagesSpec(max_side=max_side, format="png"), name="x.png")
    assert max(result.width, result.height) == min(max_side, max(width, height))
    assert min(result.width, result.height) >= 1
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        for sent, side in ((result.width, width), (result.height, height)):
            assert abs(sent - side * scale) <= 0.5 or sent == 1  # never below 1 px


def test_format_outside_formats_is_reencoded_to_the_target() -> None:
    data = encode(gradient((40, 30)), "PNG")
    spec = ImagesSpec(formats=["jpeg"], format="webp")
    result = embed_image(data, spec, name="a.png")
    assert result.reencoded
    assert result.mime == "image/webp"
    assert sent_bytes(result)[8:12] == b"WEBP"
    assert sent_image(result).size == (40, 30)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_pillow_reads_are_reencoded(fmt: str) -> None:
    source = gradient((40, 30))
    result = embed_image(encode(source, fmt), ImagesSpec(format="png"), name=f"a.{fmt}")
    assert result.reencoded
    assert result.mime == "image/png"
    tolerance = 12 if fmt == "GIF" else 0  # GIF quantises to a palette
    assert mean_difference(sent_image(result), source) <= tolerance


def test_rgba_to_jpeg_is_composited_over_white() -> None:
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 10, 10))
    result = embed_image(encode(image, "PNG"), ImagesSpec(formats=[]), name="alpha.png")
    sent = sent_image(result)
    assert sent.mode == "RGB"
    assert all(c >= 245 for c in sent.getpixel((15, 5)))  # transparent → white, not black
    red, green, blue = sent.getpixel((4, 5))
    assert red > 180 and green < 30 and blue < 30


def test_rgba_to_png_keeps_alpha() -> None:
    image = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 32, 32))
    spec = ImagesSpec(max_side=32, format="png")
    result = embed_image(encode(image, "PNG"), spec, name="alpha.png")
    assert result.reencoded  # downscaled
    sent = sent_image(result)
    assert sent.mode == "RGBA"
    assert sent.getpixel((28, 8))[3] == 0
    assert sent.getpixel((4, 8)) == (0, 0, 255, 255)


def test_16_bit_grayscale_is_scaled_over_its_full_range() -> None:
    image = Image.new("I;16", (3, 1))
    for x, value in enumerate((0, 32896, 65535)):
        image.putpixel((x, 0), value)
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    result = embed_image(data, ImagesSpec(format="png"), name="thermal.png")
    assert result.reencoded
    sent = sent_image(result)
    assert sent.mode == "RGB"
    # v / 257: Pillow's own conversion would clip 32896 and 65535 to 255 alike.
    assert [sent.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128,) * 3, (255,) * 3]


def test_float_image_is_stretched_from_min_to_max() -> None:
    image = Image.new("F", (3, 1))
    for x, value in enumerate((-2.0, 0.5, 3.0)):
        image.putpixel((x, 0), value)
    result = embed_image(encode(image, "TIFF"), ImagesSpec(format="png"), name="depth.tif")
    sent = sent_image(result)
    assert [sent.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_palette_png_is_converted() -> None:
    image = gradient((40, 30)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    data = encode(image, "PNG")
    result = embed_image(data, ImagesSpec(format="png"), name="palette.png")
    assert result.reencoded
    sent = sent_image(result)
    assert sent.mode == "RGB"
    assert mean_difference(sent, image) == 0


def test_palette_png_with_transparency_keeps_it_in_png() -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.putpixel((0, 0), 0)
    data = encode(image, "PNG", transparency=0)
    sent = sent_image(embed_image(data, ImagesSpec(format="png"), name="p.png"))
    assert sent.getpixel((0, 0))[3] == 0
    assert sent.getpixel((1, 1)) == (255, 0, 0, 255)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_jpeg_that_is_not_rgb_is_converted(mode: str) -> None:
    data = encode(gradient((32, 24), mode), "JPEG")
    result = embed_image(data, ImagesSpec(), name="odd.jpg")
    assert result.reencoded
    assert sent_image(result).mode == "RGB"


@pytest.mark.parametrize("exif_at_end", [False, True])
def test_png_orientation_is_applied(exif_at_end: bool) -> None:
    data = with_orientation(gradient((30, 20)), "PNG", 6)
    if exif_at_end:  # some writers put eXIf after the pixel data
        start = data.index(b"eXIf") - 4
        end = start + 12 + int.from_bytes(data[start : start + 4], "big")
        chunk = data[start:end]
        data = data[:start] + data[end:-12] + chunk + data[-12:]
        assert data.index(b"eXIf") > data.index(b"IDAT")
    result = embed_image(data, ImagesSpec(format="png"), name="rotated.png")
    assert result.reencoded
    assert result.displayed == (20, 30)
    sent = sent_image(result)
    expected = gradient((30, 20)).transpose(Image.Transpose.ROTATE_270)
    assert mean_difference(sent, expected) == 0


def test_orientation_3_turns_the_pixels_without_swapping_the_size() -> None:
    source = gradient((32, 24))
    result = embed_image(with_orientation(source, "WEBP", 3), ImagesSpec(), name="upside.webp")
    assert result.reencoded
    assert result.displayed == (32, 24)
    sent = sent_image(result)
    turned = source.transpose(Image.Transpose.ROTATE_180)
    assert mean_difference(sent, turned) < mean_difference(sent, source) / 4


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_is_reencoded_from_its_first_frame(fmt: str) -> None:
    first, second = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), "blue")
    data = encode(first, fmt, save_all=True, append_images=[second], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    result = embed_image(data, ImagesSpec(format="png"), name=f"anim.{fmt}")
    assert result.reencoded
    red, green, blue = sent_image(result).getpixel((8, 8))
    assert red > 240 and green < 15 and blue < 15


def test_reencoding_is_deterministic() -> None:
    data = EXIF6.read_bytes()
    for target in ("jpeg", "png", "webp"):
        spec = ImagesSpec(format=target)
        first = embed_image(data, spec, name="a.jpg")
        assert embed_image(data, spec, name="a.jpg").url == first.url


def test_rgb_icc_profile_is_kept_and_exif_dropped() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = with_orientation(gradient((32, 24)), "JPEG", 8, icc_profile=icc)
    result = embed_image(data, ImagesSpec(), name="icc.jpg")
    assert result.reencoded
    sent = sent_image(result)
    assert sent.info.get("icc_profile") == icc
    assert "exif" not in sent.info


@pytest.mark.parametrize("target", ["jpeg", "png", "webp"])
def test_cmyk_icc_profile_is_not_put_on_rgb_output(target: str) -> None:
    fake_cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    image = gradient((32, 24), "CMYK")
    data = encode(image, "JPEG", icc_profile=fake_cmyk_profile)
    sent = sent_image(embed_image(data, ImagesSpec(format=target), name="cmyk.jpg"))
    assert "icc_profile" not in sent.info


# --- limits --------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("size", [(12, 10), (40, 40)])  # over the limit; over twice the limit
def test_decompression_bomb_is_refused(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    data = encode(Image.new("RGB", size), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png.*MAX_IMAGE_PIXELS"):
        embed_image(data, ImagesSpec(), name="bomb.png")


def test_bomb_limit_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(Image.new("RGB", (12, 10)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert not embed_image(data, ImagesSpec(), name="big.png").reencoded


def test_quality_is_lowered_until_the_image_fits() -> None:
    noise = Image.merge("RGB", [Image.effect_noise((96, 96), 80) for _ in range(3)])
    at_90, at_60 = len(encode(noise, "JPEG", quality=90)), len(encode(noise, "JPEG", quality=60))
    max_bytes = (at_90 + at_60) // 2
    data = encode(noise, "PNG")
    result = embed_image(data, ImagesSpec(max_bytes=max_bytes), name="noise.png")
    assert result.reencoded
    assert at_60 <= result.nbytes <= max_bytes < at_90


@pytest.mark.parametrize("target", ["jpeg", "png"])
def test_still_too_large_says_what_to_change(target: str) -> None:
    noise = Image.merge("RGB", [Image.effect_noise((64, 64), 80) for _ in range(3)])
    spec = ImagesSpec(max_bytes=200, format=target)
    with pytest.raises(
        ImageTooLargeError, match=r"noise\.png.*images\.max_side.*images\.max_bytes"
    ):
        embed_image(encode(noise, "PNG"), spec, name="noise.png")


def test_large_file_within_max_side_is_reencoded_to_fit() -> None:
    data = encode(Image.merge("RGB", [Image.effect_noise((64, 48), 40) for _ in range(3)]), "PNG")
    result = embed_image(data, ImagesSpec(max_bytes=len(data) - 1), name="heavy.png")
    assert result.reencoded
    assert result.nbytes < len(data)


# --- bad bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_image_is_invalid_and_named(fmt: str) -> None:
    noise = Image.merge("RGB", [Image.effect_noise((64, 64), 80) for _ in range(3)])
    data = encode(noise, fmt)
    with pytest.raises(ImageInvalidError, match=r"^image '/data/upload/6/x': truncated or corrupt"):
        embed_image(data[: len(data) * 2 // 3], ImagesSpec(), name="/data/upload/6/x")


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "%PDF"),
        (b"<!DOCTYPE html><html>", "<!DOCTYP"),
        (bytes(range(256)) * 4, r"\\x00\\x01"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG header"),
    ],
)
def test_not_an_image_is_invalid(data: bytes, shown: str) -> None:
    with pytest.raises(ImageInvalidError, match=rf"^image 'doc\.png': .*{shown}"):
        embed_image(data, ImagesSpec(), name="doc.png")


def test_postscript_is_refused_before_ghostscript_runs() -> None:
    data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n"
    assert Image.open(io.BytesIO(data)).format == "EPS"
    with pytest.raises(ImageInvalidError, match="EPS"):
        embed_image(data, ImagesSpec(), name="doc.eps")


def corrupted(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(["PNG", "JPEG", "WEBP", "GIF"]))
    data = bytearray(encode(gradient((24, 16)), fmt))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=60, deadline=None)
@given(data=st.composite(corrupted)())
def test_damaged_bytes_only_ever_raise_image_errors(data: bytes) -> None:
    try:
        result = embed_image(data, ImagesSpec(), name="fuzz")
    except ImageError as exc:
        assert str(exc).startswith("image 'fuzz': ")
    else:
        sent_image(result)  # its data URL holds an image of the declared type and size


# --- corrupt files: the structural checks of what passes through ---------------------------


def test_png_with_flipped_idat_bytes_is_invalid() -> None:
    # The reviewer's case: a 640x480 noise PNG with bytes 5000-5399 inverted.
    noise = Image.frombytes("RGB", (640, 480), random.Random(1).randbytes(640 * 480 * 3))
    data = bytearray(encode(noise, "PNG"))
    for k in range(5000, 5400):
        data[k] ^= 0xFF
    assert not decodes(bytes(data))  # Pillow: "broken data stream"
    with pytest.raises(
        ImageInvalidError,
        match=r"^image 'scans/x\.png': corrupt: chunk 'IDAT' at byte \d+: CRC mismatch; "
        "Pillow cannot decode it either",
    ):
        embed_image(bytes(data), ImagesSpec(), name="scans/x.png")


@pytest.mark.parametrize("fill", [0x55, 0x00, 0xFF])
def test_jpeg_with_overwritten_bytes_is_invalid(fill: int) -> None:
    # The reviewer's case: bytes 600-900 of a 640x480 JPEG overwritten (its scan header
    # starts at 609).
    data = bytearray(encode(gradient((640, 480)), "JPEG"))
    assert data.index(b"\xff\xda") in range(600, 900)
    data[600:900] = bytes([fill]) * 300
    assert not decodes(bytes(data))
    with pytest.raises(ImageInvalidError, match=r"^image 'camera/x\.jpg': (truncated or )?corrupt"):
        embed_image(bytes(data), ImagesSpec(), name="camera/x.jpg")


def test_damage_pillow_decodes_regardless_is_still_refused() -> None:
    # A wrong IEND CRC: Pillow never reads it, libpng refuses the file.
    data = encode(gradient((32, 24)), "PNG")
    data = data[:-1] + bytes([data[-1] ^ 1])
    assert decodes(data)
    with pytest.raises(
        ImageInvalidError,
        match=r"^image 'a\.png': corrupt: chunk 'IEND' at byte \d+: CRC mismatch "
        r"\(Pillow decodes it regardless",
    ):
        embed_image(data, ImagesSpec(), name="a.png")


def test_stray_marker_in_jpeg_scan_is_refused() -> None:
    # libjpeg only warns about a restart marker where no restart interval was set, and fills
    # the rest of the scan with gray: Pillow decodes it, the pixels are wrong.
    data = encode(noisy_gradient((64, 48)), "JPEG", quality=90)
    stuffed = data.index(b"\xff\x00", data.index(b"\xff\xda"))
    data = data[:stuffed] + b"\xff\xd3" + data[stuffed + 2 :]
    with pytest.raises(ImageInvalidError, match=r"^image 'r\.jpg': corrupt: .*FFD3"):
        embed_image(data, ImagesSpec(), name="r.jpg")


def test_webp_with_a_bad_alpha_header_is_invalid() -> None:
    # Pillow opens it, libwebp fails on the pixels: no checksum, but the header is checked.
    image = gradient((32, 24), "RGBA")
    image.putalpha(Image.linear_gradient("L").resize((32, 24)))
    data = encode(image, "WEBP")
    alpha = data.index(b"ALPH") + 8
    data = data[:alpha] + bytes([data[alpha] | 0x02]) + data[alpha + 1 :]  # method 2: unknown
    assert Image.open(io.BytesIO(data)).mode == "RGBA"
    assert not decodes(data)
    with pytest.raises(ImageInvalidError, match=r"^image 'a\.webp': corrupt: chunk 'ALPH'"):
        embed_image(data, ImagesSpec(), name="a.webp")


PNG_FOR_FLIPS = {
    mode: encode(noisy_gradient((48, 32)).convert(mode), "PNG") for mode in ("RGB", "RGBA")
}
PNG_BYTES = range(8, min(map(len, PNG_FOR_FLIPS.values())))
"""Every byte after the signature: a chunk's length, type, data or CRC."""


@settings(max_examples=200, deadline=None)
@given(
    mode=st.sampled_from(sorted(PNG_FOR_FLIPS)),
    flips=st.lists(
        st.tuples(st.sampled_from(PNG_BYTES), st.integers(1, 255)),
        min_size=1,
        max_size=4,
        unique_by=lambda flip: flip[0],
    ),
)
def test_any_flipped_png_byte_is_invalid(mode: str, flips: list[tuple[int, int]]) -> None:
    # The CRCs cover chunk types and data, and a damaged length derails the walk onto bytes
    # whose "CRC" does not match: no damage goes unseen.
    data = bytearray(PNG_FOR_FLIPS[mode])
    for position, mask in flips:
        data[position] ^= mask
    with pytest.raises(ImageInvalidError, match=r"^image 'flipped\.png': (truncated or )?corrupt"):
        embed_image(bytes(data), ImagesSpec(), name="flipped.png")


JPEG_OPTIONS: list[dict[str, object]] = [
    {},
    {"progressive": True},
    {"restart_marker_blocks": 2},
    {"subsampling": 0, "optimize": True},
]


def damaged(data: bytes, rng: random.Random, end: int) -> bytes:
    """`data` with 1 to 4 bytes before `end` inverted or replaced."""
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4])):
        position = rng.randrange(2, end)
        out[position] = out[position] ^ 0xFF if rng.random() < 0.5 else rng.randrange(256)
    return bytes(out)


@pytest.mark.parametrize("where", ["headers", "anywhere"])
@pytest.mark.parametrize("options", JPEG_OPTIONS, ids=str)
def test_whatever_jpeg_passes_decodes(options: dict[str, object], where: str) -> None:
    """Random damage either raises ImageInvalidError or gives bytes Pillow decodes: an
    undecodable file is never sent."""
    source = encode(noisy_gradient((96, 64)), "JPEG", quality=90, **options)
    end = source.index(b"\xff\xda") + 14 if where == "headers" else len(source)
    rng = random.Random(f"{where} {options}")
    refused = 0
    for _ in range(250):
        data = damaged(source, rng, end)
        try:
            result = embed_image(data, ImagesSpec(), name="fuzz.jpg")
        except ImageError as exc:  # ImageTooLargeError too, where a damaged size is huge
            assert str(exc).startswith("image 'fuzz.jpg': ")
            refused += isinstance(exc, ImageInvalidError)
        else:
            assert decodes(sent_bytes(result)), data
    assert refused >= 5  # damage was caught, not all of it harmless


def test_importing_the_module_does_not_import_pillow() -> None:
    code = "import sys, jsonl_bridge.embed; sys.exit('PIL' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
