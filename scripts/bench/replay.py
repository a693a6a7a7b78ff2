"""Re-register a render's resources, with the same inputs and options, and none of our code.

The benchmark (`make bench`, scripts/bench/) needs the Pulumi SDK's own cost for a resource set, to
judge what our program adds on top of it: pydantic validation, document builders, `Output.apply`
chains, imports. `replay_program` declares exactly the resources a render recorded: custom resources
through their provider SDK classes (`pulumi_docker.Container` with typed args, as the program builds
them), our components as plain `ComponentResource`s; same types, names, parents, dependencies, options,
inputs and secret flags, each input already a plain value. Run under the same engine
(`plan.engine.run_program`), it records the same render: the bench compares the two JSON renders byte for
byte and stops when they differ, and the replay process refuses to count if it loaded any of our program's
modules, so the baseline cannot drift from what the program declares.

A render hides the secrets of a `replacement_trigger`, which the replay must re-register as they were: the render
for a replay runs under `TriggerRecorder`, which keeps each trigger in the clear beside the render.

A replay document carries secret values in the clear (simulated ones under the render's placeholders),
so it is written only to a private temporary file and never printed.
"""

from __future__ import annotations

import importlib
import json
import typing
from collections import abc
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi import _types

from plan.engine import RecordingMonitor, Render, Resource, reveal
from vocabulary import SECRET, STACK_TYPE

_SECRET_KEY = "$secret"
"""Marks a secret value in a replay document: `{"$secret": value}`."""


class TriggerRecorder(RecordingMonitor):
    """The render's monitor, also keeping each resource's `replacement_trigger` in the clear, by URN."""

    def __init__(self) -> None:
        super().__init__()
        self.triggers: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if self.recording and request.HasField("replacement_trigger"):
            self.triggers[response.urn] = reveal(json_format.MessageToDict(request.replacement_trigger))
        return response


def document(render: Render, triggers: Mapping[str, Any]) -> dict[str, Any]:
    """What `replay_program` needs from `render` and its `TriggerRecorder.triggers`, as JSON data (secrets in the
    clear, marked)."""
    return {
        "project": render.project,
        "stack": render.stack,
        "outputs": render.outputs,
        "resources": [_entry(r, triggers.get(r.urn)) for r in render.resources if r.type != STACK_TYPE],
    }


def write(render: Render, triggers: Mapping[str, Any], path: Path) -> None:
    """Write `render`'s replay document to `path`, readable by the owner only (it holds secrets)."""
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(json.dumps(document(render, triggers)), encoding="utf-8")


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _entry(resource: Resource, trigger: Any) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "custom": resource.custom,
        "parent": resource.parent,
        "dependencies": list(resource.dependencies),
        "protect": resource.protect,
        "retainOnDelete": resource.retain_on_delete,
        "deleteBeforeReplace": resource.delete_before_replace,
        "replacementTrigger": _mark_secrets(resource.replacement_trigger, trigger),
        "inputs": _mark_secrets(resource.inputs, resource.revealed_inputs),
    }


def _mark_secrets(plain: Any, revealed: Any) -> Any:
    """`revealed`, with each value the render shows as `[secret]` wrapped as `{"$secret": value}`."""
    if plain == SECRET and revealed != SECRET:
        return {_SECRET_KEY: revealed}
    if isinstance(plain, Mapping) and isinstance(revealed, Mapping):
        return {key: _mark_secrets(plain.get(key), value) for key, value in revealed.items()}
    if isinstance(plain, list) and isinstance(revealed, list) and len(plain) == len(revealed):
        return [_mark_secrets(p, r) for p, r in zip(plain, revealed, strict=True)]
    return revealed


@cache
def resource_class(type_token: str) -> tuple[type[pulumi.CustomResource], type]:
    """The provider SDK's class for `type_token` and its args class.

    `docker:index/container:Container` is `pulumi_docker.Container` with `pulumi_docker.ContainerArgs`.
    """
    package, class_name = type_token.split(":", maxsplit=1)[0], type_token.rsplit(":", maxsplit=1)[-1]
    module = importlib.import_module(f"pulumi_{package}")
    return getattr(module, class_name), getattr(module, f"{class_name}Args")


def _typed(value: Any, annotation: Any) -> Any:
    """A replay document value as the program passed it: args objects for input types, secrets as Outputs.

    `annotation` is the provider SDK's type for the value (`Input[Sequence[Input[ContainerPortArgs]]]`),
    so nested objects go through the same typed serialization as the program's; None for untyped values
    (component inputs, replacement triggers), which keep their plain shape.
    """
    if isinstance(value, dict) and value.keys() == {_SECRET_KEY}:
        return pulumi.Output.secret(_typed(value[_SECRET_KEY], annotation))
    kind = _types.unwrap_type(annotation) if annotation is not None else None
    if isinstance(value, dict) and kind is not None and _types.is_input_type(kind):
        return kind(**_keywords(kind, value))
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if isinstance(value, list):
        item = arguments[0] if origin in (abc.Sequence, list) and arguments else None
        return [_typed(v, item) for v in value]
    if isinstance(value, dict):
        item = arguments[1] if origin in (abc.Mapping, dict) and len(arguments) == 2 else None
        return {key: _typed(v, item) for key, v in value.items()}
    return value


def _keywords(args_class: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """Engine-named `values` as keyword arguments of `args_class` (python names, typed values)."""
    python_names = {engine: python for python, engine in _types.input_type_py_to_pulumi_names(args_class).items()}
    annotations = _types.input_type_types(args_class)
    unknown = sorted(set(values) - set(python_names))
    if unknown:
        raise ValueError(f"{args_class.__name__} has no inputs {unknown}")
    return {python_names[key]: _typed(value, annotations.get(python_names[key])) for key, value in values.items()}


def dependency_order(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """`entries` with each one after its parent and its dependencies (depth-first, stable)."""
    by_urn = {entry["urn"]: entry for entry in entries}
    done: set[str] = set()

    def visit(entry: dict[str, Any], path: frozenset[str]) -> Iterator[dict[str, Any]]:
        urn = entry["urn"]
        if urn in done:
            return
        if urn in path:
            raise ValueError(f"dependency cycle through {urn}")
        for before in (entry["parent"], *entry["dependencies"]):
            if before in by_urn:
                yield from visit(by_urn[before], path | {urn})
        done.add(urn)
        yield entry

    for entry in entries:
        yield from visit(entry, frozenset())


def replay_program(replay: Mapping[str, Any]) -> Callable[[], None]:
    """A Pulumi program declaring `replay`'s resources and stack outputs through the SDK alone."""

    def program() -> None:
        created: dict[str, pulumi.Resource] = {}
        components: list[pulumi.ComponentResource] = []
        for entry in dependency_order(list(replay["resources"])):
            options = pulumi.ResourceOptions(
                parent=created.get(entry["parent"] or ""),
                depends_on=[created[urn] for urn in entry["dependencies"] if urn in created],
                protect=entry["protect"],
                retain_on_delete=entry["retainOnDelete"],
                delete_before_replace=entry["deleteBeforeReplace"],
                replacement_trigger=_typed(entry["replacementTrigger"], None),
            )
            if entry["custom"]:
                # The provider SDK's own class, as the program uses it: the SDK's cost includes its
                # typed arguments and the one output per property each instance gets. The class adds
                # its additional secret outputs itself, as it did for the program.
                resource_type, args_type = resource_class(entry["type"])
                inputs = _keywords(args_type, entry["inputs"])
                created[entry["urn"]] = resource_type(entry["name"], opts=options, **inputs)
            else:
                inputs = _typed(entry["inputs"], None)
                component = pulumi.ComponentResource(entry["type"], entry["name"], inputs, options)
                components.append(component)
                created[entry["urn"]] = component
        for component in components:
            component.register_outputs({})
        for key, value in replay["outputs"].items():
            pulumi.export(key, pulumi.Output.secret(value) if value == SECRET else value)

    return program
