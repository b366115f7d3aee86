"""Mapping files: validation with file:line:col positions, extends, presets, the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jsonl_bridge.errors import MappingError, UsageError
from jsonl_bridge.mapping import (
    DEFAULT_ROLES,
    FieldSelector,
    ImagePartSpec,
    Mapping,
    TextPartSpec,
    dotted,
    load_mapping,
    mapping_json_schema,
)

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "mapping.schema.json"


def write(directory: Path, text: str, name: str = "mapping.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return caught.value.problems


def test_a_full_mapping_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
version: 1
description: QC boxes
system: "You inspect parts."
user:
  - text: "Find the defects."
  - image: "{{ data.image }}"
assistant: "{{ fields.defect | boxes('gemini') }}"
fields: {defect: defect_box, kind_bound: {kind: [box, polygon]}, one: {kind: choice}}
labels: {allowed: [scratch, dent], rename: {Scratch: scratch}, unknown: drop}
select: "annotator:3"
include_predictions: true
images: {max_side: 512, max_bytes: 1000, formats: [png], format: webp}
dialogue: {field: turns, roles: {Kunde: user}}
""",
    )
    mapping = load_mapping(path)
    assert mapping.origin == str(path)
    assert mapping.user == [
        TextPartSpec(text="Find the defects."),
        ImagePartSpec(image="{{ data.image }}"),
    ]
    assert mapping.fields["defect"] == "defect_box"
    assert mapping.fields["kind_bound"] == FieldSelector(kind=["box", "polygon"])
    assert mapping.fields["one"] == FieldSelector(kind=["choice"])
    assert mapping.labels.unknown == "drop"
    assert mapping.select == "annotator:3"
    assert mapping.images.format == "webp"
    assert mapping.dialogue is not None
    assert mapping.dialogue.roles == {**DEFAULT_ROLES, "Kunde": "user"}
    assert mapping.dialogue.role_of("Customer") == "user"  # defaults, case-insensitive
    assert mapping.dialogue.role_of("robot") is None
    assert mapping.dialogue.role_of(" KUNDE ") == "user"
    assert mapping.where(("labels", "unknown")) == f"{path}:9"


def test_defaults() -> None:
    mapping = Mapping.model_validate({"version": 1, "assistant": "x"})
    assert mapping.select == "auto"
    assert mapping.include_predictions is False
    assert mapping.labels.unknown == "reject"
    assert (mapping.images.max_side, mapping.images.max_bytes) == (1024, 10_485_760)
    assert mapping.images.formats == ["jpeg", "png", "webp"]
    assert mapping.dialogue is None
    assert mapping.origin == "<mapping>"


def test_mappings_are_frozen_and_select_is_validated() -> None:
    from pydantic import ValidationError

    mapping = Mapping.model_validate({"version": 1, "assistant": "x"})
    with pytest.raises(ValidationError, match="frozen"):
        mapping.select = "first"  # type: ignore[misc]
    for policy in ("annotator:", "annotator: ", "everyone"):
        with pytest.raises(ValidationError, match="is not a policy"):
            Mapping.model_validate({"version": 1, "assistant": "x", "select": policy})
    assert Mapping.model_validate({"version": 1, "assistant": "x", "select": "majority"})


def test_misspelt_key_names_file_line_col_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nassistant: x\nlabels:\n  allowed: [a]\n  unknwon: drop\n")
    assert problems_of(path) == [
        f"{path}:5:3: labels.unknwon: unknown key (did you mean 'unknown'?)"
    ]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
version: 2
sytem: hi
user:
  - text: ok
  - imgae: x
assistant: x
labels: {unknown: rejct}
select: ground-truth
fields:
  label: {kind: choise}
images: {max_side: 0, formats: [gif]}
dialogue: {roles: {bot2: robot}}
""",
    )
    problems = problems_of(path)
    assert [p.split(": ")[0] for p in problems] == [
        f"{path}:1:1",
        f"{path}:2:1",
        f"{path}:5:5",
        f"{path}:7:10",
        f"{path}:8:1",
        f"{path}:10:11",
        f"{path}:11:10",
        f"{path}:11:33",
        f"{path}:12:20",
    ]
    text = "\n".join(problems)
    assert "version: Input should be 1" in text
    assert "sytem: unknown key (did you mean 'system'?)" in text
    assert "user[1]: a part is {text: TEMPLATE} or {image: TEMPLATE}" in text
    assert "labels.unknown: Input should be 'reject', 'drop' or 'keep', not 'rejct'" in text
    assert "select: 'ground-truth' is not a policy" in text and "'ground_truth'?" in text
    assert "fields.label.kind[0]:" in text and "(did you mean 'choice'?)" in text
    assert "images.max_side: Input should be greater than 0" in text
    assert "dialogue.roles.bot2:" in text


def test_missing_required_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "description: nothing else\n")
    problems = problems_of(path)
    assert f"{path}:1:1: version: required key is missing" in problems
    assert f"{path}:1:1: assistant: required key is missing" in problems


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nassistant: x\nimages: {colour: red}\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3:10: images.colour: unknown key (keys here: max_side,")


def test_yaml_syntax_error_has_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'version: 1\nassistant: "open\nlabels: [a\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4:1: found unexpected end of stream")
    assert "at line 2" in problem
    path = write(tmp_path, "version: 1\nassistant: x\n  bad: indent\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3:")


def test_duplicate_keys_and_non_mapping_files(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nassistant: a\nassistant: b\n")
    assert problems_of(path) == [f"{path}:3:1: assistant: duplicate key (the last one would win)"]
    path = write(tmp_path, "- version: 1\n")
    assert problems_of(path) == [f"{path}:1:1: a mapping file is a YAML mapping (version: 1, ...)"]


def test_dates_stay_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ndescription: 2024-05-01\nassistant: x\n")
    assert load_mapping(path).description == "2024-05-01"


def test_extends_overrides_keys_and_nested_dicts_per_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
version: 1
system: base system
assistant: "{{ fields.label }}"
labels: {allowed: [a, b], unknown: drop}
fields: {label: category, other: notes}
""",
        "base.yaml",
    )
    sub = tmp_path / "sub"
    sub.mkdir()
    path = write(
        sub,
        """\
extends: ../base.yaml
system: child system
labels: {rename: {A: a}}
fields: {label: topic}
""",
    )
    mapping = load_mapping(path)
    assert mapping.system == "child system"
    assert mapping.assistant == "{{ fields.label }}"
    assert mapping.labels.allowed == ["a", "b"]
    assert mapping.labels.rename == {"A": "a"}
    assert mapping.labels.unknown == "drop"
    assert mapping.fields == {"label": "topic", "other": "notes"}
    # Positions follow the file each key came from.
    assert mapping.where(("system",)) == f"{path}:2"
    assert mapping.where(("assistant",)) == f"{tmp_path / 'sub' / '../base.yaml'}:3"
    assert mapping.where(("labels", "rename")) == f"{path}:3"


def test_extends_a_preset(tmp_path: Path) -> None:
    path = write(tmp_path, "extends: email-classification\nlabels: {allowed: [x, y]}\n")
    mapping = load_mapping(path)
    assert mapping.assistant.startswith("Classification: ")
    assert mapping.labels.allowed == ["x", "y"]
    assert mapping.where(("assistant",)).startswith("preset:email-classification:")


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\nassistant: x\nextends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(MappingError, match=r"extends: cycle: .*a\.yaml → .*b\.yaml → .*a\.yaml"):
        load_mapping(tmp_path / "a.yaml")
    write(tmp_path, "version: 1\nassistant: x\nextends: self.yaml\n", "self.yaml")
    with pytest.raises(MappingError, match=r"self.yaml:3:1: extends: cycle"):
        load_mapping(tmp_path / "self.yaml")


def test_extends_unknown_target_points_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nassistant: x\nextends: emial-classification\n")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:3:1: extends: no mapping file or preset named")
    assert "did you mean 'email-classification'?" in problem


def test_unknown_preset_suggests_and_lists() -> None:
    with pytest.raises(UsageError) as caught:
        load_mapping("emial-classification")
    assert not isinstance(caught.value, MappingError)
    message = str(caught.value)
    assert "did you mean 'email-classification'?" in message
    assert "presets: auto, cad-code, dialogue, email-classification, predictive" in message
    with pytest.raises(UsageError, match="mapping file not found"):
        load_mapping("missing/mapping.yaml")
    with pytest.raises(UsageError, match="mapping file not found"):
        load_mapping("../auto")  # path-like names never reach the package


def test_an_existing_file_wins_over_a_preset_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "version: 1\nassistant: mine\n", "auto")
    assert load_mapping("auto").assistant == "mine"


def test_positions_are_not_part_of_the_model() -> None:
    mapping = load_mapping("summarization")
    dumped = mapping.model_dump(mode="json")
    assert "origin" not in dumped and "_positions" not in dumped
    assert dumped["fields"] == {"summary": {"kind": ["text"]}}
    assert Mapping.model_validate(dumped).model_dump(mode="json") == dumped
    assert "origin" not in Mapping.model_json_schema()["properties"]
    assert mapping.origin == "preset:summarization"


def test_dotted_paths() -> None:
    assert dotted(("user", 1, "image")) == "user[1].image"
    assert dotted(("labels", "unknown")) == "labels.unknown"
    assert dotted(()) == "(top level)"


def test_committed_json_schema_is_current() -> None:
    expected = json.dumps(mapping_json_schema(), indent=2, ensure_ascii=False) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        'docs/mapping.schema.json is stale; regenerate it with: python -c "import json; '
        "from jsonl_bridge.mapping import mapping_json_schema as s; "
        'print(json.dumps(s(), indent=2, ensure_ascii=False))" > docs/mapping.schema.json'
    )


def test_json_schema_describes_the_keys() -> None:
    schema = mapping_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"version", "assistant"}
    assert schema["properties"]["select"]["pattern"].startswith("^(auto|")


def test_yaml_aliases_of_collections_are_refused_not_expanded(tmp_path: Path) -> None:
    recursive = tmp_path / "rec.yaml"
    recursive.write_text('version: 1\nassistant: "x"\nlabels: {allowed: &a [*a]}\n')
    with pytest.raises(MappingError, match=r"rec\.yaml:3:19: .*YAML aliases"):
        load_mapping(recursive)
    laughs = tmp_path / "laughs.yaml"
    rows = ["version: 1", 'assistant: "x"', "labels:", "  rename: {}", '  allowed: &l0 ["lol"]']
    rows += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    laughs.write_text("\n".join(rows) + "\n")
    with pytest.raises(MappingError, match="YAML aliases"):
        load_mapping(laughs)


def test_a_yaml_alias_error_points_at_the_alias_not_the_anchor(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        'version: 1\nassistant: "x"\nlabels:\n  allowed: &l [a, b]\n'
        "  rename: {}\nimages:\n  formats: *l\n"
    )
    with pytest.raises(MappingError, match=r"m\.yaml:7:3: images\.formats: YAML aliases"):
        load_mapping(mapping)
