"""Fuzz target: the doccano adapter (JSONL, JSON, CSV, fastText, the zip). Run it via run.py."""

from _harness import main
from seeds import NAMES

if __name__ == "__main__":
    main("doccano", NAMES["doccano"])
