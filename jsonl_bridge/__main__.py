"""`python -m jsonl_bridge` is the `bridge` command."""

from jsonl_bridge.cli import main

main()
