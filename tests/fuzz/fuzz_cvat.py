"""Fuzz target: the CVAT adapter (bare XML, the export zip). Run it through run.py."""

from _harness import main
from seeds import NAMES

if __name__ == "__main__":
    main("cvat", NAMES["cvat"])
