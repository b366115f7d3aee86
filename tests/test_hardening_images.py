"""Hostile image references and image bytes, through the CLI: each rejects its task only.

An export names its images; it must not make the converter read outside the `--images` roots
(`..`, absolute paths, symlinks, `/data/local-files/?d=../..`, `file://`), decode a
decompression bomb, or download anything without `--allow-remote` (and from private
addresses without `--allow-private-hosts`). Downloads go to a server on 127.0.0.1 started
here; nothing leaves the machine. Each hostile task lands in the rejects file with its
reason, the good task beside it is still written, and no secret byte reaches the output.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import run
from local_http import Handler, Server, serving

from jsonl_bridge.resolve import ImageResolver

SECRET = b"TOP-SECRET-BYTES"


def png(width: int = 4, height: int = 4) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "gray").save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height pixels (CRC fixed): a decompression
    bomb's shape, without the cost of making one."""
    data = bytearray(png())
    ihdr = bytearray(data[12:29])  # type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def task(task_id: int, image: str) -> dict[str, Any]:
    box = {
        "id": f"r{task_id}",
        "type": "rectanglelabels",
        "from_name": "defect",
        "to_name": "image",
        "original_width": 4,
        "original_height": 4,
        "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0},
    }
    box["value"]["rectanglelabels"] = ["dent"]  # type: ignore[index]
    return {
        "id": task_id,
        "data": {"image": image},
        "annotations": [{"id": task_id, "completed_by": 1, "result": [box]}],
    }


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """tmp/images/{good,…}.png as the root, tmp/secret.png beside it, outside."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "good.png").write_bytes(png())
    (tmp_path / "secret.png").write_bytes(SECRET)
    (images / "link.png").symlink_to(tmp_path / "secret.png")
    (images / "sub").mkdir()
    (images / "sub" / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    return tmp_path


def convert(tmp_path: Path, images: list[str], *extra: object) -> tuple[int, str, dict[str, str]]:
    """Convert one task per image reference (ids 1, 2, ...) with qc-defects; the rejects by
    id → reason."""
    source = tmp_path / "export.json"
    tasks = [task(i, image) for i, image in enumerate(images, start=1)]
    source.write_text(json.dumps(tasks), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, err = run(
        "convert", source, "-m", "qc-defects", "--images", tmp_path / "images", "-o", out, *extra
    )
    rejects_file = tmp_path / "out.rejects.jsonl"
    rejects = (
        [json.loads(line) for line in rejects_file.read_text().splitlines()]
        if (rejects_file.exists())
        else []
    )
    return code, err, {r["id"]: r["reason"] for r in rejects}


ESCAPES = [
    "../secret.png",
    "sub/../../secret.png",
    "link.png",  # a symlink in the root pointing out
    "sub/dirlink/secret.png",  # a symlinked folder pointing out
    "/data/local-files/?d=../secret.png",
    "/data/local-files/?d=../../../../etc/passwd",
    "/data/upload/1/..%2F..%2Fsecret.png",
    "/etc/passwd",
    "file:///etc/passwd",
    "file://otherhost/etc/passwd",
    "ftp://127.0.0.1/secret.png",
]


def test_references_escaping_the_roots_reject_their_task_only(layout: Path) -> None:
    code, err, rejects = convert(layout, ["good.png", *ESCAPES])
    assert code == 0, err
    assert set(rejects) == {str(i) for i in range(2, len(ESCAPES) + 2)}
    assert set(rejects.values()) == {"image_refused"}, rejects
    output = (layout / "out.jsonl").read_bytes()
    assert len(output.splitlines()) == 1 and SECRET not in output
    assert SECRET not in (layout / "out.rejects.jsonl").read_bytes()


def test_the_escape_detail_names_the_reference(layout: Path) -> None:
    run_code, _, _ = convert(layout, ["../secret.png"], "--strict")
    assert run_code == 1
    detail = json.loads((layout / "out.rejects.jsonl").read_text())["detail"]
    assert "../secret.png" in detail and "outside" in detail


def test_a_decompression_bomb_image_is_refused_before_decoding(layout: Path) -> None:
    (layout / "images" / "bomb.png").write_bytes(png_claiming(50_000, 50_000))
    start = time.monotonic()
    code, err, rejects = convert(layout, ["good.png", "bomb.png"])
    assert time.monotonic() - start < 10  # 2.5 billion pixels were never decoded
    assert code == 0, err
    assert rejects == {"2": "image_too_large"}
    assert "decompression bomb" in (layout / "out.rejects.jsonl").read_text()


def test_an_image_file_above_the_download_limit_is_not_read_whole(
    layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ImageResolver.__init__.__kwdefaults__, "max_download", 1000)
    (layout / "images" / "huge.png").write_bytes(png() + b"\0" * 2000)
    code, err, rejects = convert(layout, ["good.png", "huge.png"])
    assert code == 0, err
    assert rejects == {"2": "image_too_large"}


def test_a_fifo_in_the_root_is_not_waited_on(layout: Path) -> None:
    import os

    os.mkfifo(layout / "images" / "pipe.png")
    code, err, rejects = convert(layout, ["good.png", "pipe.png"])
    assert code == 0, err
    assert rejects == {"2": "image_not_found"}


# --- remote images, against a server on 127.0.0.1 --------------------------------------------


class Routes(Handler):
    def route(self) -> None:
        if self.path == "/good.png":
            self.reply(200, png())
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10**10))
            self.end_headers()
            self.wfile.write(b"\0" * 65536)
        elif self.path == "/endless":
            self.send_response(200)
            self.end_headers()  # no length: a body that would never end
            for _ in range(2000):
                self.wfile.write(b"\0" * 65536)
        elif self.path == "/silent":
            time.sleep(3)
        elif self.path == "/drip":
            self.send_response(200)
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture
def server() -> Iterator[Server]:
    with serving(Routes) as httpd:
        yield httpd


def test_remote_images_need_allow_remote(layout: Path, server: Server) -> None:
    code, err, rejects = convert(layout, ["good.png", server.url("/good.png")])
    assert code == 0, err
    assert rejects == {"2": "image_refused"}
    assert "--allow-remote" in (layout / "out.rejects.jsonl").read_text()
    assert server.requests == []  # not even a connection


def test_private_addresses_need_allow_private_hosts(layout: Path, server: Server) -> None:
    code, err, rejects = convert(layout, ["good.png", server.url("/good.png")], "--allow-remote")
    assert code == 0, err
    assert rejects == {"2": "image_refused"}
    assert "--allow-private-hosts" in (layout / "out.rejects.jsonl").read_text()
    assert server.requests == []


def test_allow_private_hosts_alone_is_a_usage_error(layout: Path) -> None:
    code, err, _ = convert(layout, ["good.png"], "--allow-private-hosts")
    assert code == 2 and "--allow-remote" in err
    assert not (layout / "out.jsonl").exists()


def test_with_both_flags_downloads_work_and_hostile_servers_reject_their_task(
    layout: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ImageResolver.__init__.__kwdefaults__, "timeout", 0.4)
    urls = [server.url(p) for p in ("/good.png", "/to-file", "/huge", "/endless", "/silent")]
    urls.append(server.url("/drip"))
    start = time.monotonic()
    code, err, rejects = convert(layout, urls, "--allow-remote", "--allow-private-hosts")
    assert time.monotonic() - start < 15  # every wait has a timeout
    assert code == 0, err
    assert rejects == {
        "2": "image_refused",  # redirected to file://
        "3": "image_too_large",  # Content-Length above the limit: not read
        "4": "image_too_large",  # no length, the body stopped at the limit
        "5": "image_fetch",  # no answer: the per-operation timeout
        "6": "image_fetch",  # a byte at a time: the overall deadline
    }
    details = (layout / "out.rejects.jsonl").read_text()
    assert "only http(s) is followed" in details and "timed out" in details
    assert len((layout / "out.jsonl").read_text().splitlines()) == 1


# --- the same rules for every adapter ---------------------------------------------------------


def test_cvat_image_names_cannot_leave_the_export_images(layout: Path) -> None:
    """CVAT names each image by its path under the export's `images/`; a name that climbs out
    is refused, whatever --images says."""
    source = layout / "annotations.xml"
    images = "".join(
        f'<image id="{i}" name="{name}" width="4" height="4">'
        '<box label="dent" xtl="0" ytl="0" xbr="2" ybr="2" occluded="0"/></image>'
        for i, name in enumerate(["good.png", "../secret.png", "/etc/passwd", "link.png"])
    )
    source.write_text(f"<annotations><version>1.1</version>{images}</annotations>")
    code, err = run(
        "convert", source, "-m", "qc-defects", "--images", layout / "images",
        "-o", layout / "out.jsonl",
    )  # fmt: skip
    assert code == 0, err
    rejects = [json.loads(line) for line in (layout / "out.rejects.jsonl").open()]
    assert {(r["id"], r["reason"]) for r in rejects} == {
        ("../secret.png", "image_refused"),
        ("/etc/passwd", "image_refused"),
        ("link.png", "image_refused"),
    }
    assert SECRET not in (layout / "out.jsonl").read_bytes()


def test_doccano_image_filenames_cannot_leave_the_roots(layout: Path) -> None:
    box = {"x": 0, "y": 0, "width": 2, "height": 2, "label": "dent"}
    rows = [
        {"id": i, "filename": name, "bbox": [box], "Comments": []}
        for i, name in enumerate(["good.png", "../secret.png", "/etc/passwd", "link.png"], 1)
    ]
    source = layout / "all.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, err = run(
        "convert", source, "--from", "doccano", "-m", "qc-defects",
        "--images", layout / "images", "-o", layout / "out.jsonl",
    )  # fmt: skip
    assert code == 0, err
    rejects = [json.loads(line) for line in (layout / "out.rejects.jsonl").open()]
    assert {(r["id"], r["reason"]) for r in rejects} == {
        (str(i), "image_refused") for i in (2, 3, 4)
    }
    assert SECRET not in (layout / "out.jsonl").read_bytes()
