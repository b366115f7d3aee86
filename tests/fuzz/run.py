"""Run every adapter's fuzz target for a fixed time budget (CI: 20 s in all); exit 1 when a
target crashed (an exception other than BridgeError), ran out of memory or hung on an input.

    python tests/fuzz/run.py [--seconds 20]

Each target starts from a corpus of real exports (seeds.py) and runs in its own process, in a
temporary folder where libFuzzer leaves the crashing input (kept, and named in the output).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from seeds import NAMES, seeds

HERE = Path(__file__).resolve().parent
TARGETS = {
    "label-studio": "fuzz_label_studio.py",
    "doccano": "fuzz_doccano.py",
    "cvat": "fuzz_cvat.py",
}


def _corpus(adapter: str, folder: Path) -> Path:
    """The seeds as libFuzzer inputs: a byte choosing the file name, then the content."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for number, (name, content) in enumerate(seeds(adapter)):
        selector = NAMES[adapter].index(name)
        (corpus / f"seed-{number}").write_bytes(bytes([selector]) + content)
    return corpus


def run_target(adapter: str, seconds: int) -> bool:
    """Fuzz one target; its folder (corpus, crashing input) is kept only when it crashed."""
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{adapter}-"))
    command = [
        sys.executable,
        str(HERE / TARGETS[adapter]),
        f"-max_total_time={seconds}",
        "-timeout=10",  # seconds one input may take: a longer one is a hang
        "-rss_limit_mb=2048",
        "-max_len=65536",
        f"-artifact_prefix={folder}/",
        str(_corpus(adapter, folder)),
    ]
    try:
        done = subprocess.run(
            command,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # atheris prints the uncaught exception on stdout
            text=True,
            timeout=seconds + 120,
        )
    except subprocess.TimeoutExpired:  # the whole target hung past its own -timeout
        print(f"== {adapter}: hung past {seconds + 120} s (inputs kept in {folder})", flush=True)
        return False
    lines = done.stdout.splitlines()
    if done.returncode == 0:
        shutil.rmtree(folder)
        summary = next((line for line in reversed(lines) if "DONE" in line), "")
        print(f"== {adapter}: no crash; {summary.strip()}", flush=True)
        return True
    progress = ("NEW ", "REDUCE ", "pulse ", "INITED ", "INFO: Instrumenting")
    kept = [line for line in lines if not any(word in line for word in progress)]
    tail = "\n".join(kept[-60:])  # the uncaught exception and where its input was saved
    print(f"== {adapter}: exit {done.returncode} (inputs kept in {folder})\n{tail}", flush=True)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="budget for all targets")
    budget = max(parser.parse_args().seconds // len(TARGETS), 1)
    failed = [adapter for adapter in TARGETS if not run_target(adapter, budget)]
    if failed:
        print(f"fuzzing found crashes in: {', '.join(failed)}")
        return 1
    print(f"fuzzing: no crash in {len(TARGETS)} targets ({budget} s each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
