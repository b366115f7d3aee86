"""Property tests: no JSON value, chat-shaped or not, and no line of bytes crashes the validator;
it answers with findings of documented codes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jsonl_bridge as jb
from jsonl_bridge._validate_codes import CODES, Finding
from jsonl_bridge._validate_output import OutputRule
from jsonl_bridge.mapping import load_mapping
from jsonl_bridge.profiles import PROFILES
from jsonl_bridge.validation import check_example

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

urls = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["data:image/png;base64,", "data:image/jpeg;base64,", "https://x/y.png"]),
    st.binary(max_size=64).map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode()),
    st.binary(max_size=64).map(
        lambda b: "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b).decode()
    ),
)
parts = st.one_of(
    json_values,
    st.fixed_dictionaries({"type": st.just("text"), "text": json_values}),
    st.fixed_dictionaries(
        {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": urls})}
    ),
)
messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant", "bot"]) | json_values,
            "content": st.text() | st.lists(parts, max_size=3) | json_values,
        },
        optional={"weight": json_values, "extra": json_values},
    ),
)
examples = st.one_of(
    json_values,
    st.fixed_dictionaries({"messages": st.lists(messages, max_size=5)}),
    st.fixed_dictionaries({"messages": json_values}),
)
RULES = [
    None,
    *(
        OutputRule.from_mapping(load_mapping(n))
        for n in ("qc-defects", "email-classification", "structured-extraction")
    ),
]


@settings(max_examples=300, deadline=None)
@given(examples, st.sampled_from(RULES))
def test_check_example_never_raises_and_uses_documented_codes(obj: Any, rule: Any) -> None:
    findings = check_example(obj, PROFILES["openai"], rule)
    assert all(isinstance(f, Finding) and f.code in CODES for f in findings)
    assert check_example(obj, PROFILES["openai"], rule) == findings  # pure: same answer again


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.binary(max_size=80) | examples.map(lambda v: json.dumps(v).encode()), max_size=6)
)
def test_validate_answers_any_file_with_a_report(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "random.jsonl"
    path.write_bytes(b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines))
    report = jb.validate(path, mapping="qc-defects")
    assert report.files[0].lines == len(lines)
    assert ("E104" in report.codes) == (not any(line.strip() for line in lines))
    assert all(code in CODES for code in report.codes)
    assert report.ok == (report.errors == 0)
