"""plan/preview.py: how a render is held to a real `pulumi preview --json` (the real comparison runs in make e2e)."""

from __future__ import annotations

from typing import Any

from plan.preview import differences, replaced, updated, without_defaults
from vocabulary import CONTAINER, SECRET, VOLUME

URN = "urn:pulumi:dev::payment-platform::payment:platform:Platform$docker:index/container:Container::payment-redis"
PARENT = "urn:pulumi:dev::payment-platform::payment:platform:Platform::payment"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _render(inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    record = {"urn": URN, "type": CONTAINER, "custom": True, "parent": PARENT}
    return {"resources": [{**record, "inputs": inputs, **extra}]}


def _preview(inputs: dict[str, Any], op: str = "create", **extra: Any) -> dict[str, Any]:
    state = {"urn": URN, "type": CONTAINER, "parent": PARENT, "inputs": inputs, **extra}
    return {"steps": [{"op": op, "urn": URN, "newState": state}]}


def test_agreeing_documents_have_no_differences() -> None:
    inputs = {"name": "payment-redis", "memory": 256, "envs": ["A=1", SECRET], "image": "sha256:abc"}
    previewed = {
        **inputs,
        "envs": SECRET,  # the engine marks a whole list secret when one element is
        "image": UNKNOWN_STRING,  # computed during `up`
        "logs": False,  # filled by the provider: listed in __defaults, not the program's
        "__defaults": ["logs"],
    }
    assert differences(_render(inputs), _preview(previewed)) == []


def test_a_different_input_a_missing_one_and_an_extra_one_are_named() -> None:
    ours = {"name": "payment-redis", "memory": 256, "init": True}
    theirs = {"name": "payment-redis", "memory": 512, "tmpfs": {"/tmp": "rw"}}
    assert differences(_render(ours), _preview(theirs)) == [
        "payment-redis: inputs.init: rendered True, absent from the preview",
        "payment-redis: inputs.memory: rendered 256, previewed 512",
        "payment-redis: inputs.tmpfs: absent from the render, previewed {'/tmp': 'rw'}",
    ]


def test_a_secret_is_never_shown_in_a_difference() -> None:
    found = differences(_render({"envs": [SECRET, "B=2"]}), _preview({"envs": ["A=1", "B=2"]}))
    assert found == ["payment-redis: inputs.envs[0]: rendered [secret], previewed 'A=1'"]


def test_types_parents_and_resources_on_one_side_only_are_named() -> None:
    other = URN.replace("payment-redis", "payment-kong")
    preview = _preview({}, type=VOLUME, parent=None)
    preview["steps"].append({"op": "create", "urn": other, "newState": {"urn": other, "type": "x", "inputs": {}}})
    assert differences(_render({}), preview) == [
        f"{other}: in the preview, not rendered",
        "payment-redis: type docker:index/container:Container rendered, docker:index/volume:Volume previewed",
        f"payment-redis: parent {PARENT} rendered, None previewed",
    ]


def test_replaced_collects_every_replacing_operation() -> None:
    steps = [
        {"op": "replace", "urn": "a"},
        {"op": "create-replacement", "urn": "b"},
        {"op": "delete-replaced", "urn": "b"},
        {"op": "update", "urn": "c"},
        {"op": "same", "urn": "d"},
    ]
    assert replaced({"steps": steps}) == {"a", "b"}
    assert updated({"steps": steps}) == {"c"}


def test_provider_defaults_are_dropped_at_every_level() -> None:
    value = {"a": 1, "b": {"c": 2, "d": 3, "__defaults": ["d"]}, "__defaults": ["a"]}
    assert without_defaults(value) == {"b": {"c": 2}}
