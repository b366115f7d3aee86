"""Re-encoding in worker processes (`--workers`): the same bytes and rejects, in the same order.

The qc-defects fixture (tests/fixtures/label-studio/qc-defects, MANIFEST.md) with
`images.max_side: 64` makes every image need re-encoding; its http image (q5, task 32) is
refused without --allow-remote, and without the `external` root the local-files image (q6,
task 33) is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import jsonl_bridge as jb
from jsonl_bridge.cli import app

QC = Path(__file__).parent / "fixtures" / "label-studio" / "qc-defects"
UPLOADS = QC / "media" / "upload"
ROOTS = [UPLOADS, QC / "external"]


def _small(tmp_path: Path) -> Path:
    mapping = tmp_path / "small.yaml"
    mapping.write_text("version: 1\nextends: qc-defects\nimages: {max_side: 64}\n")
    return mapping


def _run(tmp_path: Path, workers: int, roots: list[Path]) -> tuple[bytes, list[tuple[str, str]]]:
    out = tmp_path / f"w{workers}.jsonl"
    conversion = jb.convert(QC / "export.json", _small(tmp_path), images=roots, workers=workers)
    report = jb.write_jsonl(conversion, out)
    assert report.images_reencoded == report.images_embedded > 0
    return out.read_bytes(), [(r.id, r.reason) for r in conversion.rejects]


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_write_the_same_bytes_and_rejects(tmp_path: Path, workers: int) -> None:
    alone = _run(tmp_path, 1, ROOTS)
    assert _run(tmp_path, workers, ROOTS) == alone
    assert ("32", "image_refused") in alone[1]  # the http image, per the MANIFEST


def test_a_missing_image_is_rejected_the_same_way_with_workers(tmp_path: Path) -> None:
    """Without the `external` root the local-files image (task 33) is not found; the error
    is raised when the task uses its image, as without workers."""
    alone = _run(tmp_path, 1, [UPLOADS])
    assert ("33", "image_not_found") in alone[1]
    assert _run(tmp_path, 2, [UPLOADS]) == alone


def test_workers_below_one_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(jb.UsageError, match="workers must be at least 1"):
        jb.convert(QC / "export.json", "qc-defects", images=ROOTS, workers=0)
    result = CliRunner().invoke(app, ["convert", str(QC / "export.json"), "--workers", "0"])
    assert result.exit_code == 2


def test_a_broken_pool_falls_back_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers killed (for memory) or unable to start (a script that converts when imported,
    under spawn): the run goes on in this process with one warning, the same bytes."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    alone = _run(tmp_path, 1, ROOTS)

    def broken(*args: object, **kwargs: object) -> None:
        raise BrokenProcessPool("a worker died")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", broken)
    with pytest.warns(UserWarning, match="image worker processes stopped"):
        assert _run(tmp_path, 2, ROOTS) == alone


def test_python_dash_m_with_workers(tmp_path: Path) -> None:
    """`python -m jsonl_bridge` must not run the CLI again in a worker that imports
    `__main__` (spawn does): the module guards its call."""
    import subprocess
    import sys

    out = tmp_path / "m.jsonl"
    command = [sys.executable, "-m", "jsonl_bridge", "convert", str(QC / "export.json")]
    command += ["-m", str(_small(tmp_path)), "--workers", "2", "-o", str(out)]
    command += [f"--images={root}" for root in ROOTS]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == _run(tmp_path, 1, ROOTS)[0]
