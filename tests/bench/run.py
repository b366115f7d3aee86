"""Benchmark (run by hand, never in CI): jsonl_bridge against the floor of each workload.

For each workload and size, generates a seeded export with the shared generator (kept under
--out and reused), then runs in fresh child processes the floor (the bare parse any tool must
do) and jsonl_bridge on the same file, alternated `--rounds` times (the machine's speed
drifts), and prints the median wall times, items per second, the ratio of the medians with
the range of each round's ratio, and each process's peak resident memory. Sizes side by
side show how time and memory grow.

    python tests/bench/run.py --gen ../shared/bench/gen_exports.py --out /tmp/bench \\
        --sizes 10000,100000 [--only ls-text,doccano,cvat]

The image workloads have their own scripts: tests/bench/image_path.py (pass-through) and the
re-encoding row of docs/performance.md (`bridge convert --workers N`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median


@dataclass(frozen=True)
class Workload:
    name: str
    generate: list[str]
    """gen_exports.py arguments, without --n-tasks and --out."""
    export: str
    """The export file inside the generated folder."""
    floor: str
    """Python code counting the items of `path` the cheapest way; prints the count."""
    ours: str
    """Python code running jsonl_bridge on `path`; prints the count."""


WORKLOADS = [
    Workload(
        "ls-text",
        ["--tool", "label-studio", "--kind", "classification"],
        "export.json",
        "import ijson; print(sum(1 for _ in ijson.items(open(path, 'rb'), 'item')))",
        "import jsonl_bridge as jb; c = jb.convert(path, 'email-classification'); "
        "jb.write_jsonl(c, open('/dev/null', 'wb')); print(c.report.tasks_read)",
    ),
    Workload(
        "doccano",
        ["--tool", "doccano", "--kind", "classification"],
        "all.jsonl",
        "import orjson; print(sum(1 for line in open(path, 'rb') if orjson.loads(line)))",
        "import jsonl_bridge as jb; print(sum(1 for _ in jb.read(path, 'doccano')))",
    ),
    Workload(
        "cvat",
        ["--tool", "cvat", "--images", "0", "--boxes", "10"],
        "annotations.xml",
        "import xml.etree.ElementTree as ET\n"
        "n = 0\n"
        "for _, el in ET.iterparse(path):\n"
        "    if el.tag == 'image':\n"
        "        n += 1; el.clear()\n"
        "print(n)",
        "import jsonl_bridge as jb; print(sum(1 for _ in jb.read(path, 'cvat')))",
    ),
]


def run(code: str, path: Path) -> tuple[float, int, int]:
    """(wall seconds, items counted, peak RSS in KiB) of `code` in a fresh interpreter."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", f"path = {str(path)!r}\n{code}"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"failed ({child.returncode}): {code}")
    return wall, int(output.split()[-1]), usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--gen", type=Path, required=True, help="path of gen_exports.py")
    parser.add_argument("--out", type=Path, required=True, help="where exports are generated")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--only", default=",".join(w.name for w in WORKLOADS))
    parser.add_argument(
        "--rounds", type=int, default=3, help="floor and ours alternated; medians are shown"
    )
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    print(f"{'workload':10} {'size':>8} {'floor s':>8} {'ours s':>8} {'ratio':>6} "
          f"{'ratios':>9} {'items/s':>9} {'floor MiB':>9} {'ours MiB':>9}")  # fmt: skip
    for workload in (w for w in WORKLOADS if w.name in wanted):
        for size in (int(s) for s in args.sizes.split(",")):
            folder = args.out / f"{workload.name}-{size}"
            if not (folder / workload.export).exists():
                command = [sys.executable, str(args.gen), *workload.generate]
                command += ["--n-tasks", str(size), "--out", str(folder)]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            path = folder / workload.export
            floors, ours = [], []
            for _ in range(args.rounds):  # alternated: the machine's speed drifts
                floors.append(run(workload.floor, path))
                ours.append(run(workload.ours, path))
            counts = {n for _, n, _ in floors + ours}
            assert len(counts) == 1, (workload.name, counts)
            floor_s, ours_s = median(t for t, _, _ in floors), median(t for t, _, _ in ours)
            ratios = [o[0] / f[0] for f, o in zip(floors, ours, strict=True)]
            print(
                f"{workload.name:10} {size:8} {floor_s:8.2f} {ours_s:8.2f} "
                f"{ours_s / floor_s:6.1f} {min(ratios):4.1f}-{max(ratios):<4.1f} "
                f"{counts.pop() / ours_s:9.0f} "
                f"{max(k for _, _, k in floors) / 1024:9.0f} "
                f"{max(k for _, _, k in ours) / 1024:9.0f}"
            )


if __name__ == "__main__":
    main()
