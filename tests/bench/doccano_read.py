"""Benchmark (run by hand, never in CI): reading a doccano JSONL export into records.

The floor is what any reader must do per row: split the file into lines and parse each with
orjson. The adapter adds what makes the records trustworthy: every span checked against its
text (and converted from UTF-16 units when asked), every value's type checked before its
msgspec Struct is built (adapters/_doccano_fast.py for the usual rows). Each measure runs in
a fresh process, so that its peak resident set size (ru_maxrss) is its own; reading the
first 10,000 and then all rows shows whether memory grows with the export. Times are
process CPU (noise from other jobs on the machine inflates wall clock far more) and wall
clock, from the first row on: the imports are done, and the garbage collector set up as the
CLI sets it, before the clock starts.

    python ../shared/bench/gen_exports.py --tool doccano --kind seq --n-tasks 100000 \
        --out /tmp/dcbench/seq
    python tests/bench/doccano_read.py /tmp/dcbench/seq/all.jsonl --rounds 3
    python tests/bench/doccano_read.py /tmp/benchrun/doccano-100000/all.jsonl  # classification
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import warnings
from itertools import islice
from pathlib import Path

GENERATOR = Path(__file__).parents[2].parent / "shared" / "bench" / "gen_exports.py"


def measure(what: str, path: Path, rows: int, options: dict[str, str]) -> dict[str, float]:
    """Read `rows` rows of `path` one way, in this process; CPU and wall seconds, peak RSS."""
    import orjson

    import jsonl_bridge
    import jsonl_bridge.adapters.doccano  # imports are not per-row work: done before the clock

    read = jsonl_bridge.read  # imports the pipeline
    warnings.simplefilter("ignore")  # the generated file is a collaborative `all.jsonl`
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)  # as the CLI does
    wall, cpu = time.perf_counter(), time.process_time()
    if what == "orjson":
        with path.open("rb") as lines:
            count = sum(1 for line in islice(lines, rows) if orjson.loads(line))
    else:
        records = read(path, "doccano", options)
        count = sum(1 for _ in islice(records, rows))
    return {
        "rows": count,
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - wall,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_child(what: str, path: Path, rows: int, options: dict[str, str]) -> dict[str, float]:
    argv = [sys.executable, __file__, str(path), "--child", what, "--rows", str(rows)]
    argv += [f"--option={key}={value}" for key, value in options.items()]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("export", type=Path, help="a doccano JSONL file (generated if missing)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=0, help="rows to read (0: the sizes below)")
    parser.add_argument("--option", action="append", default=[], help="adapter KEY=VALUE")
    parser.add_argument("--child", choices=["orjson", "adapter"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = dict(option.split("=", 1) for option in args.option)
    if args.child:
        print(json.dumps(measure(args.child, args.export, args.rows, options)))
        return
    if not args.export.exists():
        out = args.export.parent
        subprocess.run(
            [sys.executable, str(GENERATOR), "--tool", "doccano", "--kind", "seq",
             "--n-tasks", "100000", "--out", str(out)],
            check=True,
        )  # fmt: skip
        args.export = out / "all.jsonl"
    sizes = [args.rows] if args.rows else [10_000, 100_000]
    print(f"{args.export} ({args.export.stat().st_size / 1e6:.0f} MB), options {options}")
    for round_ in range(1, args.rounds + 1):
        for rows in sizes:
            for what in ("orjson", "adapter"):  # alternately: machine noise hits both
                got = in_child(what, args.export, rows, options)
                print(
                    f"round {round_} {what:>7} {got['rows']:>7,.0f} rows: "
                    f"{got['rows'] / got['cpu']:>9,.0f} rows/s CPU, "
                    f"{got['rows'] / got['wall']:>9,.0f} rows/s wall, "
                    f"peak RSS {got['peak_mib']:.0f} MiB"
                )


if __name__ == "__main__":
    main()
