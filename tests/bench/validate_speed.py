"""Benchmark (run by hand, never in CI): `jsonl_bridge.validate` on text-only files, against
its floor, with the peak memory of a fresh process at two file sizes.

The files are generated here (seeded), in a temporary folder: chat examples with a system
message, an e-mail as the user message and `Classification: <label>` as the answer, with
short lines (about 675 bytes) and long ones (about 2.4 KB). The floor is what any checker
must do: read the file line by line and parse each line with orjson. Both run over the same
file, alternately, so machine noise hits both; the best of `--rounds` is printed, as wall
clock and as process CPU time (on a shared machine the CPU time varies less). Peak memory
is the resident set size of a new process that only validates the file (VmHWM), so it holds
the interpreter, the imports and what validation keeps (the duplicate hashes).

    python tests/bench/validate_speed.py --mb 100 --rounds 3
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

import jsonl_bridge as jb

# fmt: off
WORDS = [
    "invoice", "order", "refund", "delivery", "account", "password", "billing", "quote",
    "shipment", "contract", "support", "error", "login", "upgrade", "plan", "renewal",
    "discount", "payment", "address", "warranty", "return",
]
# fmt: on
LABELS = ["billing", "technical_support", "sales", "spam", "other"]
SYSTEM = (
    "Classify the customer e-mail into exactly one of these categories: "
    + ", ".join(LABELS)
    + '. Answer in the form "Classification: <category>".'
)
LINE_BYTES = {"short": 675, "long": 2400}
"""Target line length of each kind, in bytes."""
RSS_SIZES_MB = (10, 300)
"""File sizes (short lines) at which the peak memory of a validating process is measured."""
_RSS_PROGRAM = (
    "import sys, jsonl_bridge as jb; "
    "report = jb.validate(sys.argv[1]); assert report.ok, report.to_text(); "
    "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"
)
"""Peak resident memory from /proc (VmHWM, in kB): `ru_maxrss` would be the benchmark's own,
since Linux carries it across the child's exec."""


def example_line(rng: random.Random, number: int, target: int) -> bytes:
    """One chat example of about `target` bytes (a distinct e-mail each time)."""
    words: list[str] = []
    line = b""
    while len(line) < target:
        words += rng.choices(WORDS, k=8)
        email = f"Subject: case {number}\n\nHello, " + " ".join(words) + ".\nRegards"
        line = orjson.dumps(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": email},
                    {"role": "assistant", "content": f"Classification: {rng.choice(LABELS)}"},
                ]
            }
        )
    return line + b"\n"


def write_file(path: Path, megabytes: int, target: int, seed: int) -> int:
    """Write about `megabytes` MB of examples to `path`; the number of lines."""
    rng = random.Random(seed)
    size = lines = 0
    with path.open("wb") as out:
        while size < megabytes * 1_000_000:
            line = example_line(rng, lines, target)
            out.write(line)
            size += len(line)
            lines += 1
    return lines


def floor(path: Path) -> None:
    with path.open("rb") as handle:
        for raw in handle:
            orjson.loads(raw)


def validate(path: Path) -> None:
    report = jb.validate(path)
    if not report.ok:
        raise SystemExit(report.to_text())


def peak_rss_mb(path: Path) -> float:
    """Peak resident memory of a fresh process validating `path`, in MB."""
    output = subprocess.run(
        [sys.executable, "-c", _RSS_PROGRAM, str(path)], check=True, capture_output=True
    )
    return int(output.stdout) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="size of each timed file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="validate-speed-") as folder:
        for kind, target in LINE_BYTES.items():
            path = Path(folder) / f"{kind}.jsonl"
            lines = write_file(path, args.mb, target, args.seed)
            size = path.stat().st_size
            print(f"{kind}: {size / 1e6:.0f} MB, {lines:,} lines ({size / lines:.0f} bytes each)")
            runs: list[tuple[str, Callable[[Path], None]]] = [
                ("floor", floor),
                ("validate", validate),
            ]
            wall = dict.fromkeys((name for name, _ in runs), float("inf"))
            cpu = wall.copy()
            for _ in range(args.rounds):
                for name, run in runs:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    run(path)
                    wall[name] = min(wall[name], time.perf_counter() - start)
                    cpu[name] = min(cpu[name], time.process_time() - start_cpu)
            for name, seconds in wall.items():
                print(
                    f"  {name:9s} {size / seconds / 1e6:6.1f} MB/s wall "
                    f"({lines / seconds:9,.0f} lines/s), {size / cpu[name] / 1e6:6.1f} MB/s cpu"
                )
            print(f"  validate / floor (wall): {wall['floor'] / wall['validate']:.2f}")
            path.unlink()
        for megabytes in RSS_SIZES_MB:
            path = Path(folder) / f"rss-{megabytes}.jsonl"
            lines = write_file(path, megabytes, LINE_BYTES["short"], args.seed)
            print(f"peak RSS, {megabytes} MB short lines ({lines:,}): {peak_rss_mb(path):.0f} MB")
            path.unlink()


if __name__ == "__main__":
    main()
