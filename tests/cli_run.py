"""The CLI as the hardening tests drive it: exit code and stderr, never a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from jsonl_bridge.cli import app


def run(*args: object) -> tuple[int, str]:
    """The CLI's exit code and stderr; a traceback (an exception other than exit) fails."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr
