"""Hostile archives and XML, through the CLI: zip slip, zip bombs, entity expansion, XXE, DTDs.

Each case must end in one `error:` line naming the file, the documented exit code (3 for an
export, 2 for an option file such as the label config or an --images root), no traceback and
no output file. Limits are lowered with monkeypatch where a real bomb would cost seconds; one
real 100 MB bomb runs at the default limits.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from cli_run import run

from jsonl_bridge.adapters import _archive, _cvat_xml
from jsonl_bridge.resolve import ImageResolver

FIXTURES = Path(__file__).parent / "fixtures"
METAL = FIXTURES / "cvat" / "datumaro_1.13_exports" / "metal_parts_cvat_images"
EMAIL = FIXTURES / "label-studio" / "email-classification"
CVAT_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
    '<image id="0" name="a.png" width="4" height="4">'
    '<box label="dent" xtl="0" ytl="0" xbr="2" ybr="2" occluded="0"/></image></annotations>'
)
DOCCANO_ROW = b'{"id": 1, "text": "hello", "label": ["greeting"], "Comments": []}\n'


def assert_refused(tmp_path: Path, code: int, err: str, *needles: str, expected: int = 3) -> None:
    """Refused as a whole: the code, one error line holding every needle, nothing written."""
    assert code == expected, err
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, err
    for needle in needles:
        assert needle in error_lines[0], err
    assert not (tmp_path / "out.jsonl").exists()
    assert not list(tmp_path.glob(".out.jsonl.*"))  # no temp file left behind either


def export_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def base_members(adapter: str) -> dict[str, bytes]:
    if adapter == "cvat":
        return {"annotations.xml": CVAT_XML.encode()}
    return {"all.jsonl": DOCCANO_ROW}


# --- zip slip -------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
@pytest.mark.parametrize("name", ["../evil.jsonl", "/etc/evil.jsonl", "C:/evil.jsonl", "a/../../x"])
def test_zip_slip_member_refuses_the_whole_export(tmp_path: Path, adapter: str, name: str) -> None:
    source = export_zip(tmp_path / "export.zip", {**base_members(adapter), name: b"x"})
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, str(source), "would escape the archive", repr(name))


def test_zip_slip_is_refused_when_the_adapter_is_detected(tmp_path: Path) -> None:
    source = export_zip(tmp_path / "export.zip", {**base_members("cvat"), "../../x.png": b"x"})
    code, err = run("convert", source, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "would escape the archive")


def test_nothing_is_ever_extracted(tmp_path: Path) -> None:
    """Members are streamed, not extracted: even a refused archive leaves no file around."""
    work = tmp_path / "work"
    work.mkdir()
    source = export_zip(work / "export.zip", {**base_members("cvat"), "../escaped.txt": b"x"})
    run("convert", source, "--from", "cvat", "-o", work / "out.jsonl")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["export.zip", "work"]


# --- zip bombs ------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
def test_a_real_100_mb_zip_bomb_member_is_refused_before_reading(
    tmp_path: Path, adapter: str
) -> None:
    source = export_zip(
        tmp_path / "export.zip", {**base_members(adapter), "pad.txt": b"\0" * 10**8}
    )
    assert source.stat().st_size < 10**6
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "inflate to 100,0", "zip bomb")


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
def test_too_many_members_is_a_zip_bomb(
    tmp_path: Path, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_archive, "MAX_MEMBERS", 20)
    members = {**base_members(adapter), **{f"images/{i}.png": b"" for i in range(20)}}
    source = export_zip(tmp_path / "export.zip", members)
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "21 zip members, more than 20")


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
def test_members_that_inflate_too_much_together_are_a_zip_bomb(
    tmp_path: Path, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each member under the per-member floor, all of them together far above it."""
    monkeypatch.setattr(_archive, "BOMB_FLOOR", 1 << 20)
    monkeypatch.setattr(_archive, "MAX_RATIO", 50)
    pads = {f"pad{i}.txt": b"\0" * (600 << 10) for i in range(3)}
    source = export_zip(tmp_path / "export.zip", {**base_members(adapter), **pads})
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "inflate to", "in all", "zip bomb")


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
def test_a_member_above_the_size_cap_is_refused_whatever_its_ratio(
    tmp_path: Path, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_archive, "MAX_MEMBER_BYTES", 4096)
    stored = {**base_members(adapter), "images/big.png": os.urandom(5000)}
    source = export_zip(tmp_path / "export.zip", stored, zipfile.ZIP_STORED)
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "'images/big.png' inflates to 5000 bytes")


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
def test_all_members_above_the_total_cap_are_refused(
    tmp_path: Path, adapter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_archive, "MAX_TOTAL_BYTES", 8000)
    pads = {f"images/{i}.png": os.urandom(3000) for i in range(3)}
    source = export_zip(tmp_path / "export.zip", {**base_members(adapter), **pads})
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "in all")


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
def test_a_truncated_zip_is_unreadable_input(tmp_path: Path, adapter: str) -> None:
    whole = export_zip(tmp_path / "whole.zip", {**base_members(adapter), "pad": os.urandom(4096)})
    source = tmp_path / "export.zip"
    source.write_bytes(whole.read_bytes()[:-200])  # the central directory is cut
    code, err = run("convert", source, "--from", adapter, "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, str(source), "not a readable zip")


def test_a_zip_whose_member_data_is_damaged_is_unreadable_input(tmp_path: Path) -> None:
    """Central directory intact, the XML's deflated bytes overwritten: exit 3, not a crash."""
    source = export_zip(tmp_path / "export.zip", {"annotations.xml": CVAT_XML.encode() * 50})
    raw = bytearray(source.read_bytes())
    start = 30 + len("annotations.xml")  # after the first local header
    raw[start + 40 : start + 120] = os.urandom(80)
    source.write_bytes(bytes(raw))
    code, err = run("convert", source, "--from", "cvat", "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, str(source))


# --- zip files given as --images roots ------------------------------------------------------


def _qc_task_json(tmp_path: Path, image: str) -> Path:
    result = {"id": "r", "type": "rectanglelabels", "from_name": "defect", "to_name": "image"}
    result.update(original_width=4, original_height=4)
    result["value"] = {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["dent"]}
    annotation = {"id": 1, "completed_by": 1, "result": [result]}
    task = json.dumps([{"id": 1, "data": {"image": image}, "annotations": [annotation]}])
    path = tmp_path / "export.json"
    path.write_text(task, encoding="utf-8")
    return path


def test_an_images_zip_with_too_many_members_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jsonl_bridge import resolve

    monkeypatch.setattr(resolve, "MAX_ZIP_MEMBERS", 5)
    roots = export_zip(tmp_path / "images.zip", {f"{i}.png": b"" for i in range(6)})
    source = _qc_task_json(tmp_path, "0.png")
    code, err = run(
        "convert", source, "-m", "qc-defects", "--images", roots, "-o", tmp_path / "out.jsonl"
    )
    assert_refused(tmp_path, code, err, "6 zip members, more than 5", expected=2)


def test_an_images_zip_bomb_member_rejects_its_task_only(tmp_path: Path) -> None:
    """A member is inflated at most up to the download limit, never whole."""
    roots = export_zip(tmp_path / "images.zip", {"bomb.png": b"\0" * (65 << 20)})
    source = _qc_task_json(tmp_path, "bomb.png")
    code, err = run(
        "convert", source, "-m", "qc-defects", "--images", roots, "-o", tmp_path / "out.jsonl"
    )
    assert code == 1, err  # no example at all
    assert "image_too_large: 1" in err and "bomb.png" in err
    assert not (tmp_path / "out.jsonl").exists()
    assert '"reason": "image_too_large"' in (tmp_path / "out.rejects.jsonl").read_text()


def test_an_images_zip_never_serves_a_member_that_climbs_out(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        archive.writestr("../secret.png", b"secret")
    with ImageResolver([tmp_path / "images.zip"]) as resolver:
        for reference in ("../secret.png", "secret.png", "/secret.png"):
            with pytest.raises(Exception, match=r"outside|not found") as caught:
                resolver.read(reference)
            assert type(caught.value).__name__ in ("ImageRefusedError", "ImageNotFoundError")


# --- XML: entities, external references, DTDs -----------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE annotations [\n<!ENTITY a "lol">\n'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9))
    + "]>\n"
)
XXE = '<?xml version="1.0"?>\n<!DOCTYPE annotations [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
EXTERNAL_DTD = '<?xml version="1.0"?>\n<!DOCTYPE annotations SYSTEM "http://127.0.0.1:9/x.dtd">\n'
PARAMETER = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE annotations [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
)
PROLOGS = {"billion-laughs": BILLION_LAUGHS, "xxe": XXE, "external-dtd": EXTERNAL_DTD}
PROLOGS["parameter-entity"] = PARAMETER


def _cvat_with(prolog: str, name: str) -> str:
    body = CVAT_XML.split("\n", 1)[1].replace('name="a.png"', f'name="{name}"')
    return prolog + body


@pytest.mark.parametrize("kind", sorted(PROLOGS))
@pytest.mark.parametrize("packed", [False, True])
def test_cvat_xml_with_a_dtd_is_refused(tmp_path: Path, kind: str, packed: bool) -> None:
    xml = _cvat_with(PROLOGS[kind], "&j;" if kind == "billion-laughs" else "&x;")
    if packed:
        source = export_zip(tmp_path / "export.zip", {"annotations.xml": xml.encode()})
    else:
        source = tmp_path / "annotations.xml"
        source.write_text(xml, encoding="utf-8")
    code, err = run("convert", source, "--from", "cvat", "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, str(source), "DTD or entity")


def test_an_entity_reference_without_a_dtd_is_malformed_xml(tmp_path: Path) -> None:
    source = tmp_path / "annotations.xml"
    source.write_text(_cvat_with('<?xml version="1.0"?>\n', "&x;"), encoding="utf-8")
    code, err = run("convert", source, "--from", "cvat", "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, f"{source}:2", "undefined entity")


def test_a_dtd_after_a_long_comment_is_still_found(tmp_path: Path) -> None:
    """The safe prolog parse reads up to the root, however far: no DTD slips past it."""
    source = tmp_path / "annotations.xml"
    comment = "<!--" + "x" * 200_000 + "-->\n"
    xml = _cvat_with(BILLION_LAUGHS, "&j;").replace("\n<!DOCTYPE", "\n" + comment + "<!DOCTYPE")
    source.write_text(xml, encoding="utf-8")
    code, err = run("convert", source, "--from", "cvat", "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "DTD or entity")


def test_a_prolog_longer_than_a_mebibyte_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "annotations.xml"
    limit = _cvat_xml._PROLOG_BYTES
    source.write_text("<!--" + "x" * limit + "-->" + CVAT_XML.split("\n", 1)[1])
    code, err = run("convert", source, "--from", "cvat", "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, "before the root element")


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_cvat_xml_is_refused_with_its_line(tmp_path: Path, cut: float) -> None:
    raw = (METAL / "default.xml").read_bytes()
    shutil.copytree(METAL / "images", tmp_path / "images")
    source = tmp_path / "default.xml"
    source.write_bytes(raw[: int(len(raw) * cut)])
    code, err = run(
        "convert", source, "--from", "cvat", "-m", "qc-defects", "-o", tmp_path / "out.jsonl"
    )
    assert_refused(tmp_path, code, err, f"{source}:", "XML")


@pytest.mark.parametrize("kind", sorted(PROLOGS))
def test_label_config_with_a_dtd_is_refused(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "config.xml"
    body = (EMAIL / "config.xml").read_text(encoding="utf-8")
    entity = "&j;" if kind == "billion-laughs" else "&x;"
    config.write_text(
        PROLOGS[kind].replace("annotations", "View")
        + body.replace('<Choice value="spam"/>', f'<Choice value="{entity}"/>'),
        encoding="utf-8",
    )
    code, err = run(
        "convert",
        EMAIL / "export.json",
        "--option",
        f"label_config={config}",
        "-o",
        tmp_path / "out.jsonl",
    )
    assert_refused(tmp_path, code, err, str(config), "unsafe XML", expected=2)


def test_truncated_label_config_is_refused_with_its_position(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_bytes((EMAIL / "config.xml").read_bytes()[:150])
    code, err = run(
        "convert",
        EMAIL / "export.json",
        "--option",
        f"label_config={config}",
        "-o",
        tmp_path / "out.jsonl",
    )
    assert_refused(tmp_path, code, err, f"{config}:", "not well-formed", expected=2)


@pytest.mark.parametrize("encoding", ["u-f-8", "utf-32", "rot13", "idna", "undefined"])
def test_an_xml_encoding_the_parser_cannot_use_is_refused(tmp_path: Path, encoding: str) -> None:
    """Found by the property tests: expat hands unknown encodings to Python, whose codec
    lookup raised LookupError or ValueError through the reader."""
    source = tmp_path / "annotations.xml"
    source.write_text(CVAT_XML.replace("utf-8", encoding), encoding="utf-8")
    code, err = run("convert", source, "--from", "cvat", "-o", tmp_path / "out.jsonl")
    assert_refused(tmp_path, code, err, str(source), "encoding the parser cannot use")
    config = tmp_path / "config.xml"
    config.write_text(f'<?xml version="1.0" encoding="{encoding}"?><View/>', encoding="utf-8")
    code, err = run(
        "convert", EMAIL / "export.json", "--option", f"label_config={config}",
        "-o", tmp_path / "out.jsonl",
    )  # fmt: skip
    assert_refused(tmp_path, code, err, str(config), "encoding", expected=2)


def _patched_zip(path: Path, members: dict[str, bytes], damage: str) -> Path:
    """A zip whose first member asks for what Python's zipfile lacks: a newer zip version, a
    compression method it cannot inflate (99: AES), a password (encrypted), or whose last
    member's name is flagged UTF-8 but is not."""
    export_zip(path, {**members, "caf\u00e9.txt": b"x"}, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    local, central = 0, raw.index(b"PK\x01\x02")
    if damage == "name":
        at = raw.rindex("\u00e9".encode())
        raw[at : at + 2] = b"\x86\x86"
    elif damage == "version":
        raw[central + 6 : central + 8] = (162).to_bytes(2, "little")
    elif damage == "method":
        for header, at in ((local, 8), (central, 10)):
            raw[header + at : header + at + 2] = (99).to_bytes(2, "little")
    else:
        for header, at in ((local, 6), (central, 8)):
            raw[header + at] |= 1
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("adapter", ["cvat", "doccano"])
@pytest.mark.parametrize("damage", ["version", "method", "encrypted", "name"])
def test_a_zip_python_cannot_read_is_unreadable_input(
    tmp_path: Path, adapter: str, damage: str
) -> None:
    """Found by fuzzing: zipfile raises NotImplementedError (a zip version or compression
    method it lacks), RuntimeError (a password) and UnicodeDecodeError (a name), which
    escaped as tracebacks."""
    source = _patched_zip(tmp_path / "export.zip", base_members(adapter), damage)
    for from_ in (("--from", adapter), ()):
        code, err = run("convert", source, *from_, "-o", tmp_path / "out.jsonl")
        assert_refused(tmp_path, code, err, str(source))


def test_an_images_zip_python_cannot_read(tmp_path: Path) -> None:
    source = _qc_task_json(tmp_path, "a.png")
    for damage, expected in (("version", 2), ("name", 2), ("method", 1), ("encrypted", 1)):
        roots = _patched_zip(tmp_path / "images.zip", {"a.png": b"x" * 100}, damage)
        code, err = run(
            "convert", source, "-m", "qc-defects", "--images", roots, "-o", tmp_path / "out.jsonl"
        )
        assert code == expected, err  # 1: the task's image cannot be read (rejected)
        assert "images.zip" in err and not (tmp_path / "out.jsonl").exists()
