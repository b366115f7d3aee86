"""`convert` checks every example as `bridge validate` would before writing it (issue 6).

Expectations come from the fixtures' MANIFEST.md: e-mails 1-4 are written by the preset
(billing, technical_support, sales, spam), e-mail 5 is a disagreement.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jsonl_bridge as jb
from jsonl_bridge import _validate_images
from jsonl_bridge._validate_example import _usual_example, inspect_example, text_tokens, usual_text
from jsonl_bridge._validate_output import OutputRule
from jsonl_bridge.chat import Message
from jsonl_bridge.mapping import load_mapping
from jsonl_bridge.profiles import get_profile
from jsonl_bridge.records import Annotation, Record, Source, Text

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
EMAIL = FIXTURES / "email-classification"
QC = FIXTURES / "qc-defects"
QC_ROOTS = [QC / "media" / "upload", QC / "external"]


def test_labels_kept_on_purpose_pass_the_gate_and_validate(tmp_path: Path) -> None:
    """`unknown: keep` writes labels outside `allowed` on purpose (DESIGN §7): neither the
    gate nor `bridge validate` with the same mapping may refuse them (MANIFEST: e-mails 1-4
    are billing, technical_support, sales, spam)."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: email-classification\n"
        "labels: {allowed: [billing, sales], unknown: keep}\n"
    )
    conversion = jb.convert(
        EMAIL / "export.json", mapping, options={"label_config": EMAIL / "config.xml"}
    )
    out = tmp_path / "train.jsonl"
    jb.write_jsonl(conversion, out)
    labels = [json.loads(line)["messages"][-1]["content"] for line in out.read_text().splitlines()]
    kinds = ("billing", "technical_support", "sales", "spam")
    assert labels == [f"Classification: {kind}" for kind in kinds]
    assert "invalid_example" not in conversion.report.rejected
    assert jb.validate(out, mapping=mapping).errors == 0


def _many_images_mapping(tmp_path: Path, count: int) -> Path:
    mapping = tmp_path / "many.yaml"
    parts = "".join("  - image: '{{ image }}'\n" for _ in range(count))
    mapping.write_text(f"version: 1\nextends: qc-defects\nuser:\n  - text: Look.\n{parts}")
    return mapping


def test_the_profile_limits_images_per_example(tmp_path: Path) -> None:
    """openai takes 10 images per example, azure-openai 64 (profiles.py, docs/validate.md)."""
    mapping = _many_images_mapping(tmp_path, 11)
    refused = jb.convert(QC / "export.json", mapping, images=QC_ROOTS)
    assert list(refused) == []
    gated = [r for r in refused.rejects if r.reason == "invalid_example"]
    assert gated and all(r.detail.startswith("E309 11 images, over 10") for r in gated)
    accepted = jb.convert(QC / "export.json", mapping, images=QC_ROOTS, profile="azure-openai")
    examples = list(accepted)
    assert len(examples) == len(gated)
    assert "invalid_example" not in accepted.report.rejected
    parts = examples[0].messages[1].content
    assert isinstance(parts, list) and len(parts) == 12


def test_embedded_images_are_not_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate checks the images this run embedded from what embedding knows: decoding a
    megabyte of base64 again per image would halve the image path's speed."""

    def decode(*args: object) -> None:
        raise AssertionError("an embedded image was decoded again")

    monkeypatch.setattr(_validate_images, "_decode", decode)
    conversion = jb.convert(QC / "export.json", "qc-defects", images=QC_ROOTS)
    assert list(conversion)
    assert "invalid_example" not in conversion.report.rejected


def test_an_unknown_profile_is_a_usage_error() -> None:
    with pytest.raises(jb.UsageError, match="did you mean 'openai'"):
        jb.convert(EMAIL / "export.json", "email-classification", profile="opnai")


def test_examples_over_the_token_estimate_are_written_with_a_warning() -> None:
    """Services truncate an example over their token limit rather than fail the job: the
    run warns, it does not reject. 65,536 tokens at 4 characters each: 262,144 characters."""
    source = Source(tool="t", format="f", file="x.json")
    long_answer = Text(field="summary", value="word " * 60_000)
    records = [
        Record(
            id=str(n),
            source=source,
            data={"text": "Summarise this."},
            annotations=[Annotation(annotator="a", regions=[long_answer])],
        )
        for n in range(2)
    ]
    conversion = jb.convert(records, "summarization")
    with pytest.warns(UserWarning, match="2 examples are over the openai profile's 65,536"):
        assert len(list(conversion)) == 2


def test_the_cli_profile_option_reaches_the_gate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jsonl_bridge.cli import app

    out = tmp_path / "qc.jsonl"
    args = ["convert", str(QC / "export.json"), "-m", str(_many_images_mapping(tmp_path, 11))]
    args += ["-o", str(out), *[f"--images={root}" for root in QC_ROOTS]]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "invalid_example" in refused.stderr
    accepted = CliRunner().invoke(app, [*args, "--profile", "azure-openai"])
    assert accepted.exit_code == 0, accepted.stderr
    first = json.loads(out.read_text().splitlines()[0])
    assert len(first["messages"][1]["content"]) == 12


@pytest.mark.parametrize(
    ("convention", "warned"), [("xyxy", True), ("xywh", True), ("qwen", False)]
)
def test_pixel_boxes_of_the_annotated_image_over_a_downscaled_one_are_warned_of(
    tmp_path: Path, convention: str, warned: bool
) -> None:
    """`xyxy`/`xywh` count pixels of the image as annotated: when `images.max_side` shrinks
    the image sent, the model sees other pixels than the boxes say. `qwen` counts pixels as
    sent (scaled), so it is not warned of."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "version: 1\nextends: qc-defects\nimages: {max_side: 64}\n"
        f"assistant: \"{{{{ regions | boxes('{convention}') }}}}\"\n"
    )
    conversion = jb.convert(QC / "export.json", mapping, images=QC_ROOTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = list(conversion)
    said = [str(w.message) for w in caught if "downscaled image" in str(w.message)]
    assert written
    if warned:
        assert said == [
            f"{len(written)} examples send a downscaled image (images.max_side) with boxes in "
            f"pixels of the image as annotated ({convention}): the model sees other pixels than "
            "the boxes count; use qwen (pixels as sent), gemini or xyxy_norm, or send the full "
            "size"
        ]
    else:
        assert said == []


ROLES = st.sampled_from(["system", "user", "assistant", "tool"])
CONTENTS = st.one_of(st.sampled_from(["", " \n", "Classification: spam", "x"]), st.text())
EMAIL_RULE = OutputRule.from_mapping(load_mapping("email-classification"))


@given(
    st.lists(st.tuples(ROLES, CONTENTS), max_size=5),
    st.sampled_from(["openai", "azure-openai"]),
)
def test_text_examples_checked_off_the_messages_get_the_findings_of_their_json(
    messages: list[tuple[str, str]], profile_name: str
) -> None:
    """The gate reads the usual text example off its Structs (no dicts): what it reads is
    what `bridge validate` finds in the line, for any roles, order and (blank) contents; any
    other example is left to the full check."""
    profile = get_profile(profile_name)
    built = [Message(role=role, content=text) for role, text in messages]  # type: ignore[arg-type]
    dicts = [{"role": role, "content": text} for role, text in messages]
    usual = usual_text(built, profile)
    if usual is None:
        assert _usual_example(dicts, profile) is None
        return
    full = inspect_example({"messages": dicts}, profile, EMAIL_RULE)
    assert _usual_example(dicts, profile) is not None
    assert usual == (full.text_chars, full.output)
    assert text_tokens(full.text_chars) == full.tokens


OUTPUTS = st.sampled_from(
    [
        "Classification: billing",
        "Classification: sales",
        "Classification: billing, spam",
        "Classification: other",
        "billing",
        "Classification: ",
        " ",
    ]
)


@given(
    st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), st.one_of(CONTENTS, OUTPUTS)),
        min_size=1,
        max_size=4,
    ),
    st.one_of(OUTPUTS, st.just('{"a": 1}')),
    st.integers(0, 3),
    st.sampled_from(["email-classification", "structured-extraction"]),
)
def test_the_gate_refuses_what_validate_finds_in_the_line_however_often_it_saw_it(
    tmp_path_factory: pytest.TempPathFactory,
    messages: list[tuple[str, str]],
    output: str,
    repeat: int,
    preset: str,
) -> None:
    """The gate remembers its verdict on each label: examples met again, in any order, are
    refused (or not) with the detail `inspect_example` gives their JSON, and counted over
    the token estimate as often as they are; so are outputs of other kinds (JSON)."""
    from jsonl_bridge.gate import Gate

    folder = tmp_path_factory.mktemp("gate")
    mapping = folder / "m.yaml"
    mapping.write_text(f"version: 1\nextends: {preset}\nlabels: {{allowed: [billing, sales]}}\n")
    spec = load_mapping(mapping)
    gate = Gate(spec, "openai")
    gate.profile = replace(gate.profile, max_tokens_per_example=3)
    rule = OutputRule.from_mapping(spec)
    examples = (
        [
            jb.Example(
                id=str(n),
                source=Source(tool="t", format="f", file="x"),
                messages=[
                    Message(role=role, content=text)  # type: ignore[arg-type]
                    for role, text in [*messages[:n], ("assistant", output)]
                ],
            )
            for n in range(len(messages) + 1)
        ]
        * (repeat + 1)
    )
    expected_over = 0
    for example in examples:
        facts = inspect_example(example.to_json_dict(), gate.profile, rule)
        errors = [f"{f.code} {f.message}" for f in facts.findings if f.severity == "error"]
        assert gate.problems(example) == ("; ".join(errors) or None)
        expected_over += facts.tokens > 3
    assert gate.over_tokens == expected_over
