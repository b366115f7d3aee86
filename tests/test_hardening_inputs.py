"""Broken and oversized exports, through the CLI: truncated files, the wrong `--from`, empty
exports, newer result types, repeated ids, missing image sizes, other encodings, giant tasks.

A whole export that cannot be read is refused: exit 3, one `error:` line naming the file and
where (line, task), nothing written, an existing output left as it was (atomic writes).
Problems of one task are rejects. Memory stays bounded however large one task is: the 200 MB
string and the 1 GB line run in a child process whose peak memory is measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cli_run import run

from jsonl_bridge.adapters import _common

FIXTURES = Path(__file__).parent / "fixtures"
EMAIL = FIXTURES / "label-studio" / "email-classification"
CONFIG = f"label_config={EMAIL / 'config.xml'}"
DOCCANO = FIXTURES / "doccano" / "document-classification" / "exports"
METAL = FIXTURES / "cvat" / "datumaro_1.13_exports" / "metal_parts_cvat_images"
OLD = b"the previous good output\n"


def refused(tmp_path: Path, source: Path, *args: object) -> str:
    """Convert `source` over an existing output: exit 3, one error line naming `source`, the
    old output untouched, no temp or rejects file. Returns the error line."""
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    code, err = run("convert", source, *args, "-o", out)
    assert code == 3, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(source) in errors[0], err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.glob("*out*")) == ["out.jsonl"]
    return errors[0]


def unzip_member(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as opened:
        return opened.read(name)


def ls_task(task_id: int, label: str = "billing", extra: list[Any] | None = None) -> Any:
    result = {"type": "choices", "from_name": "category", "to_name": "text"}
    result["value"] = {"choices": [label]}
    return {
        "id": task_id,
        "data": {"text": f"mail {task_id}"},
        "annotations": [{"id": task_id, "completed_by": 1, "result": [result, *(extra or [])]}],
    }


# --- truncated files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("export.json", "truncated JSON: the file ends after task ["),
        ("export_min.json", "truncated JSON"),
        ("export.csv", "truncated"),
        ("export.tsv", "truncated"),
    ],
)
def test_truncated_label_studio_exports_are_refused(tmp_path: Path, name: str, where: str) -> None:
    raw = (EMAIL / name).read_bytes()
    source = tmp_path / name
    source.write_bytes(raw[: int(len(raw) * 0.7)])
    line = refused(tmp_path, source, "--from", "label-studio", "--option", CONFIG)
    assert where in line


@pytest.mark.parametrize(
    ("archive", "member", "where"),
    [
        ("JSONL__collaborative__all.zip", "all.jsonl", ":"),  # file:line
        ("JSON__collaborative__approved-only.zip", "all.json", "after item ["),
        ("CSV__collaborative__all.zip", "all.csv", ":"),
    ],
)
def test_truncated_doccano_exports_are_refused(
    tmp_path: Path, archive: str, member: str, where: str
) -> None:
    raw = unzip_member(DOCCANO / archive, member)
    source = tmp_path / member
    cut = raw.index(b'"', int(len(raw) * 0.6)) + 3  # inside a quoted string
    source.write_bytes(raw[:cut])
    line = refused(tmp_path, source, "--from", "doccano")
    assert where in line.split(str(source), 1)[1]
    assert "\n" not in line and "(right here)" not in line  # one line, no parser caret


def test_a_task_written_before_the_damage_is_not_left_at_the_target(tmp_path: Path) -> None:
    """The first tasks convert, then the file ends: nothing of them reaches the target."""
    text = json.dumps([ls_task(1), ls_task(2), ls_task(3)])
    source = tmp_path / "export.json"
    source.write_text(text[: text.rindex('"id": 3') + 4], encoding="utf-8")
    assert "task [1] (id 2)" in refused(tmp_path, source, "--option", CONFIG)


def test_a_fresh_target_is_not_created_by_a_failed_run(tmp_path: Path) -> None:
    source = tmp_path / "export.json"
    source.write_text(json.dumps([ls_task(1), ls_task(2)])[:-30], encoding="utf-8")
    code, err = run("convert", source, "--option", CONFIG, "-o", tmp_path / "data" / "o.jsonl")
    assert code == 3, err
    assert not (tmp_path / "data" / "o.jsonl").exists()
    folder = tmp_path / "data"
    assert not folder.exists() or not any(folder.iterdir())  # no temp file left either


# --- the wrong --from, empty exports ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "adapter"),
    [
        (EMAIL / "export.json", "cvat"),
        (EMAIL / "export.csv", "doccano"),
        (METAL / "default.xml", "label-studio"),
        (METAL / "default.xml", "doccano"),
        (DOCCANO / "JSONL__individual__all.zip", "label-studio"),
        (DOCCANO / "JSONL__individual__all.zip", "cvat"),
    ],
)
def test_the_wrong_from_is_unreadable_input(tmp_path: Path, source: Path, adapter: str) -> None:
    refused(tmp_path, source, "--from", adapter)


def _empty_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("name", "content", "adapter"),
    [
        ("export.json", b"", "label-studio"),
        ("export.json", b" \n\t\n", "label-studio"),
        ("export.json", b"\xef\xbb\xbf[]", "label-studio"),
        ("export.csv", b"id,text,annotator,annotation_id,category\r\n", "label-studio"),
        ("all.jsonl", b"\n", "doccano"),
        ("all.json", b"[]", "doccano"),
        ("annotations.xml", b"", "cvat"),
        ("annotations.xml", b"<annotations><version>1.1</version></annotations>", "cvat"),
    ],
)
def test_empty_exports_are_refused(tmp_path: Path, name: str, content: bytes, adapter: str) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    refused(tmp_path, source, "--from", adapter)


@pytest.mark.parametrize("adapter", ["doccano", "cvat"])
def test_empty_zips_are_refused(tmp_path: Path, adapter: str) -> None:
    members = {"admin.jsonl": b"", "anna.jsonl": b"\n"} if adapter == "doccano" else {}
    refused(tmp_path, _empty_zip(tmp_path / "export.zip", members), "--from", adapter)


def test_an_empty_file_without_from_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "export.json"
    source.write_bytes(b"")
    assert "no adapter recognises" in refused(tmp_path, source)


# --- newer tools, repeated ids, missing sizes -------------------------------------------------


def test_an_unknown_result_type_warns_once_and_the_tasks_are_kept(tmp_path: Path) -> None:
    future = {"type": "videotimeline", "from_name": "t", "to_name": "text", "value": {"x": 1}}
    source = tmp_path / "export.json"
    source.write_text(json.dumps([ls_task(i, extra=[future]) for i in (1, 2, 3)]))
    code, err = run("convert", source, "--option", CONFIG, "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "'videotimeline'" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ")
    assert "/[0]/annotations/0/result/1" in warnings[0]
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    answers = [json.loads(line)["messages"][-1]["content"] for line in lines]
    assert answers == ["billing"] * 3


@pytest.mark.parametrize("adapter", ["label-studio", "doccano"])
def test_repeated_task_ids_warn_once_and_every_task_is_converted(
    tmp_path: Path, adapter: str
) -> None:
    if adapter == "label-studio":
        source = tmp_path / "export.json"
        tasks = [ls_task(1), ls_task(2, "sales"), ls_task(1, "spam"), ls_task(2), ls_task(3)]
        source.write_text(json.dumps(tasks))
        args: tuple[object, ...] = ("--option", CONFIG)
    else:
        source = tmp_path / "all.jsonl"
        rows = [{"id": i, "text": f"t{i}", "label": ["a"], "Comments": []} for i in (1, 2, 1, 2, 3)]
        source.write_text("".join(json.dumps(row) + "\n" for row in rows))
        args = ()
    code, err = run("convert", source, "--from", adapter, *args, "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "repeat the id" in line]
    assert warnings == [
        f"warning: {source}: 2 task(s) repeat the id of an earlier task "
        "(first: '1'); each is converted, but ids name tasks in the rejects "
        "file and choose their --split"
    ]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5


def test_repeated_task_ids_are_warned_of_under_limit_too(tmp_path: Path) -> None:
    """--limit stops reading early; the repeats seen before it are still said."""
    source = tmp_path / "all.jsonl"
    rows = [{"id": i, "text": f"t{i}", "label": ["a"], "Comments": []} for i in (1, 2, 1, 2, 3)]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, err = run("convert", source, "--limit", "4", "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "repeat the id" in line]
    assert len(warnings) == 1 and "2 task(s) repeat the id" in warnings[0]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 4


def test_a_box_without_the_image_size_rejects_its_task(tmp_path: Path) -> None:
    box = {"id": "r", "type": "rectanglelabels", "from_name": "defect", "to_name": "image"}
    box["value"] = {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["dent"]}
    sized = {**box, "original_width": 4, "original_height": 4}
    tasks = [
        {"id": n, "data": {"image": "a.png"}, "annotations": [{"id": n, "result": [result]}]}
        for n, result in ((1, box), (2, sized))
    ]
    source = tmp_path / "export.json"
    source.write_text(json.dumps(tasks))
    code, _ = run("convert", source, "-m", "qc-defects", "-o", tmp_path / "out.jsonl")
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").open()]
    assert [(r["id"], r["reason"]) for r in rejects] == [("1", "invalid"), ("2", "image_not_found")]
    assert "no original_width/original_height" in rejects[0]["detail"]
    assert code == 1 and not (tmp_path / "out.jsonl").exists()


def test_a_cvat_image_without_its_size_rejects_its_task(tmp_path: Path) -> None:
    source = tmp_path / "annotations.xml"
    source.write_text(
        '<annotations><version>1.1</version><image id="0" name="a.png">'
        '<box label="dent" xtl="1" ytl="1" xbr="2" ybr="2" occluded="0"/></image></annotations>'
    )
    code, err = run("convert", source, "-m", "qc-defects", "-o", tmp_path / "out.jsonl")
    assert code == 1, err
    reject = json.loads((tmp_path / "out.rejects.jsonl").read_text())
    assert reject["reason"] == "invalid" and "width=None" in reject["detail"]


# --- encodings ------------------------------------------------------------------------------


def _latin1(text: str) -> bytes:
    return text.replace("mail", "caf\u00e9").encode("latin-1")


@pytest.mark.parametrize(
    ("name", "content", "adapter", "where"),
    [
        ("export.json", _latin1(json.dumps([ls_task(1)], ensure_ascii=False)), "label-studio", ""),
        ("export.json", json.dumps([ls_task(1)]).encode("utf-16"), "label-studio", ""),
        (
            "export.csv",
            _latin1("id,text,annotator,annotation_id,category\nx,mail,1,1,a\n"),
            "label-studio",
            "",
        ),
        ("all.jsonl", _latin1('{"id": 1, "text": "mail", "label": ["a"]}\n'), "doccano", ":1"),
        ("all.csv", _latin1("id,text,label,Comments\n1,mail,a,\n"), "doccano", ""),
        (
            "annotations.xml",
            _latin1(
                '<annotations><version>1.1</version><image id="0" '
                'name="mail.png" width="1" height="1"/></annotations>'
            ),
            "cvat",
            ":1",
        ),
    ],
)
def test_text_that_is_not_utf8_is_refused(
    tmp_path: Path, name: str, content: bytes, adapter: str, where: str
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    line = refused(tmp_path, source, "--from", adapter)
    assert f"{source}{where}" in line
    assert "UTF" in line or "XML" in line or "not a Label Studio" in line


@pytest.mark.parametrize(
    ("name", "content", "adapter"),
    [
        ("export.json", json.dumps([ls_task(1)]).encode(), "label-studio"),
        ("export.csv", (EMAIL / "export.csv").read_bytes(), "label-studio"),
        (
            "all.jsonl",
            b'{"id": 1, "text": "mail", "label": ["billing"], "Comments": []}\n',
            "doccano",
        ),
        ("all.csv", b"id,text,label,Comments\n1,mail,billing,\n", "doccano"),
    ],
)
def test_a_byte_order_mark_is_read_past(
    tmp_path: Path, name: str, content: bytes, adapter: str
) -> None:
    plain, marked = tmp_path / name, tmp_path / f"bom-{name}"
    plain.write_bytes(content)
    marked.write_bytes(b"\xef\xbb\xbf" + content)
    outputs = []
    for source in (plain, marked):
        out = tmp_path / f"{source.stem}.out.jsonl"
        code, err = (
            run("convert", source, "--option", CONFIG, "-o", out)
            if (adapter == "label-studio")
            else run("convert", source, "--from", adapter, "-o", out)
        )
        assert code == 0, err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0]


def test_a_cvat_xml_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    source = tmp_path / "default.xml"
    source.write_bytes(b"\xef\xbb\xbf" + (METAL / "default.xml").read_bytes())
    (tmp_path / "images").symlink_to(METAL / "images")
    code, err = run("convert", source, "-m", "qc-defects", "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5


# --- one gigantic task ----------------------------------------------------------------------


def peak_memory_mb(tmp_path: Path, *args: str) -> tuple[int, int, str]:
    """Run `python -m jsonl_bridge` in a child (cwd=tmp_path): exit code, peak RSS in MB of
    that child alone (wait4), stderr."""
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "jsonl_bridge", *args],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss // 1024, err_path.read_text()


@pytest.fixture(scope="module")
def baseline_mb(tmp_path_factory: pytest.TempPathFactory) -> int:
    folder = tmp_path_factory.mktemp("baseline")
    code, peak, err = peak_memory_mb(
        folder, "convert", str(EMAIL / "export.json"), "--option", CONFIG, "-o", "out.jsonl"
    )
    assert code == 0, err
    return peak


def test_a_200_mb_string_in_a_label_studio_task_is_refused_in_bounded_memory(
    tmp_path: Path, baseline_mb: int
) -> None:
    source = tmp_path / "export.json"
    with source.open("w") as out:
        out.write('[{"id": 1, "annotations": [], "data": {"text": "')
        chunk = "a" * (1 << 20)
        for _ in range(200):
            out.write(chunk)
        out.write('"}}]')
    code, peak, err = peak_memory_mb(tmp_path, "convert", "export.json", "-o", "out.jsonl")
    assert code == 3, err
    assert err.startswith("error: export.json: refused: one task") and "64 MiB" in err
    assert "Traceback" not in err and not (tmp_path / "out.jsonl").exists()
    assert peak - baseline_mb < 160, (peak, baseline_mb)  # the string alone is 200 MB


def test_a_1_gb_jsonl_line_is_refused_in_bounded_memory(tmp_path: Path, baseline_mb: int) -> None:
    source = tmp_path / "all.jsonl"
    with source.open("wb") as out:  # sparse: 1 GB of zero bytes that take no disk
        out.write(b'{"id": 1, "label": ["a"], "Comments": [], "text": "')
        out.seek(1 << 30)
        out.write(b'"}\n')
    code, peak, err = peak_memory_mb(
        tmp_path, "convert", "all.jsonl", "--from", "doccano", "-o", "out.jsonl"
    )
    assert code == 3, err
    assert err.startswith("error: all.jsonl: refused: one row") and "64 MiB" in err
    assert peak - baseline_mb < 160, (peak, baseline_mb)


def _giant(tmp_path: Path, name: str, head: bytes, tail: bytes, size: int) -> Path:
    source = tmp_path / name
    source.write_bytes(head + b"a" * size + tail)
    return source


@pytest.mark.parametrize(
    ("name", "head", "tail", "adapter", "what"),
    [
        ("export.csv", b"id,text,annotator,annotation_id\n1,", b",1,1\n", "label-studio", "row"),
        (
            "export.json",
            b'[{"id": 1, "annotator": 1, "annotation_id": 1, "t": "',
            b'"}]',
            "label-studio",
            "task",
        ),
        ("all.json", b'[{"id": 1, "label": [], "text": "', b'"}]', "doccano", "row"),
        ("all.csv", b"id,text,label,Comments\n1,", b",a,\n", "doccano", "row"),
        ("all.txt", b"__label__a ", b"\n", "doccano", "row"),
        (
            "annotations.xml",
            b'<annotations><version>1.1</version><image id="0" name="',
            b'" width="1" height="1"/></annotations>',
            "cvat",
            "element",
        ),
    ],
)
def test_one_task_above_the_limit_is_refused_in_every_format(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    head: bytes,
    tail: bytes,
    adapter: str,
    what: str,
) -> None:
    """The limit is lowered to 1 MiB here; the tests above use the real one."""
    monkeypatch.setattr(_common, "MAX_TASK_BYTES", 1 << 20)
    source = _giant(tmp_path, name, head, tail, 3 << 20)
    line = refused(tmp_path, source, "--from", adapter)
    assert f"refused: one {what}" in line and "larger than 1 MiB" in line


@pytest.mark.parametrize(
    ("name", "head", "tail", "adapter"),
    [
        ("export.csv", b"id,text,annotator,annotation_id,c\n1,", b",1,1,x\n", "label-studio"),
        ("all.jsonl", b'{"id": 1, "label": ["a"], "Comments": [], "text": "', b'"}\n', "doccano"),
    ],
)
def test_many_tasks_just_under_the_limit_are_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    head: bytes,
    tail: bytes,
    adapter: str,
) -> None:
    """The limit is per task, not per file: ten tasks of 0.9 MiB each pass a 1 MiB limit."""
    monkeypatch.setattr(_common, "MAX_TASK_BYTES", 1 << 20)
    source = tmp_path / name
    body = b"a" * (900 << 10)
    first, rest = head.split(b"\n", 1) if adapter == "label-studio" else (b"", head)
    with source.open("wb") as out:
        out.write(first + (b"\n" if first else b""))
        for number in range(1, 11):
            out.write(
                rest.replace(b"1,", f"{number},".encode(), 1).replace(
                    b'"id": 1', f'"id": {number}'.encode()
                )
                + body
                + tail
            )
    args = ("--option", "fields=c") if adapter == "label-studio" else ()
    code, err = run("convert", source, "--from", adapter, *args, "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    assert "read 10 tasks" in err


def test_a_video_meta_claiming_a_trillion_frames_is_not_trusted(tmp_path: Path) -> None:
    """A tiny XML must not make the reader yield a trillion empty frames."""
    source = tmp_path / "annotations.xml"
    source.write_text(
        "<annotations><version>1.1</version><meta><task><size>1000000000000</size>"
        "<mode>interpolation</mode><start_frame>0</start_frame>"
        "<original_size><width>4</width><height>4</height></original_size></task></meta>"
        '<track id="0" label="dent" source="manual"><box frame="3" keyframe="1" outside="0" '
        'occluded="0" xtl="0" ytl="0" xbr="2" ybr="2" z_order="0"/></track></annotations>'
    )
    code, err = run("convert", source, "-m", "qc-defects", "-o", tmp_path / "out.jsonl")
    assert "read 1 task" in err, err
    assert "1,000,000,000,000 frames, more than 10,000,000: not trusted" in err
    assert code == 1  # its one frame's image is not there: rejected, no example
