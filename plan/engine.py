"""Run the real Pulumi program under the SDK's mock runtime and record every resource it registers.

This is the engine behind `python -m plan render` and behind every stack-level test: both execute the
same `__main__.py` that `pulumi up` runs, so there is exactly one description of the platform.

The SDK's `MockMonitor` is a thin stand-in for the Pulumi engine. Three things the real engine does are
missing from it and are added here, because without them the render would lie:

* it records nothing but URN, id and outputs, so `RecordingMonitor` keeps the whole register request
  (parent, dependencies, protect, ...) with secrets still marked;
* it does not mark `additional_secret_outputs` (e.g. `RandomPassword.result`) as secret, so every value
  derived from a generated password would look public; the real engine does, and so do we;
* it does not keep an input's secretness on the output of the same name; the real engine does.

Provider-computed values come from `plan.simulate`, deterministic per URN, so the same commit and config
render byte-identical JSON.
"""

from __future__ import annotations

import gc
import hashlib
import json
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_in_stack, wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from plan import simulate
from vocabulary import SECRET, STACK_TYPE, UNKNOWN

_SIG = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_RESOURCE_SIG = rpc._special_resource_sig
_ASSET_SIG = rpc._special_asset_sig
_ARCHIVE_SIG = rpc._special_archive_sig
_OUTPUT_SIG = rpc._special_output_value_sig


@dataclass(frozen=True)
class Resource:
    """One registered resource, as the engine saw the register request."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    dependencies: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    inputs: Mapping[str, Any]
    """Inputs as sent to the provider (camelCase names), secrets replaced by `[secret]`."""
    replacement_trigger: Any = None
    """The `replacement_trigger` resource option (rotation counters), secrets hidden; None when unset."""
    additional_secret_outputs: tuple[str, ...] = ()
    revealed_inputs: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Inputs with secret values in the clear. For tests only: never serialized or printed."""
    revealed_outputs: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Provider outputs (simulated) in the clear, e.g. a certificate's PEM. For tests only."""
    secret_digests: Mapping[str, str] = field(default_factory=dict)
    """Top-level input -> a digest of the simulated secret values inside it (`secret_digests`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "dependencies": list(self.dependencies),
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "deleteBeforeReplace": self.delete_before_replace,
            "inputs": self.inputs,
            "replacementTrigger": self.replacement_trigger,
            "secretDigests": dict(self.secret_digests),
        }


@dataclass(frozen=True)
class Render:
    """Everything one run of the program declared."""

    project: str
    stack: str
    resources: tuple[Resource, ...]
    outputs: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }

    def dumps(self) -> str:
        """The render as `python -m plan render --format json` prints it: stable, diffable JSON."""
        return dumps(self.to_json())

    def by_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> Resource:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type_} named {name!r}")
        return found[0]

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]


def dumps(document: Mapping[str, Any]) -> str:
    """A render document (`Render.to_json()`) as stable, diffable JSON text."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_plain(value: Any) -> Any:
    """Turn a decoded protobuf property value into JSON data, hiding secrets.

    Resource references become their URN, unknowns `[unknown]`; integral numbers become ints because
    protobuf carries every number as a double.
    """
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _OUTPUT_SIG:
            return SECRET if value.get("secret") else to_plain(value.get("value", UNKNOWN))
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig in (_ASSET_SIG, _ARCHIVE_SIG):
            kind = "asset" if sig == _ASSET_SIG else "archive"
            return {kind: {k: to_plain(v) for k, v in sorted(value.items()) if k != _SIG}}
        return {k: to_plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == rpc.UNKNOWN:
        return UNKNOWN
    return value


def secret_leaves(value: Any, inside: bool = False) -> Iterator[str]:
    """The strings of a decoded property value that are secret (inside a secret marker or a secret Output)."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            yield from secret_leaves(value.get("value"), True)
        elif sig == _OUTPUT_SIG:
            yield from secret_leaves(value.get("value"), inside or bool(value.get("secret")))
        else:
            for item in value.values():
                yield from secret_leaves(item, inside)
    elif isinstance(value, list):
        for item in value:
            yield from secret_leaves(item, inside)
    elif inside and isinstance(value, str):
        yield value


def secret_digests(raw_inputs: Mapping[str, Any], real_secrets: frozenset[str]) -> dict[str, str]:
    """Top-level input -> a digest of the simulated secret values inside it, so a diff sees a secret change.

    Every secret a render holds is simulated (`simulate.SECRET_MARKER`): a generated password derived from its
    keepers, a key from its rotation counter, a `secure:` config value from its ciphertext. A rotation changes
    the simulated value and so the digest, while the render still shows only `[secret]`. A value that contains a
    real secret (`--set-secret` plaintext, `real_secrets`) is left out: its digest could be checked against
    guesses. Such a change stays invisible offline, as before.

    A secret derived from simulated ones can lose the marker: Redis's ACL file holds SHA-256 hashes of generated
    passwords (components/data/redis.py). Such a leaf is digested too, unless it holds a real secret's SHA-256 (as
    open to guesses as the secret itself); whether a render holds real secrets elsewhere does not change it.
    """
    hidden = {*real_secrets, *(hashlib.sha256(real.encode()).hexdigest() for real in real_secrets)}
    digests = {}
    for key, value in raw_inputs.items():
        leaves = [leaf for leaf in secret_leaves(value) if not any(part in leaf for part in hidden)]
        if leaves:
            digests[key] = simulate.digest("secret-digest", *leaves)[:16]
    return digests


def reveal(value: Any) -> Any:
    """The plain value behind secret markers, for the simulator only (never for the record)."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return reveal(value.get("value"))
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def _struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)  # type: ignore[no-any-return]


class RecordingMonitor(mocks.MockMonitor):
    """A `MockMonitor` that records each register request and behaves like the engine on secrets."""

    def __init__(self, simulator: simulate.Placeholders | None = None) -> None:
        super().__init__(_NoMocks())
        self.simulator = simulator or simulate.Placeholders()
        self.records: dict[str, Resource] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.recording = False
        self.real_secrets: frozenset[str] = frozenset()
        """Plaintext secrets from config (`--set-secret`), never digested (`secret_digests`)."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine qualifies a child's type with its parent's whole type chain, except the root
        # stack's; MockMonitor keeps only the parent's last type, so its URNs differ from `pulumi up`'s.
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{type_}::{name}"

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        raw_inputs = _struct_to_dict(request.object)
        trigger = (
            json_format.MessageToDict(request.replacement_trigger) if request.HasField("replacement_trigger") else None
        )
        state: dict[str, Any] = dict(raw_inputs)  # inputs keep their secret markers, like the engine's
        request_view = simulate.Request(request.type, urn, reveal(raw_inputs), reveal(trigger))
        if request.custom and request.type != STACK_TYPE:
            for key, value in self.simulator.outputs(request_view).items():
                state.setdefault(key, value)
            for key in request.additionalSecretOutputs:
                if key in state and not rpc.is_rpc_secret(state[key]):
                    state[key] = rpc.wrap_rpc_secret(state[key])
        if self.recording:
            dependencies = set(request.dependencies)
            for deps in request.propertyDependencies.values():
                dependencies.update(deps.urns)
            self.records[urn] = Resource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                dependencies=tuple(sorted(dependencies)),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                inputs=to_plain(raw_inputs),
                replacement_trigger=to_plain(trigger),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
                revealed_inputs=reveal(raw_inputs),
                revealed_outputs=reveal(state),
                secret_digests=secret_digests(raw_inputs, self.real_secrets),
            )
        if request.type == STACK_TYPE or not request.custom:
            return resource_pb2.RegisterResourceResponse(urn=urn)

        obj = struct_pb2.Struct()
        obj.update(state)
        resource_id = simulate.resource_id(request_view)
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=obj)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if self.recording and request.urn.split("::")[2] == STACK_TYPE:
            self.stack_outputs = to_plain(_struct_to_dict(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


class _NoMocks(mocks.Mocks):
    """The recording monitor answers registrations itself; provider functions are not used yet."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        raise NotImplementedError("RecordingMonitor.RegisterResource answers registrations")

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        raise NotImplementedError(f"provider function {args.token} has no simulation; add one to plan/simulate.py")


@dataclass(frozen=True)
class StackConfig:
    """The configuration a Pulumi CLI would hand the program: `project:key` -> value, and the secret keys."""

    values: Mapping[str, Any]
    secret_keys: frozenset[str] = field(default_factory=frozenset)

    def real_secrets(self) -> frozenset[str]:
        """The plaintext strings of secret keys (from `--set-secret`), not the placeholders of `secure:` values."""
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)
            elif isinstance(value, str) and value and simulate.SECRET_MARKER not in value:
                found.add(value)

        for key in self.secret_keys:
            walk(self.values.get(key))
        return frozenset(found)

    def as_runtime_config(self) -> dict[str, str]:
        """Values as the CLI passes them: strings, with objects and lists as JSON."""
        return {key: value if isinstance(value, str) else json.dumps(value) for key, value in self.values.items()}


@contextmanager
def _program_on_path(project_dir: Path) -> Iterator[None]:
    """Like the language host: the project folder is the working module root of the program."""
    entry = str(project_dir)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            sys.path.remove(entry)


def run(
    project_dir: Path, project: str, stack: str, config: StackConfig, monitor: RecordingMonitor | None = None
) -> Render:
    """Execute `project_dir/__main__.py` for `stack` with `config` and return what it registered.

    Exceptions from the program (a `stacks.ConfigError`, say) propagate after the runtime has drained;
    pass a `monitor` to inspect what was registered before the failure.
    """
    main = project_dir / "__main__.py"

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    with _program_on_path(project_dir):
        return run_program(program, project, stack, config, monitor)


def run_program(
    program: Callable[[], None],
    project: str,
    stack: str,
    config: StackConfig | None = None,
    monitor: RecordingMonitor | None = None,
) -> Render:
    """Run `program` (any function that declares resources) the way the language host runs a stack.

    Component tests use this to build one component under the same engine as the whole-stack render.
    """
    config = config or StackConfig(values={})
    runtime_config.set_all_config(config.as_runtime_config(), sorted(config.secret_keys))
    monitor = monitor or RecordingMonitor()
    monitor.real_secrets = config.real_secrets()
    # A previous run's root stack must not parent this run's resources.
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # set_mocks registers a root stack of its own, made for unit tests that construct resources directly.
    # The language host instead runs the program inside run_in_stack, which creates the stack and
    # registers the program's exports as its outputs. Drain set_mocks' registrations, drop its stack,
    # and run the program the way the language host does.
    with _fewer_collections():
        _sync_await(wait_for_rpcs())
        settings.ROOT.set(None)
        monitor.recording = True
        _sync_await(run_in_stack(program))
    return Render(
        project=project,
        stack=stack,
        resources=tuple(_tree_order(monitor.records)),
        outputs=monitor.stack_outputs,
    )


COLLECTION_THRESHOLDS = (100_000, 50, 100)
"""`gc.set_threshold` during a run: young collections every 100,000 allocations instead of CPython's 700."""


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while the SDK runs a program; the caller's thresholds after.

    The SDK allocates a few hundred thousand short-lived objects per run (an asyncio task and future per
    property and Output, which it awaits again on every round of `wait_for_rpcs`), so at the default threshold
    the collector ran thousands of times per render, each older-generation pass walking everything alive (in a
    test session, every render kept so far): over half of a render's time (`python -m plan render --stack dev`:
    3.9 s before, 2.3 s after on a 2-CPU machine). The same garbage is still collected, in fewer passes; a render's
    peak memory grows by up to 15 MB (about 100 MB before).
    """
    previous = gc.get_threshold()
    gc.set_threshold(*COLLECTION_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _tree_order(records: Mapping[str, Resource]) -> Iterator[Resource]:
    """Parents before children, siblings by name then type: a stable, readable order.

    Registration order is not stable (the SDK registers from a thread pool), so it is never used.
    """
    children: dict[str | None, list[Resource]] = {}
    for resource in records.values():
        parent = resource.parent if resource.parent in records else None
        children.setdefault(parent, []).append(resource)

    def walk(parent: str | None) -> Iterator[Resource]:
        for child in sorted(children.get(parent, []), key=lambda r: (r.name, r.type, r.urn)):
            yield child
            yield from walk(child.urn)

    yield from walk(None)
