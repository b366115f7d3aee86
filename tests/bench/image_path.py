"""Benchmark (run by hand, never in CI): the pass-through image path against its floor.

The floor is what any converter must do per image: read the file, base64 it and write an orjson
line. jsonl_bridge's path adds what makes the output safe to pay for: the pass-through decision
(format, mode, size, EXIF orientation, read by Pillow from the headers), the soundness walk
(PNG CRCs, JPEG markers and scan data) and the same line through the library's writer. Both
run over the same files, alternately, so machine noise hits both; times are wall clock and
process CPU.

    python ../shared/bench/gen_exports.py --tool label-studio --kind bbox --n-tasks 2000 \
        --annotators 1 --image-size 1024x768 --out /tmp/bench/bbox
    python tests/bench/image_path.py /tmp/bench/bbox/media/upload --rounds 3
"""

from __future__ import annotations

import argparse
import ctypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson
import pybase64

from jsonl_bridge.chat import EmbeddedImageURL, Example, ImagePart, Message, TextPart
from jsonl_bridge.embed import embed_image
from jsonl_bridge.mapping import ImagesSpec
from jsonl_bridge.records import Source
from jsonl_bridge.writer import example_chunks

SOURCE = Source(tool="bench", format="bench", file="bench")
PROMPT = "Analyze the image of the metal component and output the JSON list of defects."


def floor(files: list[Path], out: BinaryIO) -> None:
    for path in files:
        url = "data:image/jpeg;base64," + pybase64.b64encode_as_string(path.read_bytes())
        line = {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": PROMPT},
                                             {"type": "image_url", "image_url": {"url": url}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "[]"}]},
            ]
        }  # fmt: skip
        out.write(orjson.dumps(line) + b"\n")


def jsonl_bridge_path(files: list[Path], out: BinaryIO) -> None:
    spec = ImagesSpec()
    for path in files:
        image = embed_image(path.read_bytes(), spec, name=str(path))
        example = Example(
            id=path.name,
            source=SOURCE,
            messages=[
                Message(
                    role="user",
                    content=[
                        TextPart(text=PROMPT),
                        ImagePart(image_url=EmbeddedImageURL(url=image.url)),
                    ],
                ),
                Message(role="assistant", content=[TextPart(text="[]")]),
            ],
        )
        for chunk in example_chunks(example):
            out.write(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("images", type=Path, help="a folder of images (searched recursively)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # What `bridge` does at start (cli._keep_large_blocks): without it every megabyte-sized
    # buffer is a fresh mapping and page faults take half the time.
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    files = sorted(p for p in args.images.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"{len(files)} images, {total / 1e6:.0f} MB")
    runs: list[tuple[str, Callable[[list[Path], BinaryIO], None]]] = [
        ("floor", floor),
        ("jsonl_bridge", jsonl_bridge_path),
    ]
    for _ in range(args.rounds):
        for name, run in runs:
            with open("/dev/null", "wb") as out:
                wall, cpu = time.perf_counter(), time.process_time()
                run(files, out)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{name:13s} {total / wall / 1e6:6.0f} MB/s wall, {total / cpu / 1e6:6.0f} cpu")


if __name__ == "__main__":
    main()
