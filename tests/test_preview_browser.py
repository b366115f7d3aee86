"""The preview page in a real browser: headless Chromium (Debian's package) driven by the
`playwright` package, which is told where Chromium is (it never downloads a browser).

The boxes are found on a screenshot, not in the DOM: the pixels that change when the page's
"boxes" switch is turned off, in a box's own colour, must form that box's outline where
the answer key (qc-defects MANIFEST) puts it, scaled to the thumbnail. Outside CI a machine
without Chromium or playwright skips these tests; in CI (CI=true) they must run.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import jsonl_bridge as jb

if TYPE_CHECKING:
    from PIL import Image
    from playwright.sync_api import Browser, Page

FIXTURE = Path(__file__).parent / "fixtures" / "label-studio" / "qc-defects"
IMAGES = [FIXTURE / "media" / "upload", FIXTURE / "external"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Playwright's launch gives each browser a fresh temporary profile (--user-data-dir)."""
IN_CI = os.environ.get("CI") == "true"


def chromium_path() -> str:
    """Debian's Chromium; skipped outside CI when it (or playwright) is missing, a failure
    in CI, where .ci/run installs both."""
    found = shutil.which("chromium")
    missing = [] if found else ["Debian's chromium (apt-get install chromium)"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing or found is None:
        why = f"the browser test needs {' and '.join(missing)}"
        if IN_CI:
            pytest.fail(f"{why}: .ci/run installs them")
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        launched.close()


class Watched:
    """A page with its console errors, uncaught exceptions and requests recorded."""

    def __init__(self, browser: Browser, url: str):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page: Page = browser.new_page(
            viewport={"width": 1000, "height": 900}, device_scale_factor=1
        )
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)


MARGIN = 4


def screenshot(page: Page, around: dict[str, float]) -> Image.Image:
    """The screen's pixels around a thumbnail, `MARGIN` pixels beyond it on every side (other
    cards may show boxes of the same colour)."""
    from PIL import Image

    x, y = int(around["x"]) - MARGIN, int(around["y"]) - MARGIN
    w, h = int(around["width"]) + 2 * MARGIN + 1, int(around["height"]) + 2 * MARGIN + 1
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    return shot.crop((x, y, x + w, y + h))


def outline(on: Image.Image, off: Image.Image, colour: str) -> tuple[int, int, int, int] | None:
    """The bounding box (x1, y1, x2, y2 inclusive) of the pixels drawn in `colour`: changed
    when the boxes are hidden, and of that colour with the boxes shown."""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    hits = [
        (x, y)
        for y in range(on.height)
        for x in range(on.width)
        if _near(on.getpixel((x, y)), want) and not _near(off.getpixel((x, y)), want)
    ]
    if not hits:
        return None
    xs, ys = [x for x, _ in hits], [y for _, y in hits]
    return min(xs), min(ys), max(xs), max(ys)


def _near(pixel: Any, want: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, want, strict=True))


def manifest_boxes(task: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(label, pixel envelope) of the ground-truth annotation of a task, from the key."""
    manifest = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
    (truth,) = [a for a in manifest["tasks"][task]["annotations"] if a["ground_truth"]]
    boxes = []
    for raw in truth["raw"]:
        px = raw["_px"]
        if "points" in px:
            xs, ys = [p[0] for p in px["points"]], [p[1] for p in px["points"]]
            boxes.append((px["label"], (min(xs), min(ys), max(xs), max(ys))))
        else:
            boxes.append((px["label"], (px["x"], px["y"], px["x"] + px["w"], px["y"] + px["h"])))
    return boxes


def test_the_boxes_are_drawn_where_the_key_puts_them(browser: Browser, tmp_path: Path) -> None:
    examples = list(jb.convert(FIXTURE / "export.json", "qc-defects", images=IMAGES))
    assert examples[0].id == "27"  # q1: the ground truth of admin, on a 640×480 image
    jb.write_jsonl(examples, tmp_path / "qc.jsonl")
    jb.write_preview(tmp_path / "qc.jsonl", tmp_path / "report.html")
    url = (tmp_path / "report.html").as_uri()
    watched = Watched(browser, url)
    page = watched.page
    image = page.locator("#line-1 svg.jb-image")
    image.scroll_into_view_if_needed()
    place = image.bounding_box()
    assert place is not None and (place["width"], place["height"]) == (256, 192)  # 640×480
    boxes_on = screenshot(page, place)
    colours = page.eval_on_selector_all(
        "#line-1 rect.jb-box", "rs => rs.map(r => [r.dataset.label, r.getAttribute('stroke')])"
    )
    page.uncheck("#jb-show-boxes")
    boxes_off = screenshot(page, place)
    # the thumbnail itself is painted: the part's grey (128, 130, 134 in the fixture image),
    # not the figure's light background
    assert _near(boxes_off.getpixel((MARGIN + 20, MARGIN + 170)), (128, 130, 134))
    expected = manifest_boxes("q1")
    assert [label for label, _ in colours] == [label for label, _ in expected]
    assert len({colour for _, colour in colours}) == 3
    scale = 256 / 640
    for (label, colour), (_, (x1, y1, x2, y2)) in zip(colours, expected, strict=True):
        found = outline(boxes_on, boxes_off, colour)
        assert found is not None, f"no {label} box drawn"
        # on the screen: where the thumbnail is, plus the key's pixels scaled to it (in the
        # crop, which starts MARGIN pixels before the thumbnail); a 2-pixel stroke centred
        # on the edge reaches one pixel beyond it
        left = place["x"] - int(place["x"]) + MARGIN
        top = place["y"] - int(place["y"]) + MARGIN
        want = (left + x1 * scale - 1, top + y1 * scale - 1, left + x2 * scale, top + y2 * scale)
        assert found == pytest.approx(want, abs=1), (label, found, want)
    assert watched.errors == []
    assert watched.requests == [url]  # the page itself, nothing else: no network at all


def test_links_to_a_line_open_its_page(browser: Browser, tmp_path: Path) -> None:
    def line(i: int, system: bool = True) -> str:
        first = [{"role": "system", "content": "Answer."}] if system else []
        turns = [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]
        return json.dumps({"messages": first + turns})

    lines = [line(i, system=i != 30) for i in range(1, 46)]
    lines[44] = '{"messages": []}'  # E201 on line 45; W103 (no system message) on line 30
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    jb.write_preview(tmp_path / "d.jsonl", tmp_path / "d.html")
    watched = Watched(browser, (tmp_path / "d.html").as_uri())
    page = watched.page
    assert page.locator("#jb-cards > .jb-card:visible").count() == 20
    assert page.text_content("#jb-page-status") == "page 1 of 3 · 45 lines"
    assert not page.is_visible("#line-45")
    page.click('a[href="#line-45"]')  # in the findings table
    page.wait_for_function("!document.getElementById('line-45').hidden")
    assert page.text_content("#jb-page-status") == "page 3 of 3 · 45 lines"
    page.check("#jb-flagged-only")
    assert page.text_content("#jb-page-status") == "page 1 of 1 · 2 lines"
    visible = page.eval_on_selector_all(
        "#jb-cards > .jb-card:not([hidden])", "cs => cs.map(c => c.id)"
    )
    assert visible == ["line-30", "line-45"]
    assert watched.errors == []


def test_only_the_pages_own_script_runs(browser: Browser, tmp_path: Path) -> None:
    """The CSP names the page script by its hash: a script that got into the page some other
    way (a crafted line, were escaping ever to fail) is blocked, the page's own still runs."""
    line = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    (tmp_path / "d.jsonl").write_text(json.dumps(line) + "\n")
    jb.write_preview(tmp_path / "d.jsonl", tmp_path / "d.html")
    html = (tmp_path / "d.html").read_text(encoding="utf-8")
    injected = "<script>document.title = 'injected';</script>"
    (tmp_path / "d.html").write_text(html.replace("<body>", f"<body>{injected}", 1))
    watched = Watched(browser, (tmp_path / "d.html").as_uri())
    assert watched.page.title() != "injected"
    assert watched.page.eval_on_selector("html", "e => e.classList.contains('jb-js')")
    assert any("Content Security Policy" in error for error in watched.errors)
