"""The sandboxed Jinja2 environment and the bridge filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined, UndefinedError
from jinja2.exceptions import SecurityError

from jsonl_bridge.errors import MappingError
from jsonl_bridge.mapping import load_mapping
from jsonl_bridge.templates import (
    MEDIA_VAR,
    ImageSizes,
    boxes,
    compile_mapping,
    lines,
    make_environment,
    template_lineno,
    to_json,
)


def render(source: str, **context: Any) -> str:
    return make_environment().from_string(source).render(**context)


def box(label: str, x: float, y: float, w: float, h: float, **extra: Any) -> dict[str, Any]:
    return {"type": "box", "label": label, "x": x, "y": y, "w": w, "h": h, **extra}


def test_environment_is_strict_sandboxed_and_does_not_escape() -> None:
    env = make_environment()
    assert env.undefined is StrictUndefined
    assert env.autoescape is False
    assert render("{{ x }}", x="<b>&") == "<b>&"
    with pytest.raises(UndefinedError, match="'missing' is undefined"):
        render("{{ missing }}")


def test_json_filter_keeps_unicode_and_does_not_html_escape() -> None:
    value = {"b": "Jürgen <x> & 'y'", "a": [1, 2.5]}
    expected = '{"b": "Jürgen <x> & \'y\'", "a": [1, 2.5]}'
    assert render("{{ v | json }}", v=value) == expected
    assert render("{{ v | tojson }}", v=value) == expected
    assert to_json("é") == '"é"'
    with pytest.raises(UndefinedError):
        render("{{ nothing | json }}")


def test_lines_filter() -> None:
    assert lines(["one", "two"]) == "one\ntwo"
    assert lines("already\ntext") == "already\ntext"
    assert render("{{ v | lines }}", v=["a", "b"]) == "a\nb"


def test_boxes_filter_conventions_in_source_order() -> None:
    regions = [box("scratch", 100, 120, 160, 30), box("dent", 400, 300, 60, 50)]
    images = {MEDIA_VAR: ImageSizes({"image": (640, 480)})}
    out = render("{{ r | boxes }}", r=regions, **images)
    assert out == (
        '[{"box_2d": [250, 156, 312, 406], "label": "scratch"}, '
        '{"box_2d": [625, 625, 729, 719], "label": "dent"}]'
    )
    qwen = json.loads(render("{{ r | boxes('qwen') }}", r=regions, **images))
    assert qwen[0] == {"bbox_2d": [100, 120, 260, 150], "label": "scratch"}
    assert json.loads(render("{{ r | boxes('xywh') }}", r=regions, **images))[1] == {
        "bbox": [400, 300, 60, 50],
        "label": "dent",
    }
    norm = json.loads(render("{{ r | boxes(convention='xyxy_norm') }}", r=regions, **images))
    assert norm[0]["bbox"] == [0.1562, 0.25, 0.4062, 0.3125]
    assert json.loads(render("{{ r | boxes('xyxy') }}", r=regions, **images))[1]["bbox"] == [
        400,
        300,
        460,
        350,
    ]


def test_boxes_of_a_missing_field_is_an_empty_list() -> None:
    assert render("{{ fields.defect | boxes }}", fields={}) == "[]"
    assert boxes(None, "gemini", ImageSizes()) == "[]"


def test_boxes_finds_the_image_by_target_and_needs_its_size() -> None:
    regions = [box("a", 0, 0, 50, 50, target="right")]
    two = ImageSizes({"left": (100, 100), "right": (200, 100)})
    assert json.loads(boxes(regions, "gemini", two))[0]["box_2d"] == [0, 0, 500, 250]
    with pytest.raises(ValueError, match="no image"):
        boxes([box("a", 0, 0, 1, 1, target="other")], "gemini", two)
    with pytest.raises(ValueError, match="size of image"):
        boxes(regions, "gemini", ImageSizes({"right": (None, None)}))
    with pytest.raises(ValueError, match="unknown convention"):
        boxes(regions, "gemini2", two)
    with pytest.raises(ValueError, match="list of regions"):
        boxes("scratch", "gemini", two)


def test_sandbox_blocks_dunder_access_and_mutation() -> None:
    with pytest.raises(SecurityError):
        render("{{ ''.__class__.__mro__ }}")
    data = {"a": 1}
    with pytest.raises(SecurityError):
        render("{{ data.update({'a': 2}) }}", data=data)
    with pytest.raises(SecurityError):
        render("{{ items.append(3) }}", items=[1, 2])
    assert data == {"a": 1}


def test_template_lineno_points_into_the_failing_template() -> None:
    env = make_environment()
    template = env.from_string("line one\n{{ x }}\n{{ missing }}\n")
    # from_string templates get "<template>" as their file name.
    with pytest.raises(UndefinedError) as caught:
        template.render(x=1)
    assert template_lineno(caught.value, "<template>") == 3
    assert template_lineno(caught.value, "<other>") is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_compile_reports_syntax_errors_at_their_file_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "version: 1\n"
        "system: |\n"
        "  first line\n"
        "  {{ oops( }}\n"
        'assistant: "{{ fields.label | nosuchfilter }}"\n',
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:4:1: system: template syntax error:")
    assert problems[1].startswith(f"{path}:5:1: assistant: template syntax error:")
    assert "nosuchfilter" in problems[1]


def test_compile_rejects_a_literal_unknown_box_convention(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nassistant: \"{{ fields.d | boxes('gemni') }}\"\n")
    with pytest.raises(MappingError, match=r"mapping.yaml:2:1: assistant: boxes: unknown"):
        load_mapping(path)


def test_compile_mapping_returns_every_template() -> None:
    compiled = compile_mapping(load_mapping("auto"))
    assert list(compiled) == [("user", 0, "text"), ("user", 1, "image"), ("assistant",)]


@pytest.mark.parametrize(
    "attribute", ["subject", "missing", "items", "keys", "get", "pop", "update", "__class__", "_x"]
)
@pytest.mark.parametrize(
    "obj",
    [
        {"subject": "Hi", "items": "an item", "_x": 1, "pop": "p"},
        {},
        type("Sub", (dict,), {})(subject="Hi"),
        ["a"],
        "text",
    ],
    ids=["dict", "empty", "dict-subclass", "list", "str"],
)
def test_the_sandbox_shortcut_for_dict_keys_answers_as_jinja_does(obj: Any, attribute: str) -> None:
    """`getattr` goes to a plain dict's key directly; whatever it answers (value, undefined,
    unsafe-undefined) is what jinja's own sandbox answers, and renders the same."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    ours = make_environment()
    jinjas = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    got = ours.getattr(obj, attribute)
    expected = ImmutableSandboxedEnvironment.getattr(jinjas, obj, attribute)
    assert type(got) is type(expected)
    if isinstance(expected, StrictUndefined):
        assert got._undefined_hint == expected._undefined_hint
        assert got._undefined_obj is expected._undefined_obj
        assert got._undefined_name == expected._undefined_name
    elif not callable(expected):
        assert got == expected
    source = f"{{{{ o.{attribute} is defined }}}}"
    assert render(source, o=obj) == jinjas.from_string(source).render(o=obj)
