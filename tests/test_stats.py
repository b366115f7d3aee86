"""`bridge stats`: distributions and label counts of a hand-written file whose figures are
worked out by hand below."""

from __future__ import annotations

import base64
import io
import json
from array import array
from pathlib import Path
from typing import Any

from PIL import Image
from typer.testing import CliRunner

from jsonl_bridge.cli import app
from jsonl_bridge.stats import distribution, stats


def data_url(mode: str, size: tuple[int, int], fmt: str) -> tuple[str, int]:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt)
    data = out.getvalue()
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(data).decode()}", len(data)


def write_sample(tmp_path: Path) -> tuple[Path, list[int]]:
    """Four examples and two other lines; returns the path and the image byte sizes."""
    png, png_bytes = data_url("RGB", (40, 20), "PNG")
    jpeg, jpeg_bytes = data_url("RGB", (600, 300), "JPEG")
    images = [
        {"type": "text", "text": "x" * 8},
        {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": jpeg}},
    ]
    boxes = json.dumps([{"box_2d": [1, 2, 3, 4], "label": "dent"}] * 2)
    rows: list[Any] = [
        {
            "messages": [
                {"role": "user", "content": "a" * 40},
                {"role": "assistant", "content": "yes"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "b" * 4},
                {"role": "assistant", "content": "yes"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "s" * 3},
                {"role": "user", "content": images},
                {"role": "assistant", "content": [{"type": "text", "text": boxes}]},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "no"},
                {"role": "user", "content": "d"},
                {"role": "assistant", "content": "z" * 100},
            ]
        },
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(2, "not json")
    lines.append("[1]")
    path = tmp_path / "sample.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [png_bytes, jpeg_bytes]


def test_figures_of_a_hand_written_file(tmp_path: Path) -> None:
    path, image_bytes = write_sample(tmp_path)
    data = stats(path).to_json_dict()
    assert (data["lines"], data["examples"], data["other_lines"]) == (6, 4, 2)
    assert data["messages_per_example"] == {"min": 2, "median": 2, "p95": 4, "max": 4}
    # Tokens: ceil(chars / 4) + images. 1: 43 chars → 11; 2: 7 → 2;
    # 3: 3 + 8 + len(boxes) = 11 + 86 = 97 chars → 25, + 85 (detail low) + 600x300 high:
    # short side 300 < 768 so no resize, 2x1 tiles → 85 + 2*170 = 425 → 535; 4: 104 → 26.
    assert data["tokens_per_example"] == {"min": 2, "median": 11, "p95": 535, "max": 535}
    assert data["images_per_example"] == {"min": 0, "median": 0, "p95": 2, "max": 2}
    assert data["images"] == {
        "count": 2,
        "bytes": distribution(array("q", sorted(image_bytes))),
        "width": {"min": 40, "median": 40, "p95": 600, "max": 600},
        "height": {"min": 20, "median": 20, "p95": 300, "max": 300},
        "formats": {"PNG": 1, "JPEG": 1},
    }
    # "yes" twice, the box list's two "dent", "no" is not the last answer, and 100 z's are
    # too long to be a label.
    assert data["labels"] == {"yes": 2, "dent": 2}
    assert data["labels_complete"] is True


def test_distribution_uses_the_nearest_rank() -> None:
    assert distribution(array("q", range(1, 101))) == {
        "min": 1,
        "median": 50,
        "p95": 95,
        "max": 100,
    }
    assert distribution(array("q", [7])) == {"min": 7, "median": 7, "p95": 7, "max": 7}
    assert distribution(array("q")) is None


def test_cli_stats_text_and_json(tmp_path: Path) -> None:
    path, _ = write_sample(tmp_path)
    result = CliRunner().invoke(app, ["stats", str(path)])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        f"{path}: 6 lines, 4 examples, 2 other lines (see bridge validate)"
    )
    assert "labels: yes 2, dent 2" in result.stdout
    as_json = CliRunner().invoke(app, ["stats", str(path), "--format", "json"])
    assert json.loads(as_json.stdout)["examples"] == 4
    missing = CliRunner().invoke(app, ["stats", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 3
