"""Image references → bytes, against the references a real Label Studio 1.23 wrote.

The files under qc-defects/media and qc-defects/external are the ones that server stored and
served; export.json holds the exact references, so these tests use what a user will have.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from jsonl_bridge.errors import (
    ImageInvalidError,
    ImageNotFoundError,
    ImageRefusedError,
    ImageTooLargeError,
    UsageError,
)
from jsonl_bridge.resolve import ImageResolver

QC = Path(__file__).parent / "fixtures" / "label-studio" / "qc-defects"
UPLOADS = QC / "media" / "upload"
REFS = [task["data"]["image"] for task in json.loads((QC / "export.json").read_text("utf-8"))]
UPLOAD = "/data/upload/6/6bc7734c-qc_part_01.png"
LOCAL = "/data/local-files/?d=dataset1/qc_part_06_local.png"
HTTP = "http://127.0.0.1:8766/qc_part_05_http.png"
PART_01 = (UPLOADS / "6" / "6bc7734c-qc_part_01.png").read_bytes()


def test_the_export_uses_the_three_reference_forms() -> None:
    assert {UPLOAD, LOCAL, HTTP} <= set(REFS)


def test_every_upload_resolves_under_media_upload() -> None:
    uploads = [ref for ref in REFS if ref.startswith("/data/upload/")]
    assert len(uploads) == 5
    with ImageResolver([UPLOADS]) as resolver:
        for ref in uploads:
            stored = ref.removeprefix("/data/upload/")
            assert resolver.read(ref) == (UPLOADS / stored).read_bytes()


def test_upload_resolves_under_the_media_folder() -> None:
    with ImageResolver([QC / "media"]) as resolver:
        assert resolver.read(UPLOAD) == PART_01


@pytest.mark.parametrize("name", ["6bc7734c-qc_part_01.png", "qc_part_01.png"])
def test_upload_resolves_in_a_flat_folder(tmp_path: Path, name: str) -> None:
    shutil.copy(UPLOADS / "6" / "6bc7734c-qc_part_01.png", tmp_path / name)
    with ImageResolver([tmp_path]) as resolver:
        assert resolver.read(UPLOAD) == PART_01


def test_upload_reference_is_percent_decoded(tmp_path: Path) -> None:
    (tmp_path / "6").mkdir()
    (tmp_path / "6" / "0123abcd-part one.png").write_bytes(b"one")
    with ImageResolver([tmp_path]) as resolver:
        assert resolver.read("/data/upload/6/0123abcd-part%20one.png") == b"one"


def test_local_files_resolve_under_the_document_root() -> None:
    with ImageResolver([QC / "external"]) as resolver:
        expected = (QC / "external" / "dataset1" / "qc_part_06_local.png").read_bytes()
        assert resolver.read(LOCAL) == expected


def test_roots_are_tried_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for root, content in ((first, b"first"), (second, b"second")):
        root.mkdir()
        (root / "a.png").write_bytes(content)
    with ImageResolver([first, second]) as resolver:
        assert resolver.read("a.png") == b"first"
    with ImageResolver([tmp_path / "first", UPLOADS]) as resolver:
        assert resolver.read(UPLOAD) == PART_01


def zip_root(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_root_serves_a_member(tmp_path: Path) -> None:
    archive = zip_root(tmp_path, {"upload/6/6bc7734c-qc_part_01.png": PART_01})
    with ImageResolver([archive]) as resolver:
        assert resolver.read(UPLOAD) == PART_01
        assert resolver.read("./upload/6/6bc7734c-qc_part_01.png") == PART_01


def test_zip_member_names_are_normalised_and_escapes_dropped(tmp_path: Path) -> None:
    archive = zip_root(tmp_path, {"/a/../b.png": b"b", "../evil.png": b"evil"})
    with ImageResolver([archive]) as resolver:
        assert resolver.read("b.png") == b"b"
        with pytest.raises(ImageNotFoundError):
            resolver.read("evil.png")
        with pytest.raises(ImageRefusedError):
            resolver.read("../evil.png")


@pytest.mark.parametrize(
    "ref",
    [
        "../../etc/passwd",
        "dataset1/../../outside.png",
        "/data/upload/6/..%2F..%2F..%2Foutside.png",
        "/data/local-files/?d=../outside.png",
    ],
)
def test_dot_dot_escapes_are_refused(tmp_path: Path, ref: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.png").write_bytes(b"secret")
    with ImageResolver([root]) as resolver, pytest.raises(ImageRefusedError) as caught:
        resolver.read(ref)
    assert ref in str(caught.value)


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (root / "evil.png").symlink_to(tmp_path / "secret.txt")
    (root / "linked").symlink_to(tmp_path)
    (root / "inside.png").symlink_to(root / "target.png")
    (root / "target.png").write_bytes(b"inside")
    with ImageResolver([root]) as resolver:
        assert resolver.read("inside.png") == b"inside"
        for ref in ("evil.png", "linked/secret.txt"):
            with pytest.raises(ImageRefusedError, match="outside the image root"):
                resolver.read(ref)


def test_absolute_paths_only_inside_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.png").write_bytes(b"a")
    (tmp_path / "b.png").write_bytes(b"b")
    with ImageResolver([root]) as resolver:
        assert resolver.read(str(root / "a.png")) == b"a"
        assert resolver.read((root / "a.png").as_uri()) == b"a"
        for ref in (str(tmp_path / "b.png"), f"{root}/../b.png", (tmp_path / "b.png").as_uri()):
            with pytest.raises(ImageRefusedError, match="outside the image roots"):
                resolver.read(ref)


def test_absolute_path_through_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.png").write_bytes(b"a")
    (tmp_path / "alias").symlink_to(real)
    with ImageResolver([tmp_path / "alias"]) as resolver:
        assert resolver.read(str(real / "a.png")) == b"a"
        assert resolver.read(str(tmp_path / "alias" / "a.png")) == b"a"


def test_file_uri_is_percent_decoded(tmp_path: Path) -> None:
    (tmp_path / "my image.png").write_bytes(b"x")
    with ImageResolver([tmp_path]) as resolver:
        assert resolver.read("file://" + quote(str(tmp_path / "my image.png"))) == b"x"
        with pytest.raises(ImageRefusedError, match="another host"):
            resolver.read("file://fileserver/share/a.png")


def test_missing_image_lists_what_was_tried(tmp_path: Path) -> None:
    with ImageResolver([UPLOADS, tmp_path]) as resolver, pytest.raises(ImageNotFoundError) as e:
        resolver.read("/data/upload/6/0123abcd-missing.png")
    message = str(e.value)
    assert message.startswith("/data/upload/6/0123abcd-missing.png: not found")
    for tried in ("6/0123abcd-missing.png", "missing.png", "upload/6/0123abcd-missing.png"):
        assert tried in message
    assert str(UPLOADS) in message and str(tmp_path) in message


def test_without_roots_the_message_says_to_pass_images() -> None:
    with ImageResolver() as resolver:
        for ref, error in ((UPLOAD, ImageNotFoundError), ("/abs/a.png", ImageRefusedError)):
            with pytest.raises(error) as caught:
                resolver.read(ref)
            assert "--images DIR" in str(caught.value) and "media/upload" in str(caught.value)


def test_http_needs_allow_remote() -> None:
    with ImageResolver([UPLOADS]) as resolver, pytest.raises(ImageRefusedError) as caught:
        resolver.read(HTTP)
    assert HTTP in str(caught.value) and "--allow-remote" in str(caught.value)


def test_loopback_url_from_the_export_needs_allow_private_hosts() -> None:
    # refused before any connection: the address is checked first
    with ImageResolver(allow_remote=True) as resolver, pytest.raises(ImageRefusedError) as e:
        resolver.read(HTTP)
    assert "--allow-private-hosts" in str(e.value) and HTTP in str(e.value)


@pytest.mark.parametrize("ref", ["s3://bucket/a.png", "gs://bucket/a.png", "ftp://host/a.png"])
def test_other_url_schemes_are_refused(ref: str) -> None:
    scheme = ref.split(":")[0]
    with ImageResolver([UPLOADS]) as resolver, pytest.raises(ImageRefusedError) as caught:
        resolver.read(ref)
    assert f"{scheme}://" in str(caught.value)


def test_data_uri_is_decoded() -> None:
    encoded = base64.b64encode(PART_01).decode()
    with ImageResolver() as resolver:
        assert resolver.read(f"data:image/png;base64,{encoded}") == PART_01
        assert resolver.read(f"DATA:image/png;base64,{encoded[:60]}\n{encoded[60:]}") == PART_01
        assert resolver.read("data:text/plain,a%20b") == b"a b"
        for bad in ("data:image/png;base64,@@@@", "data:image/png;base64"):
            with pytest.raises(ImageInvalidError, match="not a valid data URI"):
                resolver.read(bad)


def test_bad_roots_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--images .*nope: no such folder"):
        ImageResolver([tmp_path / "nope"])
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(UsageError, match="neither a folder nor a zip file"):
        ImageResolver([tmp_path / "notes.txt"])
    with pytest.raises(UsageError):
        ImageResolver([tmp_path], timeout=0)


def test_file_above_max_download_is_too_large() -> None:
    limit = len(PART_01) - 1
    with (
        ImageResolver([UPLOADS], max_download=limit) as resolver,
        pytest.raises(ImageTooLargeError, match=f"{limit} byte limit"),
    ):
        resolver.read(UPLOAD)
    with ImageResolver([UPLOADS], max_download=len(PART_01)) as resolver:
        assert resolver.read(UPLOAD) == PART_01


def test_zip_member_above_max_download_is_too_large(tmp_path: Path) -> None:
    archive = zip_root(tmp_path, {"bomb.png": bytes(100_000)})
    assert os.path.getsize(archive) < 1_000  # tiny on disk, large unpacked
    with (
        ImageResolver([archive], max_download=10_000) as resolver,
        pytest.raises(ImageTooLargeError, match="unpacks to 100000 bytes"),
    ):
        resolver.read("bomb.png")


def test_a_root_can_be_the_images_folder_inside_an_export_zip_or_folder(tmp_path: Path) -> None:
    """An export zip keeps its pictures under images/: (zip, "images") serves them by name,
    and nothing outside that folder (the annotations file) is reachable."""
    part = (UPLOADS / "6" / "6bc7734c-qc_part_01.png").read_bytes()
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("annotations.xml", "<annotations/>")
        archive.writestr("images/sub dir/part 1.png", part)
    with ImageResolver([(export, "images")]) as resolver:
        assert resolver.read("sub dir/part 1.png") == part
        with pytest.raises(ImageNotFoundError):
            resolver.read("annotations.xml")
        with pytest.raises(ImageRefusedError):
            resolver.read("../annotations.xml")
    folder = tmp_path / "unpacked"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "p.png").write_bytes(part)
    with ImageResolver([(folder, "images")]) as resolver:
        assert resolver.read("p.png") == part


# --- names that differ from the file only as CVAT writes them (FORMAT.md §4, §10.4) ---------


def _zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("as_zip", [False, True])
def test_the_extension_case_may_differ(tmp_path: Path, as_zip: bool) -> None:
    """CVAT names video frames `frame_000010.PNG`; datumaro's export saved `.png`."""
    files = {"frames/frame_000010.png": b"ten", "frames/frame_000013.png": b"thirteen"}
    if as_zip:
        root: Path = _zip_of(tmp_path / "x.zip", files)
    else:
        root = tmp_path
        for name, data in files.items():
            (tmp_path / name).parent.mkdir(exist_ok=True)
            (tmp_path / name).write_bytes(data)
    with ImageResolver([root]) as resolver:
        assert resolver.read("frames/frame_000010.PNG") == b"ten"
        assert resolver.read("frames/frame_000013.Png") == b"thirteen"
        with pytest.raises(ImageNotFoundError, match="frame_000016"):
            resolver.read("frames/frame_000016.PNG")


def test_a_name_without_extension_finds_its_file(tmp_path: Path) -> None:
    """A video exported as "CVAT for images" names frames `frame_000123` (cvat #8839)."""
    (tmp_path / "frame_000123.PNG").write_bytes(b"frame")
    with ImageResolver([tmp_path]) as resolver:
        assert resolver.read("frame_000123") == b"frame"


def test_several_candidates_are_an_error_not_a_guess(tmp_path: Path) -> None:
    (tmp_path / "part.PNG").write_bytes(b"upper")
    (tmp_path / "part.png").write_bytes(b"lower")
    (tmp_path / "frame.jpg").write_bytes(b"jpg")
    (tmp_path / "frame.png").write_bytes(b"png")
    with ImageResolver([tmp_path]) as resolver:
        assert resolver.read("part.png") == b"lower"  # the exact name wins
        with pytest.raises(ImageNotFoundError, match=r"part\.PNG, part\.png"):
            resolver.read("part.Png")
        with pytest.raises(ImageNotFoundError, match=r"frame\.jpg, frame\.png"):
            resolver.read("frame")


def test_a_loose_match_never_leaves_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with ImageResolver([root]) as resolver:
        for ref in ("link/secret.PNG", "link/secret.png", "link/secret"):
            with pytest.raises(ImageRefusedError, match="outside the image root"):
                resolver.read(ref)
