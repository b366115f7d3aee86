"""Fuzz target: the Label Studio adapter (JSON, JSON_MIN, CSV, TSV). Run it through run.py."""

from _harness import main
from seeds import NAMES

if __name__ == "__main__":
    main("label-studio", NAMES["label-studio"])
