"""What every fuzz target does: write the input to a file named like an export of its adapter,
read it to the end, and let only BridgeError through.

The first byte chooses the file name (so one target covers every format of its adapter, told
apart by extension as the adapter itself does); the rest is the file's content. Any other
exception propagates, and atheris reports it as a crash with the input that caused it.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["jsonl_bridge"]):
    # the adapters load lazily: imported here, so that their code is instrumented too
    import jsonl_bridge.adapters.cvat
    import jsonl_bridge.adapters.doccano
    import jsonl_bridge.adapters.label_studio  # noqa: F401
    from jsonl_bridge.errors import BridgeError
    from jsonl_bridge.registry import get_adapter


def make_target(adapter: str, names: Sequence[str]) -> Callable[[bytes], None]:
    """The `TestOneInput` of `adapter`, trying its export formats by `names`."""
    read = get_adapter(adapter).read
    folder = Path.cwd() / "input"  # run.py's folder for this target, removed after a clean run
    folder.mkdir(exist_ok=True)
    warnings.simplefilter("ignore")  # adapters warn about odd inputs; only crashes matter

    def test_one_input(data: bytes) -> None:
        if not data:
            return
        path = folder / names[data[0] % len(names)]
        path.write_bytes(data[1:])
        try:
            for _ in read(path, None):
                pass
        except BridgeError:
            pass

    return test_one_input


def main(adapter: str, names: Sequence[str]) -> None:
    atheris.Setup(sys.argv, make_target(adapter, names))
    atheris.Fuzz()
