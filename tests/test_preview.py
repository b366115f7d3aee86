"""`bridge preview` / `jsonl_bridge.write_preview`: the page's content, checked from its HTML.

Box positions are checked against the qc-defects answer key (MANIFEST.md, manifest.json:
every box in pixels as the fixture author drew it); the browser test
(test_preview_browser.py) checks that Chromium draws them there.
"""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import jsonl_bridge as jb
from jsonl_bridge._preview_sample import choose_lines
from jsonl_bridge.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "label-studio" / "qc-defects"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
IMAGES = [FIXTURE / "media" / "upload", FIXTURE / "external"]
Rect = tuple[float, float, float, float]


def convert_qc(folder: Path, mapping: str | Path = "qc-defects") -> tuple[Path, list[str]]:
    """The qc-defects export converted with its images: the JSONL and its task ids by line."""
    examples = list(jb.convert(FIXTURE / "export.json", mapping, images=IMAGES))
    out = folder / "qc.jsonl"
    jb.write_jsonl(examples, out)
    return out, [e.id for e in examples]


def expected_boxes(task_id: str) -> tuple[tuple[int, int], list[tuple[str, Rect]]]:
    """The image size and (label, pixel envelope) of each region of the annotation the
    selection rules keep (the ground truth, else the only one not cancelled), from the key."""
    task = next(t for t in MANIFEST["tasks"].values() if str(t["task_id"]) == task_id)
    live = [a for a in task["annotations"] if not a["was_cancelled"]]
    chosen = [a for a in live if a["ground_truth"]] or live
    assert len(chosen) == 1
    boxes: list[tuple[str, Rect]] = []
    size = (0, 0)
    for raw in chosen[0]["raw"]:
        px = raw["_px"]
        size = tuple(px["image_wh"])  # type: ignore[assignment]
        if "points" in px:
            xs, ys = [p[0] for p in px["points"]], [p[1] for p in px["points"]]
            boxes.append((px["label"], (min(xs), min(ys), max(xs), max(ys))))
        else:
            assert px["rotation_deg"] == 0
            x, y, w, h = px["x"], px["y"], px["w"], px["h"]
            boxes.append((px["label"], (x, y, x + w, y + h)))
    return size, boxes


class Page(HTMLParser):
    """The cards of a page: per card id, its image SVGs and box rectangles (attributes)."""

    def __init__(self, html: str):
        super().__init__()
        self.cards: dict[str, dict[str, Any]] = {}
        self.card: dict[str, Any] | None = None
        self.scripts = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "article":
            self.card = {"attrs": a, "svgs": [], "rects": []}
            self.cards[a.get("id") or f"card-{len(self.cards)}"] = self.card
        elif self.card is not None and tag == "svg" and a.get("class") == "jb-image":
            self.card["svgs"].append(a)
        elif self.card is not None and tag == "rect" and a.get("class") == "jb-box":
            self.card["rects"].append(a)


def drawn(rect: dict[str, str | None]) -> Rect:
    x, y = float(rect["x"] or 0), float(rect["y"] or 0)
    return x, y, x + float(rect["width"] or 0), y + float(rect["height"] or 0)


def assert_boxes_match_the_key(page: Page, task_ids: list[str]) -> None:
    for line, task_id in enumerate(task_ids, 1):
        card = page.cards[f"line-{line}"]
        (width, height), boxes = expected_boxes(task_id)
        (svg,) = card["svgs"]
        assert svg["viewbox"] == f"0 0 {width} {height}"  # the boxes' pixel space
        scale = 256 / max(width, height)
        assert (int(svg["width"]), int(svg["height"])) == (
            round(width * scale),
            round(height * scale),
        )
        assert [r["data-label"] for r in card["rects"]] == [label for label, _ in boxes]
        for rect, (_, want) in zip(card["rects"], boxes, strict=True):
            assert drawn(rect) == pytest.approx(want, abs=1.0), (task_id, rect)


@pytest.fixture(scope="module")
def qc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return convert_qc(tmp_path_factory.mktemp("qc"))


def test_boxes_are_drawn_where_the_annotators_drew_them(
    qc: tuple[Path, list[str]], tmp_path: Path
) -> None:
    jsonl, task_ids = qc
    assert task_ids == ["27", "29", "30", "33"]  # q1, q3, q4, q6 (q2 disagrees, q5 is remote)
    summary = jb.write_preview(jsonl, tmp_path / "report.html")
    assert (summary.lines, summary.examples, summary.sampled, summary.flagged) == (4, 4, 4, 0)
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert_boxes_match_the_key(page, task_ids)
    # q3 is the EXIF-6 JPEG: convert sent it transposed (480×640), and the boxes fit that
    assert page.cards["line-2"]["svgs"][0]["viewbox"] == "0 0 480 640"


@pytest.mark.parametrize("convention", ["xyxy", "xyxy_norm", "xywh", "qwen"])
def test_every_box_convention_is_drawn_in_the_same_place_with_its_mapping(
    convention: str, tmp_path: Path
) -> None:
    mapping = tmp_path / "boxes.yaml"
    template = f"{{{{ regions | boxes('{convention}') }}}}"
    mapping.write_text(f'version: 1\nextends: qc-defects\nassistant: "{template}"\n')
    jsonl, task_ids = convert_qc(tmp_path, mapping)
    jb.write_preview(jsonl, tmp_path / "report.html", mapping=mapping)
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert_boxes_match_the_key(page, task_ids)
    assert {r["data-convention"] for c in page.cards.values() for r in c["rects"]} == {convention}


def test_a_bare_bbox_is_not_guessed_without_the_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "boxes.yaml"
    mapping.write_text(
        "version: 1\nextends: qc-defects\nassistant: \"{{ regions | boxes('xywh') }}\"\n"
    )
    jsonl, _ = convert_qc(tmp_path, mapping)
    jb.write_preview(jsonl, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not any(c["rects"] for c in Page(html).cards.values())
    assert "the convention is unknown (xyxy, xyxy_norm or xywh): give --mapping" in html


def test_the_page_needs_no_network(qc: tuple[Path, list[str]], tmp_path: Path) -> None:
    jb.write_preview(qc[0], tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "default-src 'none'; img-src data:" in html  # the CSP forbids any fetch
    references = re.findall(r'\b(?:src|href|url)\s*[=(]\s*"?([^"\s)>]+)', html)
    assert references and all(r.startswith(("data:image/", "#")) for r in references)
    assert "<link" not in html and "@import" not in html and "@font-face" not in html
    thumbs = re.findall(r'href="data:image/jpeg;base64,([^"]+)"', html)
    assert len(thumbs) == 4 and all(len(t) < 20_000 for t in thumbs)  # thumbnails, not originals


def chat(user: Any, answer: str, system: str | None = "Be brief.") -> str:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": messages})


def test_text_from_the_file_cannot_inject_markup(tmp_path: Path) -> None:
    evil = '</script><script>alert(1)</script><img src="http://x/y.png">'
    lines = [chat(evil, evil), chat("hi", json.dumps([{"box_2d": [1, 2, 3, 4], "label": evil}]))]
    (tmp_path / "evil.jsonl").write_text("\n".join(lines) + "\n")
    jb.write_preview(tmp_path / "evil.jsonl", tmp_path / "evil.html")
    html = (tmp_path / "evil.html").read_text(encoding="utf-8")
    assert Page(html).scripts == 1  # the page's own
    assert "http://x" not in html.replace("&quot;http://x", "")  # only as escaped text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html


def test_the_sample_is_seeded_and_lines_named_by_findings_are_added(tmp_path: Path) -> None:
    lines = [chat(f"question {i}", "yes" if i % 3 else "no") for i in range(1, 301)]
    lines[249] = "{not json"
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "report.html"
    summary = jb.write_preview(tmp_path / "data.jsonl", out, sample=10, seed=3)
    chosen = choose_lines(300, 10, 3)
    assert chosen == choose_lines(300, 10, 3) != choose_lines(300, 10, 4)
    assert len(chosen) == 10 and all(1 <= n <= 300 for n in chosen)
    assert 250 not in chosen  # so line 250 is shown only because a finding names it
    page = Page(out.read_text(encoding="utf-8"))
    assert list(page.cards) == [f"line-{n}" for n in sorted([*chosen, 250])]
    assert (summary.sampled, summary.flagged, summary.lines, summary.examples) == (10, 1, 300, 299)
    assert page.cards["line-250"]["attrs"]["data-flagged"] == "1"
    html = out.read_text(encoding="utf-8")
    assert '<a href="#line-250">line 250</a>: column 2' in html  # E102, linked to its card
    # the figures are of the whole file, not of the sample: 100 "no", 199 "yes"
    assert "<title>yes: 199</title>" in html and "<title>no: 100</title>" in html
    bars = re.findall(r"<title>[^<]* tokens: (\d+)</title>", html)
    assert sum(int(n) for n in bars) == 299


def test_every_card_has_its_own_warnings_not_only_the_first_places(tmp_path: Path) -> None:
    # validate keeps the first 10 places per code; the 15 cards all lack a system message
    lines = [chat(f"q{i}", "a", system=None) for i in range(15)]
    (tmp_path / "bare.jsonl").write_text("\n".join(lines) + "\n")
    jb.write_preview(tmp_path / "bare.jsonl", tmp_path / "bare.html")
    html = (tmp_path / "bare.html").read_text(encoding="utf-8")
    assert html.count("<b>W103</b> no-system-message: no system message") == 15
    assert all(c["attrs"].get("data-flagged") == "1" for c in Page(html).cards.values())


def test_every_line_is_shown_when_the_sample_covers_the_file(tmp_path: Path) -> None:
    (tmp_path / "few.jsonl").write_text(chat("a", "b") + "\n" + chat("c", "d") + "\n")
    summary = jb.write_preview(tmp_path / "few.jsonl", tmp_path / "few.html", sample=50)
    assert (summary.sampled, summary.flagged) == (2, 0)
    html = (tmp_path / "few.html").read_text(encoding="utf-8")
    assert "Shown below: all 2 lines." in html


def jpeg(width: int, height: int, orientation: int | None = None) -> str:
    from PIL import Image

    image = Image.new("RGB", (width, height), (120, 120, 120))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def image_chat(urls: list[str], answer: str) -> str:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "Find the defects."}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return chat(parts, answer)


def test_exif_rotation_and_boxes_off_the_image_are_pointed_out(tmp_path: Path) -> None:
    boxes = json.dumps([{"box_2d": [100, 100, 200, 200], "label": "a"}])
    off = json.dumps([{"box_2d": [120, 100, 1500, 260], "label": "a"}])  # pixels as per mille?
    lines = [image_chat([jpeg(300, 200, orientation=6)], boxes), image_chat([jpeg(300, 200)], off)]
    (tmp_path / "img.jsonl").write_text("\n".join(lines) + "\n")
    jb.write_preview(tmp_path / "img.jsonl", tmp_path / "img.html")
    page = Page(html := (tmp_path / "img.html").read_text(encoding="utf-8"))
    # shown as stored (300×200, unrotated), the orientation named
    assert page.cards["line-1"]["svgs"][0]["viewbox"] == "0 0 300 200"
    assert "<b>EXIF orientation 6</b>: shown as stored, unrotated" in html
    assert "<b>1 outside the image</b>" in html
    assert drawn(page.cards["line-2"]["rects"][0]) == pytest.approx((30, 24, 78, 300))


def test_images_that_cannot_be_shown_say_why(tmp_path: Path) -> None:
    boxes = json.dumps([{"box_2d": [100, 100, 200, 200], "label": "a"}])
    lines = [
        image_chat(["https://example.com/part.png"], boxes),
        image_chat(["data:image/png;base64,AAAA"], boxes),
        image_chat([jpeg(40, 40), jpeg(40, 40)], boxes),
    ]
    (tmp_path / "img.jsonl").write_text("\n".join(lines) + "\n")
    jb.write_preview(tmp_path / "img.jsonl", tmp_path / "img.html")
    html = (tmp_path / "img.html").read_text(encoding="utf-8")
    assert "image not shown: a remote image: not fetched" in html
    assert "image not shown: cannot be decoded" in html
    assert "boxes not drawn: the example has 2 images" in html
    assert not any(c["rects"] for c in Page(html).cards.values())
    jb.write_preview(tmp_path / "img.jsonl", tmp_path / "again.html")
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == html  # no object addresses


def test_a_huge_line_makes_a_bounded_card(tmp_path: Path) -> None:
    """Ten thousand turns, or a thousand images, in one line: the card shows the start and the
    end and counts the rest, so the page stays small and quick to make."""
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
        for i in range(10_000)
    ]
    many_parts = [{"type": "text", "text": f"p{i}"} for i in range(500)]
    lines = [
        json.dumps({"messages": turns}),
        image_chat([jpeg(16, 16)] * 1000, "[]"),
        chat(many_parts, "ok"),
    ]
    (tmp_path / "huge.jsonl").write_text("\n".join(lines) + "\n")
    jb.write_preview(tmp_path / "huge.jsonl", tmp_path / "huge.html")
    html = (tmp_path / "huge.html").read_text(encoding="utf-8")
    first = html[html.index('id="line-1"') : html.index('id="line-2"')]
    assert first.count('class="jb-msg ') == 40
    assert "turn 29<" in first and "turn 30<" not in first and "turn 9989<" not in first
    assert "turn 9990<" in first and "turn 9999<" in first  # the last answer is shown
    assert "… 9,960 more messages" in first
    assert len(Page(html).cards["line-2"]["svgs"]) == 8
    assert "image not shown: over 8 in this card" in html  # 1 text + 39 images shown
    assert "… 961 more parts" in html
    third = html[html.index('id="line-3"') :]
    assert "p39<" in third and "p40<" not in third and "… 460 more parts" in third


def test_a_possible_decompression_bomb_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from jsonl_bridge._preview_images import thumbnail

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    refused = thumbnail(jpeg(150, 100))  # over the limit, under twice it (Pillow's own refusal)
    assert refused.url is None and refused.problem == "150x100 pixels: too many to decode"
    assert thumbnail(jpeg(100, 100)).url is not None


def test_agreement_is_shown_when_the_export_is_given(
    qc: tuple[Path, list[str]], tmp_path: Path
) -> None:
    jb.write_preview(qc[0], tmp_path / "report.html", source=FIXTURE / "export.json")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    # From the key: in `defect`, q1 admin/ben pair scratch (IoU 0.71) and dent (0.87), ben's
    # extra paint_chip is unmatched; q2 pairs scratch (0.75) but not the dent (45° rotated,
    # IoU 0.37): 3 pairs, 4 + 5 regions → F1 = 2·3/9.
    row = re.search(r"<tr><td>defect</td>.*?</tr>", html)
    assert row is not None and f"{6 / 9:.3f}" in row.group(0) and "jb-failed" in row.group(0)
    assert "Disagreements (2 items)" in html  # q1 and q2
    assert '<a href="#agreement">Agreement</a>' in html


def test_notebook_view_is_the_report_card(qc: tuple[Path, list[str]]) -> None:
    example = next(iter(jb.convert(FIXTURE / "export.json", "qc-defects", images=IMAGES)))
    html = example._repr_html_()
    assert html.startswith("<style>") and "jb-assistant" in html and "jb-user" in html
    page = Page(html)
    (card,) = page.cards.values()
    _, boxes = expected_boxes(example.id)
    got = [v for r in card["rects"] for v in drawn(r)]
    assert got == pytest.approx([v for _, box in boxes for v in box], abs=1.0)
    email = FIXTURE.parent / "email-classification"
    text = next(iter(jb.convert(email / "export.json", "email-classification")))
    plain = Page(text._repr_html_())
    assert [c["svgs"] for c in plain.cards.values()] == [[]]
    assert "Classification: " in text._repr_html_()


def test_to_dataframe_reads_a_jsonl_file(qc: tuple[Path, list[str]], tmp_path: Path) -> None:
    frame = jb.to_dataframe(qc[0])
    assert list(frame["line"]) == [1, 2, 3, 4]
    assert list(frame["images"]) == [1, 1, 1, 1] and list(frame["messages"]) == [3, 3, 3, 3]
    assert json.loads(frame["assistant"][0])[0]["label"] == "scratch"
    (tmp_path / "mixed.jsonl").write_text(chat("hi", "yo", None) + "\n\n[1]\n")
    mixed = jb.to_dataframe(str(tmp_path / "mixed.jsonl"))
    assert list(mixed["problem"].fillna("")) == ["", "E102 blank line", "not a chat example"]
    assert mixed["user"][0] == "hi" and mixed["assistant"][0] == "yo"


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stderr


def test_cli_writes_the_page_and_says_what_it_holds(
    qc: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    code, err = run("preview", qc[0], "-o", out, "--sample", 2, "--seed", 1, "-m", "qc-defects")
    assert code == 0, err
    assert re.match(r"wrote .*r\.html: 2 lines of 4, 0 errors, 1 warning, [\d,]+ bytes", err)
    assert len(Page(out.read_text(encoding="utf-8")).cards) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--from", "label-studio"], 2, "give --source"),
        (["--sample", "-1"], 2, "--sample -1"),
        (["-o", "{input}"], 2, "would overwrite the input"),
        (["-m", "no-such-preset"], 2, "no-such-preset"),
    ],
)
def test_cli_usage_errors(
    qc: tuple[Path, list[str]], args: list[str], code: int, message: str, tmp_path: Path
) -> None:
    args = [a.replace("{input}", str(qc[0])) for a in args]
    got, err = run("preview", qc[0], "-o", tmp_path / "r.html", *args)
    assert (got, message in err) == (code, True), err


def test_cli_missing_file_exits_3(tmp_path: Path) -> None:
    code, err = run("preview", tmp_path / "nope.jsonl", "-o", tmp_path / "r.html")
    assert code == 3 and "cannot read" in err


def test_the_profile_decides_what_counts_as_an_error(tmp_path: Path) -> None:
    """11 images in one example: over openai's 10 (E309), within azure-openai's 64."""
    data = tmp_path / "many.jsonl"
    data.write_text(image_chat([jpeg(8, 8)] * 11, "[]") + "\n", encoding="utf-8")
    strict = jb.write_preview(data, tmp_path / "a.html")
    roomy = jb.write_preview(data, tmp_path / "b.html", profile="azure-openai")
    assert (strict.errors, roomy.errors) == (1, 0)
    result = CliRunner().invoke(app, ["preview", str(data), "-o", "-"])
    assert result.exit_code == 2 and "not '-'" in result.stderr
    result = CliRunner().invoke(
        app, ["preview", str(data), "-o", str(tmp_path / "c.html"), "--profile", "azure-openai"]
    )
    assert result.exit_code == 0 and "0 errors" in result.stderr


def test_a_prefix_every_label_shares_is_left_off_the_bar_names(tmp_path: Path) -> None:
    """email-classification answers all start `Classification: `: cut at 13 characters the
    bars would all read the same."""
    data = tmp_path / "cls.jsonl"
    answers = ["billing", "technical_support", "sales"]
    data.write_text("".join(chat("Hi", f"Classification: {a}") + "\n" for a in answers))
    jb.write_preview(data, tmp_path / "cls.html")
    page = (tmp_path / "cls.html").read_text(encoding="utf-8")
    chart = page[page.index('class="jb-chart"') :]
    names = re.findall(r'text-anchor="end">([^<]+)</text>', chart)[: len(answers)]
    assert sorted(names) == ["billing", "sales", "technical_sup…"]
    assert "<title>Classification: billing: 1</title>" in chart
