"""`python -m jsonl_bridge` is the `bridge` command."""

from jsonl_bridge.cli import main

if __name__ == "__main__":  # not when a spawned image worker imports this module again
    main()
