"""The script format shared by scripted models and saved workflows."""

from __future__ import annotations

from pathlib import Path

import pytest

from valet.errors import ScriptError
from valet.models import Expectation, load_script, parse_steps
from valet.tools import ACTIONS_BY_KIND


def test_shorthands_expand_to_valid_actions() -> None:
    steps = parse_steps(
        [
            {"goto": "/shop"},
            {"click": 12},
            {"click": {"role": "button", "name": "Add to cart"}},
            {"type": {"role": "searchbox", "name": "Search", "text": "usb", "submit": True}},
            {"press": "Enter"},
            {"scroll": "down"},
            {"back": None},
            {"done": {"answer": "ok", "success": True}},
        ]
    )
    assert [s.kind for s in steps] == [
        "goto",
        "click",
        "click",
        "type",
        "press",
        "scroll",
        "back",
        "done",
    ]
    assert steps[0].args == {"url": "/shop"}
    assert steps[1].args == {"element": 12}
    assert steps[2].args == {"element": {"role": "button", "name": "Add to cart"}}
    assert steps[3].args == {
        "element": {"role": "searchbox", "name": "Search"},
        "text": "usb",
        "submit": True,
    }
    for step in steps:
        ACTIONS_BY_KIND[step.kind].model_validate(step.args)


def test_expectations_attach_to_the_next_action() -> None:
    steps = parse_steps([{"expect": {"text": "Cart"}}, {"click": 3}, {"expect": {"url": "/done"}}])
    assert steps[0].expect == Expectation(text="Cart")
    assert steps[-1].kind == "done" and steps[-1].expect == Expectation(url="/done")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"fly": 1}], "unknown action 'fly'"),
        ([{"click": 1, "goto": "/"}], "one action per item"),
        (["click"], "expected a mapping"),
        ([{"type": {"element": 3}}], "invalid type"),
        ([{"expect": {"colour": "red"}}], "unknown expectation keys"),
        ([{"raw": {"args": {}}}], "raw needs"),
    ],
)
def test_bad_scripts_say_where_and_why(items: list[object], message: str) -> None:
    with pytest.raises(ScriptError, match=message) as caught:
        parse_steps(items, source="t.yaml")
    assert "t.yaml, item" in str(caught.value)


def test_expectation_reads_the_rendered_page() -> None:
    prompt = (
        "# Task\nx\n# Current page\nURL: http://h/cart\nTitle: Your cart\n"
        '[3] button "Checkout"\n[4] link "Home"\nSubtotal 12.00\n'
    )
    assert Expectation(url="/cart", text="Subtotal").failure(prompt) is None
    assert Expectation(element=("button", "Checkout")).failure(prompt) is None
    assert "expected a link named 'Cart'" in (
        Expectation(element=("link", "Cart")).failure(prompt) or ""
    )
    assert Expectation(absent=("button", "Checkout")).failure(prompt) is not None
    assert Expectation(url="/shop").failure(prompt) is not None


def test_parameters_are_substituted_and_missing_ones_are_named(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "params: {query: cable}\nsteps:\n"
        "  - type: {role: searchbox, name: Search, text: '{{query}}', submit: true}\n"
        "  - goto: '/p/{{slug}}'\n"
    )
    with pytest.raises(ScriptError, match="parameter 'slug'"):
        load_script(path)
    steps = load_script(path, {"slug": "x1", "query": "hdmi"})
    assert steps[0].args["text"] == "hdmi"
    assert steps[1].args["url"] == "/p/x1"
    assert load_script(path, {"slug": "y"})[0].args["text"] == "cable"
