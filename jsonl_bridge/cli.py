"""The `bridge` command: the only module that prints or exits.

Exit codes (DESIGN §9): 0 success; 1 the data failed a check (rejects under --strict);
2 usage error (bad flags, mapping errors); 3 unreadable or malformed input.
Results go to stdout only with `-o -`; summaries, progress and errors go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from jsonl_bridge.errors import BridgeError, UsageError

app = typer.Typer(
    name="bridge",
    help="Turn annotation-tool exports (Label Studio today) into fine-tuning JSON Lines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
mappings_app = typer.Typer(
    help="List the mapping presets, or show one.", invoke_without_command=True
)
app.add_typer(mappings_app, name="mappings")

T = TypeVar("T")

FromOpt = Annotated[
    str | None,
    typer.Option("--from", help="Adapter name (label-studio); detected when omitted."),
]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option("--option", help="Adapter option KEY=VALUE, e.g. label_config=config.xml."),
]
FormatOpt = Annotated[str, typer.Option("--format", help="text or json.")]
ProfileOpt = Annotated[
    str, typer.Option("--profile", help="Target limits: openai (default), azure-openai.")
]


def _version(value: bool) -> None:
    if value:
        from jsonl_bridge import __version__

        typer.echo(f"jsonl_bridge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Turn annotation-tool exports (Label Studio today) into fine-tuning JSON Lines."""


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _fail(exc: BridgeError) -> NoReturn:
    _err(f"error: {exc}")
    raise typer.Exit(exc.exit_code)


@contextmanager
def _stdout(strict: bool = False) -> Iterator[None]:
    """Results on stdout: a reader that stops early (`| head`) ends the run quietly (exit 0,
    or 1 under --strict, since the rest went unchecked); any other write failure (a full
    disk behind `>`) is one `error:` line, exit 2."""
    try:
        yield
        _on_stdout(sys.stdout.flush)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1 if strict else 0) from None
    except _StdoutError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _err(f"error: cannot write to stdout: {exc.__cause__}")
        raise typer.Exit(2) from None


class _StdoutError(Exception):
    """An OSError while writing stdout, told apart from OSErrors of anything else."""


def _on_stdout(write: Callable[..., T], *args: Any) -> T:
    try:
        return write(*args)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _StdoutError() from exc


def _print(text: str) -> None:
    """Write a result line to stdout."""
    _on_stdout(sys.stdout.write, text + "\n")


def _show(format_: str, as_json: Callable[[], Any], as_text: Callable[[], str]) -> None:
    """A command's result on stdout, as `--format` asks: indented JSON or the text form."""
    _print(json.dumps(as_json(), ensure_ascii=False, indent=2) if format_ == "json" else as_text())


def _parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` pairs, validated later by the adapter's own options model."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


def _adapter_options(source: Path, from_: str | None, pairs: list[str] | None) -> tuple[str, Any]:
    from jsonl_bridge.reading import resolve_adapter

    adapter = resolve_adapter(source, from_)
    return adapter.name, adapter.parse_options(_parse_options(pairs))


def _progress(items: Iterator[T], label: str) -> Iterator[T]:
    """A counter on stderr when it is a terminal; silent in pipes, CI and ETL logs.

    Redrawn as items pass (at most ten times a second), never by rich's refresh thread: a
    running thread makes forking unsafe, and `--workers` then converts in this process.
    """
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description} {task.completed}"))
    with Progress(
        *columns,
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task(label, total=None)
        drawn = time.monotonic()
        for item in items:
            bar.advance(task)
            if time.monotonic() - drawn >= 0.1:
                bar.refresh()
                drawn = time.monotonic()
            yield item


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="The export file.")],
    from_: FromOpt = None,
    option: OptionOpt = None,
    mapping: Annotated[
        str, typer.Option("-m", "--mapping", help="Preset name or mapping YAML file.")
    ] = "auto",
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", help="Output JSONL ('-' = stdout); default <source>.jsonl."),
    ] = None,
    images: Annotated[
        list[Path] | None,
        typer.Option(
            "--images",
            help="A folder (or .zip) where image references resolve; repeatable.",
        ),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Where rejected tasks go (JSON Lines).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if any task is rejected.")
    ] = False,
    split: Annotated[
        str | None, typer.Option("--split", help="e.g. train=0.9,validation=0.1")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split hash.")] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, max=sys.maxsize, help="Read at most N tasks.")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Download http(s) images (off by default).")
    ] = False,
    allow_private_hosts: Annotated[
        bool,
        typer.Option(
            "--allow-private-hosts",
            help="With --allow-remote: also from loopback and private network addresses.",
        ),
    ] = False,
    skip_empty: Annotated[
        bool,
        typer.Option(
            "--skip-empty",
            help="Leave out tasks whose annotation has no result (default: negative examples).",
        ),
    ] = False,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="Target whose limits every example is checked against: openai (default), "
            "azure-openai. A failing example is rejected (invalid_example), never written.",
        ),
    ] = "openai",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes that convert: they re-encode images for image mappings, and "
            "convert text tasks past the first 2,000 (default: the number of cores).",
        ),
    ] = None,
) -> None:
    """Convert an export into training JSON Lines."""
    run = _RunOptions(images or [], allow_remote, allow_private_hosts, skip_empty, profile, workers)
    _keep_large_blocks()
    _collect_less()
    try:
        with _stdout(strict):
            _convert(
                source, from_, option, mapping, output, rejects, strict, split, seed, limit, run
            )
    except BridgeError as exc:
        _fail(exc)


def _collect_less() -> None:
    """Let the cyclic garbage collector run less often during a long conversion.

    Streaming allocates many short-lived objects (parser elements, dicts, models), each
    allocation counting towards a collection that then walks every live object; the records
    and examples are freed by reference counting anyway. Freezing what the imports left and
    raising the first threshold took about a tenth off reading a CVAT export
    (docs/performance.md). CLI process only, like `_keep_large_blocks`.
    """
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _keep_large_blocks() -> None:
    """Ask glibc to keep freed megabyte-sized blocks instead of unmapping them.

    Each embedded image makes several buffers of its size (file bytes, base64, the line); by
    default glibc maps and unmaps each one, and the page faults of fresh mappings took half of
    the time of passing images through (docs/performance.md). Done for the CLI's own process
    only: a library must not retune the allocator of a notebook it was imported into.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if sys.platform != "linux" or name is None:
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 * 1024 * 1024)
    mallopt(m_trim_threshold, 256 * 1024 * 1024)


@dataclass(frozen=True)
class _RunOptions:
    """The convert flags about images, empty annotations and the target, passed on as one."""

    images: list[Path]
    allow_remote: bool
    allow_private_hosts: bool
    skip_empty: bool
    profile: str
    workers: int | None


def _convert(
    source: Path,
    from_: str | None,
    option: list[str] | None,
    mapping: str,
    output: str | None,
    rejects: Path | None,
    strict: bool,
    split: str | None,
    seed: int,
    limit: int | None,
    run: _RunOptions,
) -> None:
    from jsonl_bridge import pipeline, writer

    if str(source) == "-":
        raise UsageError("reading an export from stdin is not supported: save it to a file")
    adapter_name, options = _adapter_options(source, from_, option)
    out = output or f"{source.stem}.jsonl"
    if split and out == "-":
        raise UsageError("--split writes one file per split and cannot go to stdout (-o -)")
    fractions = writer.parse_split(split) if split else None
    rejects_path = rejects or _default_rejects(out)
    outputs = writer.split_paths(Path(out), fractions) if fractions else {"-o": Path(out)}
    if out == "-":
        outputs = {}
    _check_collisions(source, {**outputs, "--rejects": rejects_path})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # shown once, in the summary, not amid the progress
        conversion = pipeline.convert(
            source,
            mapping,
            from_=adapter_name,
            options=options,
            limit=limit,
            images=run.images,
            allow_remote=run.allow_remote,
            allow_private_hosts=run.allow_private_hosts,
            skip_empty=run.skip_empty,
            profile=run.profile,
            workers=run.workers,
        )
        examples = _Stream(_progress(iter(conversion), "examples"), conversion)
        try:
            if fractions:
                report = writer.write_splits(examples, Path(out), fractions, seed)
            else:
                stream = _StdoutBytes() if out == "-" else Path(out)
                report = writer.write_jsonl(examples, stream)
        except _NothingToWrite:
            report = conversion.report
    for warning in caught:  # the adapters' (e.g. doccano's '#' in CSV labels), once each
        if str(warning.message) not in report.warnings:
            report.warnings.append(str(warning.message))
    if rejects_path is not None and (rejects is not None or conversion.rejects):
        writer.write_rejects(conversion.rejects, rejects_path)
    elif rejects_path is not None and rejects_path.is_file():
        rejects_path.unlink()  # a stale one from an earlier run of the same output
        rejects_path = None
    _print_summary(source, adapter_name, report, conversion.rejects, rejects_path)
    if report.examples == 0:
        why = "every annotated task was rejected" if conversion.rejects else "no annotated task"
        kept = "" if out == "-" else " (an existing output is left as it was)"
        _err(f"error: no examples: {why}{kept}")
        raise typer.Exit(1)
    if strict and conversion.rejects:
        raise typer.Exit(1)


def _check_collisions(source: Path, paths: dict[str, Path | None]) -> None:
    """No output may overwrite the input or another output of the same run."""
    seen: dict[Path, str] = {source.resolve(): "the input"}
    for name, path in paths.items():
        if path is None or (path.exists() and not path.is_file()):
            continue  # devices such as /dev/null may take several outputs
        resolved = path.resolve()
        if resolved in seen:
            raise UsageError(f"{name} {path}: refusing to overwrite {seen[resolved]}")
        seen[resolved] = f"the {name} file"


def _default_rejects(out: str) -> Path | None:
    """`<output stem>.rejects.jsonl` beside a regular output file; none for stdout or a device."""
    path = Path(out)
    if out == "-" or (path.exists() and not path.is_file()):
        return None
    return path.with_name(f"{path.stem}.rejects.jsonl")


class _Stream:
    """Progress-wrapped examples that still hand their report to the writer, and abort the
    write when there are none, so an empty run never replaces a good output file."""

    def __init__(self, examples: Iterator[Any], conversion: Any):
        self._examples = examples
        self.report = conversion.report

    def __iter__(self) -> Iterator[Any]:
        count = 0
        for example in self._examples:
            count += 1
            yield example
        if count == 0:
            raise _NothingToWrite


class _NothingToWrite(Exception):
    """Raised inside the atomic write, which then keeps the old file."""


class _StdoutBytes:
    """sys.stdout.buffer, with write failures told apart from other OSErrors."""

    def write(self, data: bytes) -> int:
        written: int = _on_stdout(sys.stdout.buffer.write, data)
        return written

    def flush(self) -> None:
        _on_stdout(sys.stdout.buffer.flush)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _print_summary(
    source: Path, adapter: str, report: Any, rejects: Sequence[Any], path: Any
) -> None:
    _err(f"read {_plural(report.tasks_read, 'task')} from {source} ({adapter})")
    for name, count in report.outputs.items():
        where = "stdout" if name == "-" else name
        _err(f"wrote {_plural(count, 'example')} to {where}")
    _err(f"bytes written: {report.bytes_written}")
    if report.images_embedded:
        passed = report.images_embedded - report.images_reencoded
        _err(
            f"images embedded: {report.images_embedded} ({passed} passed through as they were, "
            f"{report.images_reencoded} converted; {report.image_bytes} bytes)"
        )
    if report.unannotated:
        _err(f"without annotations: {report.unannotated} (counted, not written)")
    if report.skipped_empty:
        _err(f"annotated with no result: {report.skipped_empty} (left out by --skip-empty)")
    if rejects:
        target = f" → {path}" if path else ""
        _err(f"rejected: {len(rejects)}{target}")
        for reason, count in sorted(report.rejected.items()):
            first = next(r for r in rejects if r.reason == reason)
            _err(f"  {reason}: {count} (first: task {first.id}: {first.detail})")
    for message in report.warnings:
        _err(f"warning: {message}")


@app.command()
def inspect(
    source: Annotated[Path, typer.Argument(help="The export file.")],
    from_: FromOpt = None,
    option: OptionOpt = None,
    records: Annotated[
        bool, typer.Option("--records", help="Dump the intermediate records as JSON Lines.")
    ] = False,
    format_: FormatOpt = "text",
) -> None:
    """Show what an export holds: tasks, annotators, fields and their labels."""
    from jsonl_bridge.summary import summarize

    try:
        with _stdout():
            _check_format(format_)
            adapter_name, options = _adapter_options(source, from_, option)
            import msgspec

            from jsonl_bridge.registry import get_adapter

            stream = get_adapter(adapter_name).read(source, options)
            if records:
                for record in _progress(stream, "records"):
                    _print(msgspec.json.encode(record).decode())
                return
            summary = summarize(_progress(stream, "tasks")).to_json_dict()
            _show(format_, lambda: summary, lambda: _summary_text(source, adapter_name, summary))
    except BridgeError as exc:
        _fail(exc)


def _check_format(value: str) -> None:
    if value not in ("text", "json"):
        raise UsageError(f"--format {value!r}: choose text or json")


def _summary_text(source: Path, adapter: str, s: dict[str, Any]) -> str:
    formats = ", ".join(s["formats"]) or "?"
    annotators = ", ".join(f"{k}: {v}" for k, v in s["annotators"].items()) or "none"
    lines = [
        f"{source}: {adapter} ({formats}), {s['tasks']} tasks",
        f"annotations: {s['annotations']} by {len(s['annotators'])} annotators ({annotators})",
        f"  cancelled: {s['cancelled_annotations']}, ground truth: {s['ground_truth_annotations']}",
        f"tasks without annotations: {s['unannotated_tasks']}",
        f"predictions: {s['predictions']}"
        + (
            f" (+{s['prediction_ids_only']} exported as ids only, without results)"
            if s["prediction_ids_only"]
            else ""
        ),
        f"data keys: {', '.join(s['data_keys']) or 'none'}",
        "fields:" if s["fields"] else "fields: none found (see --option label_config=PATH)",
    ]
    for name, info in s["fields"].items():
        labels = ", ".join(f"{k} {v}" for k, v in info["labels"].items())
        kinds = "/".join(info["kinds"])
        lines.append(
            f"  {name}: {kinds}, {info['regions']} regions" + (f"; {labels}" if labels else "")
        )
    if s["invalid_tasks"]:
        lines.append(f"malformed tasks: {s['invalid_tasks']} (see --records)")
    return "\n".join(lines)


@mappings_app.callback()
def mappings(ctx: typer.Context) -> None:
    """List the mapping presets."""
    if ctx.invoked_subcommand is not None:
        return
    from jsonl_bridge.mapping import list_presets

    presets = list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        typer.echo(f"{name.ljust(width)}  {description}")


@mappings_app.command("show")
def mappings_show(name: Annotated[str, typer.Argument(help="Preset name.")]) -> None:
    """Print one preset's YAML."""
    from jsonl_bridge.mapping import preset_text

    try:
        typer.echo(preset_text(name), nl=False)
    except BridgeError as exc:
        _fail(exc)


@app.command()
def agree(
    source: Annotated[Path, typer.Argument(help="The export file.")],
    from_: FromOpt = None,
    option: OptionOpt = None,
    field: Annotated[str | None, typer.Option("--field", help="Measure this field only.")] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Exit 1 when a field's headline is below it.")
    ] = 0.8,
    iou: Annotated[
        float, typer.Option("--iou", help="Regions of two annotators pair up at this IoU or more.")
    ] = 0.5,
    format_: FormatOpt = "text",
    disagreements: Annotated[
        Path | None,
        typer.Option("--disagreements", help="Write the disagreeing items (JSON Lines)."),
    ] = None,
) -> None:
    """Measure inter-annotator agreement per field (exit 1 below --threshold)."""
    from jsonl_bridge._agreement import (
        agreement,
        check_threshold,
        report_text,
        write_disagreements,
    )
    from jsonl_bridge.registry import get_adapter

    try:
        with _stdout():
            _check_format(format_)
            check_threshold(threshold)
            adapter_name, options = _adapter_options(source, from_, option)
            if disagreements is not None:
                _check_collisions(source, {"--disagreements": disagreements})
            records = get_adapter(adapter_name).read(source, options)
            report = agreement(_progress(records, "tasks"), field, iou_threshold=iou)
            if disagreements is not None:
                write_disagreements(report, disagreements)
            _show(
                format_,
                lambda: report.to_json_dict(threshold),
                lambda: report_text(report, threshold),
            )
    except BridgeError as exc:
        _fail(exc)
    if not report.passed(threshold):
        raise typer.Exit(1)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Chat JSON Lines files, checked together.")],
    mapping: Annotated[
        str | None,
        typer.Option("-m", "--mapping", help="Check the outputs against this preset or file."),
    ] = None,
    profile: ProfileOpt = "openai",
    format_: FormatOpt = "text",
) -> None:
    """Check chat JSON Lines files (exit 1 on any error; warnings do not fail)."""
    from jsonl_bridge.validation import validate as run_validate

    try:
        with _stdout():
            _check_format(format_)
            report = run_validate(files, mapping=mapping, profile=profile)
            _show(format_, report.to_json_dict, report.to_text)
    except BridgeError as exc:
        _fail(exc)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def stats(
    file: Annotated[Path, typer.Argument(help="A chat JSON Lines file.")],
    format_: FormatOpt = "text",
) -> None:
    """Show what a chat JSON Lines file holds: sizes, tokens, images, labels."""
    from jsonl_bridge.stats import stats as run_stats

    try:
        with _stdout():
            _check_format(format_)
            figures = run_stats(file)
            _show(format_, figures.to_json_dict, figures.to_text)
    except BridgeError as exc:
        _fail(exc)


@app.command()
def preview(
    file: Annotated[Path, typer.Argument(help="A chat JSON Lines file.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The HTML file; default <file stem>.html here."),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", help="Lines shown, drawn at random (default 200).")
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", help="The same seed shows the same lines.")] = 0,
    source: Annotated[
        Path | None,
        typer.Option("--source", help="The export the file came from: adds agreement."),
    ] = None,
    from_: FromOpt = None,
    option: OptionOpt = None,
    mapping: Annotated[
        str | None,
        typer.Option("-m", "--mapping", help="Check against it, and read boxes its way."),
    ] = None,
    profile: ProfileOpt = "openai",
) -> None:
    """Write one self-contained HTML page to look at a JSONL file before training."""
    from jsonl_bridge.preview import write_preview

    try:
        done = write_preview(
            file,
            output,
            sample=sample,
            seed=seed,
            mapping=mapping,
            source=source,
            from_=from_,
            options=_parse_options(option),
            profile=profile,
        )
    except BridgeError as exc:
        _fail(exc)
    extra = f" and {_plural(done.flagged, 'line')} named by findings" if done.flagged else ""
    _err(
        f"wrote {done.output}: {_plural(done.sampled, 'line')} of {done.lines:,}{extra}, "
        f"{_plural(done.errors, 'error')}, {_plural(done.warnings, 'warning')}, "
        f"{done.bytes:,} bytes"
    )


@app.command()
def adapters() -> None:
    """List the adapters (built in and installed plugins)."""
    from jsonl_bridge.registry import available_adapters, get_adapter

    for name in available_adapters():
        try:
            summary = get_adapter(name).summary
        except BridgeError as exc:
            summary = f"(broken: {exc})"
        typer.echo(f"{name}  {summary}")


def main() -> None:
    """Console-script entry point (`bridge`, `jsonl-bridge`, `python -m jsonl_bridge`)."""
    app(prog_name="bridge")
