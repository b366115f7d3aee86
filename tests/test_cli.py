"""The `bridge` command end to end: exit codes, stderr messages, files written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from jsonl_bridge.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
EMAIL = FIXTURES / "email-classification"
CONFIG = f"label_config={EMAIL / 'config.xml'}"


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assistant_answers(path: Path) -> list[object]:
    return [row["messages"][-1]["content"] for row in lines(path)]  # type: ignore[index]


@pytest.mark.parametrize("name", ["export.json", "export_min.json", "export.csv", "export.tsv"])
def test_email_classification_gives_the_same_four_examples_from_every_format(
    tmp_path: Path, name: str
) -> None:
    out = tmp_path / "train.jsonl"
    code, _, err = run(
        "convert", EMAIL / name, "-m", "email-classification", "--option", CONFIG, "-o", out
    )
    assert code == 0, err
    reference = tmp_path / "reference.jsonl"
    run(
        "convert",
        EMAIL / "export.json",
        "-m",
        "email-classification",
        "--option",
        CONFIG,
        "-o",
        reference,
    )
    assert out.read_bytes() == reference.read_bytes()
    assert assistant_answers(out) == [
        "Classification: billing",
        "Classification: technical_support",
        "Classification: sales",
        "Classification: spam",
    ]
    assert "read 6 tasks" in err and "wrote 4 examples" in err
    assert "without annotations: 1" in err
    rejects = lines(tmp_path / "train.rejects.jsonl")
    assert [(r["id"], r["reason"]) for r in rejects] == [("5", "disagreement")]
    assert sorted(rejects[0]["annotators"]) == ["1", "2"]  # type: ignore[arg-type]


def test_rejects_line_points_into_the_export(tmp_path: Path) -> None:
    run(
        "convert",
        EMAIL / "export.csv",
        "-m",
        "email-classification",
        "--option",
        CONFIG,
        "-o",
        tmp_path / "t.jsonl",
        "--rejects",
        tmp_path / "r.jsonl",
    )
    reject = lines(tmp_path / "r.jsonl")[0]
    assert reject["source"] == {"file": str(EMAIL / "export.csv"), "line": 13}
    assert "billing" in str(reject["detail"]) and "other" in str(reject["detail"])


def test_strict_still_writes_but_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    code, _, _ = run(
        "convert", EMAIL / "export.json", "-m", "email-classification", "--strict", "-o", out
    )
    assert code == 1
    assert len(lines(out)) == 4


def test_stdout_gets_only_the_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("convert", EMAIL / "export.json", "-m", "email-classification", "-o", "-")
    assert code == 0
    answers = [json.loads(line)["messages"][-1]["content"] for line in out.splitlines()]
    assert answers[0] == "Classification: billing" and len(answers) == 4
    assert "wrote 4 examples to stdout" in err
    assert not list(tmp_path.iterdir())


def test_same_input_gives_byte_identical_output(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        run("convert", EMAIL / "export.json", "-m", "email-classification", "-o", tmp_path / name)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_split_writes_one_file_per_split(tmp_path: Path) -> None:
    code, _, err = run(
        "convert",
        EMAIL / "export.json",
        "-m",
        "email-classification",
        "-o",
        tmp_path / "ds.jsonl",
        "--split",
        "train=0.5,validation=0.5",
        "--seed",
        "3",
    )
    assert code == 0, err
    train = lines(tmp_path / "ds.train.jsonl")
    validation = lines(tmp_path / "ds.validation.jsonl")
    assert len(train) + len(validation) == 4
    assert not (tmp_path / "ds.jsonl").exists()


def test_split_to_stdout_is_a_usage_error() -> None:
    code, _, err = run("convert", EMAIL / "export.json", "-o", "-", "--split", "a=1")
    assert code == 2
    assert "error: --split" in err


def test_limit_reads_only_the_first_tasks(tmp_path: Path) -> None:
    code, _, err = run(
        "convert",
        EMAIL / "export.json",
        "-m",
        "email-classification",
        "--limit",
        "2",
        "-o",
        tmp_path / "t.jsonl",
    )
    assert code == 0
    assert "read 2 tasks" in err
    assert len(lines(tmp_path / "t.jsonl")) == 2


def test_default_output_is_source_stem_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = run("convert", EMAIL / "export.json", "-m", "email-classification")
    assert code == 0
    assert len(lines(tmp_path / "export.jsonl")) == 4


def test_never_overwrites_the_input(tmp_path: Path) -> None:
    source = tmp_path / "export.json"
    source.write_bytes((EMAIL / "export.json").read_bytes())
    code, _, err = run("convert", source, "-o", source)
    assert code == 2
    assert "refusing to overwrite the input" in err
    assert source.read_bytes() == (EMAIL / "export.json").read_bytes()


def test_malformed_export_exits_3_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "export.json"
    broken.write_bytes((EMAIL / "export.json").read_bytes()[:3000])
    out = tmp_path / "t.jsonl"
    code, _, err = run("convert", broken, "--from", "label-studio", "-o", out)
    assert code == 3
    assert err.startswith("error: ") and str(broken) in err
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]


def test_missing_file_exits_3() -> None:
    code, _, err = run("convert", "no/such/export.json")
    assert code == 3
    assert "no/such/export.json: no such file" in err


def test_mapping_with_a_misspelt_key_exits_2_with_its_location(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        'version: 1\nassistant: "{{ label }}"\nlabels:\n  unknwon: drop\n', encoding="utf-8"
    )
    code, _, err = run("convert", EMAIL / "export.json", "-m", mapping, "-o", tmp_path / "t.jsonl")
    assert code == 2
    assert f"{mapping}:4:3:" in err and "unknwon" in err and "did you mean 'unknown'" in err
    assert "Traceback" not in err


def test_template_with_an_undefined_variable_rejects_the_tasks(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        'version: 1\nuser: "{{ text }}"\nassistant: "{{ data.priority }}"\n', encoding="utf-8"
    )
    out, rejects = tmp_path / "t.jsonl", tmp_path / "r.jsonl"
    code, _, err = run(
        "convert", EMAIL / "export.json", "-m", mapping, "-o", out, "--rejects", rejects, "--strict"
    )
    assert code == 1
    assert not out.exists()  # no empty training file
    found = lines(rejects)
    assert {r["reason"] for r in found} == {"template"}
    assert len(found) == 5  # every annotated task; e6 has no annotation
    assert f"{mapping}:3" in str(found[0]["detail"]) and "priority" in str(found[0]["detail"])
    assert "template: 5" in err


def test_label_outside_allowed_is_rejected_under_unknown_reject(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: email-classification\n"
        "labels:\n  allowed: [billing, technical_support, sales, other]\n  unknown: reject\n",
        encoding="utf-8",
    )
    out, rejects = tmp_path / "t.jsonl", tmp_path / "r.jsonl"
    code, _, _ = run(
        "convert", EMAIL / "export.json", "-m", mapping, "-o", out, "--rejects", rejects, "--strict"
    )
    assert code == 1
    by_id = {r["id"]: r for r in lines(rejects)}
    assert by_id["4"]["reason"] == "label"
    assert "spam" in str(by_id["4"]["detail"])
    assert "spam" not in out.read_text()


def test_unknown_adapter_option_is_a_usage_error() -> None:
    code, _, err = run("convert", EMAIL / "export.json", "--option", "labelconfig=x.xml")
    assert code == 2
    assert "labelconfig" in err and "label_config" in err


def test_unknown_preset_suggests_the_closest(tmp_path: Path) -> None:
    code, _, err = run(
        "convert", EMAIL / "export.json", "-m", "email-clasification", "-o", tmp_path / "t.jsonl"
    )
    assert code == 2
    assert "email-classification" in err


def test_inspect_summarises_the_export() -> None:
    code, out, _ = run("inspect", EMAIL / "export.json", "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert summary["tasks"] == 6
    assert summary["annotators"] == {"1": 5, "2": 5, "3": 4}
    assert summary["cancelled_annotations"] == 1
    assert summary["ground_truth_annotations"] == 1
    assert summary["unannotated_tasks"] == 1
    assert summary["prediction_ids_only"] == 1
    assert summary["fields"]["category"]["labels"] == {
        "billing": 5,
        "other": 2,
        "sales": 2,
        "spam": 2,
        "technical_support": 2,
    }
    code, text, _ = run("inspect", EMAIL / "export.json")
    assert "category: choice" in text and "6 tasks" in text


def test_inspect_records_round_trip() -> None:
    from jsonl_bridge.records import Record

    code, out, _ = run("inspect", EMAIL / "export_min.json", "--records")
    assert code == 0
    records = [msgspec.json.decode(line, type=Record) for line in out.splitlines()]
    assert [r.id for r in records] == ["1", "2", "3", "4", "5", "6"]


def test_mappings_lists_and_shows_presets() -> None:
    code, out, _ = run("mappings")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    for preset in (
        "auto",
        "dialogue",
        "email-classification",
        "structured-extraction",
        "summarization",
    ):
        assert preset in names
    code, out, _ = run("mappings", "show", "summarization")
    assert code == 0 and "version: 1" in out
    code, _, err = run("mappings", "show", "nope")
    assert code == 2 and "error:" in err


def test_adapters_lists_label_studio() -> None:
    code, out, _ = run("adapters")
    names = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and names == sorted(names) and {"cvat", "label-studio"} <= set(names)


def test_python_dash_m_is_the_same_cli(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jsonl_bridge",
            "convert",
            str(EMAIL / "export.json"),
            "-m",
            "email-classification",
            "-o",
            str(out),
        ],
        capture_output=True,
        cwd=tmp_path,  # `-m` puts cwd on sys.path: never the source checkout
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert len(lines(out)) == 4


SUMMARIES = FIXTURES / "summarization"


def test_output_to_a_pipe_writes_into_it_and_no_rejects_file_beside_it(tmp_path: Path) -> None:
    """A FIFO (like /dev/null or /dev/stdout) is written to, not replaced by a renamed file."""
    import threading

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, err = run("convert", EMAIL / "export.json", "-m", "email-classification", "-o", fifo)
    reader.join(timeout=30)
    assert code == 0, err
    assert len(received[0].decode().splitlines()) == 4
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.jsonl"]


def test_dev_stdout_into_a_pipe_is_written_to(tmp_path: Path) -> None:
    """`-o /dev/stdout | tail`: /dev/stdout resolves to a pipe's `pipe:[N]` name, which cannot
    be opened; the path as given can."""
    command = [sys.executable, "-m", "jsonl_bridge", "convert", str(EMAIL / "export.json")]
    command += ["-m", "email-classification", "--option", f"label_config={EMAIL / 'config.xml'}"]
    command += ["-o", "/dev/stdout"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4  # MANIFEST: e-mails 1-4 are written


def test_output_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n")
    link.symlink_to(target)
    code, _, _ = run("convert", SUMMARIES / "export.json", "-m", "summarization", "-o", link)
    assert code == 0
    assert link.is_symlink()
    assert len(lines(target)) == 4


def test_unwritable_output_is_one_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run("convert", SUMMARIES / "export.json", "-o", blocker / "sub" / "t.jsonl")
    assert code == 2
    assert err.startswith("error: ") and "cannot write" in err and "Traceback" not in err


def test_a_stale_default_rejects_file_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    stale = tmp_path / "t.rejects.jsonl"
    stale.write_text('{"id": "old"}\n')
    code, _, err = run("convert", SUMMARIES / "export.json", "-m", "summarization", "-o", out)
    assert code == 0 and "rejected" not in err
    assert not stale.exists()


def test_nothing_written_because_everything_was_rejected_exits_1(tmp_path: Path) -> None:
    """A broken run must neither pass a pipeline nor replace a good output with nothing."""
    out = tmp_path / "t.jsonl"
    out.write_text("good\n")
    code, _, err = run("convert", FIXTURES / "dialogue" / "export.json", "-o", out)
    assert code == 1
    assert "error: no examples: every annotated task was rejected" in err
    assert out.read_text() == "good\n"
    assert lines(tmp_path / "t.rejects.jsonl")  # the reasons are still kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl", "t.rejects.jsonl"]


def test_an_export_without_annotated_tasks_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    tasks = json.loads((EMAIL / "export.json").read_text(encoding="utf-8"))
    source = tmp_path / "unlabeled.json"
    source.write_text(json.dumps([t for t in tasks if not t["annotations"]]))
    out = tmp_path / "t.jsonl"
    code, _, err = run("convert", source, "-m", "email-classification", "-o", out)
    assert code == 1
    assert "without annotations: 1" in err and "error: no examples: no annotated task" in err
    assert not out.exists()


def _cli(cwd: Path, *args: object, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The installed CLI in a subprocess (cwd: never the checkout, which `-m` would import)."""
    command = [sys.executable, "-m", "jsonl_bridge", *map(str, args)]
    return subprocess.Popen(command, stderr=subprocess.PIPE, cwd=cwd, **kwargs)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("convert", SUMMARIES / "export.json", "-m", "summarization", "-o", "-"), 0),
        (("convert", SUMMARIES / "export.json", "-m", "summarization", "-o", "-", "--strict"), 1),
        (("inspect", EMAIL / "export.json", "--records"), 0),
    ],
)
def test_a_reader_that_stops_early_ends_the_run_quietly(
    tmp_path: Path, args: tuple[object, ...], code: int
) -> None:
    """`| head`: no traceback. --strict exits 1, since the rest of the export went unchecked
    (this export has no rejects: a finished --strict run of it exits 0)."""
    process = _cli(tmp_path, *args, stdout=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # closed before the child writes its first line
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert b"Traceback" not in err and b"Exception" not in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ("convert", SUMMARIES / "export.json", "-m", "summarization", "-o", "-"),
        ("inspect", EMAIL / "export.json", "--records"),
        ("inspect", EMAIL / "export.json"),
    ],
)
def test_a_full_disk_behind_stdout_is_one_error_line(
    tmp_path: Path, args: tuple[object, ...]
) -> None:
    with open("/dev/full", "wb") as full:
        process = _cli(tmp_path, *args, stdout=full)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert b"error: cannot write to stdout: " in err
    assert b"Traceback" not in err and b"Exception" not in err


def test_an_annotator_nobody_is_warns(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\nextends: summarization\nselect: annotator:9\n")
    code, _, err = run("convert", SUMMARIES / "export.json", "-m", mapping, "-o", tmp_path / "o")
    assert code == 1  # and no examples
    assert "warning: no annotation by annotator:9 in this export (annotators: 1, 2)" in err


def test_name_bindings_reach_the_adapter_from_the_command_line(tmp_path: Path) -> None:
    """A flat export without a config: `fields: {reply: reply}` makes the column an answer."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\nextends: dialogue\nselect: latest\nfields: {reply: reply}\n")
    out = tmp_path / "t.jsonl"
    code, _, err = run("convert", FIXTURES / "dialogue" / "export.csv", "-m", mapping, "-o", out)
    assert code == 0, err
    assert len(lines(out)) == 4


@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_a_pipe_as_input_is_refused_clearly(tmp_path: Path, command: str) -> None:
    """`bridge convert <(gunzip -c export.json.gz)`: refused before anything opens the pipe
    (opening a FIFO nobody writes to would hang)."""
    fifo = tmp_path / "export.json"
    os.mkfifo(fifo)
    code, _, err = run(command, fifo)
    assert code == 3
    assert err.startswith(f"error: {fifo}: not a regular file")
    assert "save it to a file first" in err


def test_stdin_is_refused_clearly() -> None:
    code, _, err = run("convert", "-")
    assert code == 2
    assert "stdin is not supported" in err


def test_version() -> None:
    from jsonl_bridge import __version__

    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"jsonl_bridge {__version__}"


@pytest.mark.parametrize(
    "extra",
    [
        ["--rejects", "SOURCE"],
        ["--rejects", "OUT"],
        ["--rejects", "SOURCE", "-o", "-"],
        ["--split", "train=0.5,rejects=0.5"],
        ["--split", "a/b=1"],
    ],
)
def test_no_output_may_overwrite_the_input_or_another_output(
    tmp_path: Path, extra: list[str]
) -> None:
    source = tmp_path / "export.json"
    source.write_bytes((EMAIL / "export.json").read_bytes())
    out = tmp_path / "o.jsonl"
    args = [{"SOURCE": str(source), "OUT": str(out)}.get(a, a) for a in extra]
    code, _, err = run("convert", source, "-m", "email-classification", "-o", out, *args)
    assert code == 2, err
    assert err.startswith("error: ")
    assert source.read_bytes() == (EMAIL / "export.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]


@pytest.mark.parametrize("content", [b"", b"[]", b'{"a": 1}'])
def test_empty_or_foreign_input_exits_3_with_or_without_from(
    tmp_path: Path, content: bytes
) -> None:
    source = tmp_path / "export.json"
    source.write_bytes(content)
    for extra in ([], ["--from", "label-studio"]):
        code, _, err = run("convert", source, "-o", tmp_path / "o.jsonl", *extra)
        assert code == 3, (extra, err)
        assert str(source) in err


def test_a_huge_limit_is_just_no_limit(tmp_path: Path) -> None:
    code, _, err = run(
        "convert",
        EMAIL / "export.json",
        "-m",
        "email-classification",
        "--limit",
        str(2**62),
        "-o",
        tmp_path / "t.jsonl",
    )
    assert code == 0, err
    assert len(lines(tmp_path / "t.jsonl")) == 4


def test_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"{seed}.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jsonl_bridge",
                "convert",
                str(FIXTURES / "ner-spans" / "export_min.json"),
                "-m",
                "structured-extraction",
                "-o",
                str(out),
            ],
            check=True,
            cwd=tmp_path,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 3


def test_a_json_export_with_a_byte_order_mark_is_detected(tmp_path: Path) -> None:
    source = tmp_path / "bom.json"
    source.write_bytes(b"\xef\xbb\xbf" + (EMAIL / "export.json").read_bytes())
    code, out, err = run("inspect", source, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["tasks"] == 6


QC = FIXTURES / "qc-defects"


def test_images_flags_embed_and_the_summary_counts_them(tmp_path: Path) -> None:
    out = tmp_path / "qc.jsonl"
    code, _, err = run(
        "convert", QC / "export.json", "-m", "qc-defects", "-o", out,
        "--images", QC / "media" / "upload", "--images", QC / "external",
    )  # fmt: skip
    assert code == 0, err
    assert "images embedded: 4 (3 passed through as they were, 1 converted;" in err
    assert "image_refused: 1 (first: task 32: http://127.0.0.1:8766/" in err
    assert "pass --allow-remote" in err
    rows = lines(out)
    assert len(rows) == 4
    url = rows[0]["messages"][1]["content"][1]["image_url"]["url"]  # type: ignore[index]
    assert url.startswith("data:image/png;base64,iVBORw0KGgo")


def test_a_missing_images_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(
        "convert", QC / "export.json", "-o", tmp_path / "o.jsonl", "--images", tmp_path / "nope"
    )
    assert code == 2
    assert err.startswith("error: --images ") and "nope" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_adapter_warnings_reach_the_summary_once(tmp_path: Path) -> None:
    """Warnings are held back during the run (not amid the progress bar) and printed in the
    summary: the adapters' too, such as doccano's about '#'-joined CSV labels."""
    export = FIXTURES.parent / "doccano" / "seq2seq" / "exports" / "CSV__individual__all.zip"
    code, _, err = run("convert", export, "-m", "summarization", "-o", tmp_path / "s.jsonl")
    assert code == 0
    warned = [line for line in err.splitlines() if "CSV joins several labels" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ")
