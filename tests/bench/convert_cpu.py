"""Benchmark (run by hand, never in CI): CPU of `convert` + `write_jsonl` to /dev/null.

Three measures of one export and mapping: the whole conversion from the file (`file`, with
the first pass that lists the labels when the mapping needs it), the same with
`--option label_config=...` style options (`--config`), and the conversion side alone
(`records`: the records are read into memory first, so only selection, rendering, the gate
and the writer are timed; the label pass then runs over the list). Process CPU, because the
machine is shared and wall clock mostly measures the neighbours; the garbage collector is set
as the CLI sets it. Each round is a new `convert`; the first round of a process also pays for
lazy imports, so read the best round. Text runs past 2,000 tasks convert in worker processes
(`--workers`, default one per core): their CPU is counted too, and shown apart.

    python ../shared/bench/gen_exports.py --tool label-studio --kind classification \
        --n-tasks 10000 --out /tmp/benchrun/ls-text-10000
    python tests/bench/convert_cpu.py /tmp/benchrun/ls-text-10000/export.json --mode records
    python tests/bench/convert_cpu.py /tmp/benchrun/ls-text-10000/export.json --config cls.xml
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import warnings
from pathlib import Path

import jsonl_bridge as jb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--mapping", default="email-classification")
    parser.add_argument("--config", help="a Label Studio labeling config (label_config=PATH)")
    parser.add_argument("--mode", choices=["file", "records"], default="file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, help="as convert(workers=...); default: cores")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # disagreement and repeated-id notices are expected
    options = {"label_config": args.config} if args.config else None
    records = list(jb.read(args.export, options=options)) if args.mode == "records" else None
    gc.freeze()
    gc.set_threshold(50_000)
    for round_ in range(args.rounds):
        start, children = time.process_time(), _children_cpu()
        if records is not None:
            conversion = jb.convert(records, args.mapping, workers=args.workers)
        else:
            conversion = jb.convert(
                args.export, args.mapping, options=options, workers=args.workers
            )
        with open("/dev/null", "wb") as sink:
            jb.write_jsonl(conversion, sink)
        here = time.process_time() - start
        workers = _children_cpu() - children
        seconds = here + workers
        tasks = conversion.report.tasks_read
        print(
            f"round {round_}: {seconds:.3f} s CPU ({here:.3f} here, {workers:.3f} in workers), "
            f"{tasks / seconds:,.0f} tasks/s of CPU ({tasks} tasks)"
        )


def _children_cpu() -> float:
    """CPU of the worker processes that ended (convert's pool ends with each conversion)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
