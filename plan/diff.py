"""What changes between two offline renders (`python -m plan diff BEFORE.json AFTER.json`).

Pure functions over two render documents as `python -m plan render --format json` writes them. Resources
are matched by URN; a matched resource is changed when a top-level input (camelCase, as sent to the
provider), its `replacementTrigger`, or one of protect, retainOnDelete, deleteBeforeReplace, parent and
dependencies differs. Results are grouped by component: the name of the resource's parent.

Secrets: the render shows every secret value as `[secret]`, and beside the inputs a `secretDigests` entry per
input holding a simulated secret (`plan.engine.secret_digests`), so a rotation changes the digest of every input
it reaches: a container's `envs` (secrets delivered as variables) or its loader's `uploads` (as files). A secret
given in the clear (`--set-secret`) has no digest, and a change to it stays invisible. Renders made before
digests existed are compared as before: a rotation shows through the RandomPassword's `keepers` and the
`replacementTrigger` of every container that holds the rotated file, the id of its `<name>-loader`; when a
trigger changed while the loader looks unchanged, the loader's secret inputs are reported as changed, marked
`inferred`.

Whether a change replaces the resource is modelled per type (`UPDATABLE`): a Docker container changes its restart
policy, CPU and memory limits and a few provider-side settings in place (`CONTAINER_UPDATABLE`), a certificate its
renewal window, an image its keep/remove flags; any other input replaces the resource, and every input of a
RandomPassword, private key, certificate request, volume and network does. Any resource whose
`replacementTrigger` changed is replaced. Other types are reported as `update`: `pulumi preview --diff` has the
provider's final word on them. `make e2e` holds this model to the real preview (tests/e2e/test_f_offline.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vocabulary import (
    CERT_REQUEST,
    CONTAINER,
    LOCALLY_SIGNED_CERT,
    NETWORK,
    PRIVATE_KEY,
    RANDOM_PASSWORD,
    REMOTE_IMAGE,
    SECRET,
    SELF_SIGNED_CERT,
    VOLUME,
    holds,
)

CONTAINER_UPDATABLE = frozenset(
    {
        "restart",
        "maxRetryCount",
        "cpuShares",
        "cpuSet",
        "cpuPeriod",
        "cpuQuota",
        "memory",
        "memoryReservation",
        "memorySwap",
        "deviceReadBps",
        "deviceReadIops",
        "deviceWriteBps",
        "deviceWriteIops",
        "tmpfs",
        "init",
        "destroyGraceSeconds",
        "containerReadRefreshTimeoutMilliseconds",
        "wait",
        "waitTimeout",
        "mustRun",
        "attach",
        "logs",
        "rm",
        "start",
        "removeVolumes",
    }
)
"""Container inputs pulumi-docker does not replace the container for: the top-level attributes without `ForceNew`
in the provider's schema (kreuzwerker/terraform-provider-docker, resource_docker_container.go). Every other input
forces a replacement."""
UPDATABLE: Mapping[str, frozenset[str]] = {
    CONTAINER: CONTAINER_UPDATABLE,
    RANDOM_PASSWORD: frozenset(),  # every input (length, keepers, ...) makes a new password
    VOLUME: frozenset(),  # name, labels, driver: all ForceNew
    NETWORK: frozenset(),
    REMOTE_IMAGE: frozenset({"keepLocally", "forceRemove", "build"}),
    PRIVATE_KEY: frozenset(),
    CERT_REQUEST: frozenset(),
    # Every input but the renewal window requires replacement (a new CA's PEM in a leaf's caCertPem included).
    SELF_SIGNED_CERT: frozenset({"earlyRenewalHours"}),
    LOCALLY_SIGNED_CERT: frozenset({"earlyRenewalHours"}),
}
"""Per resource type, the inputs its provider changes in place (from the providers' schemas: the attributes
without ForceNew / RequiresReplace); any other changed input replaces the resource. A type not listed is reported
as `update`, and `pulumi preview` has the final word on it."""
OPTIONS = ("protect", "retainOnDelete", "deleteBeforeReplace", "parent", "dependencies")
"""Resource options compared besides inputs; changing them never replaces anything."""
TRIGGER = "replacementTrigger"
DIGESTS = "secretDigests"
LOADER_SUFFIX = "-loader"
ACTIONS = ("add", "remove", "update", "replace")
STACK_GROUP = "(stack)"


@dataclass(frozen=True)
class Change:
    """One resource that is added, removed, updated or replaced."""

    urn: str
    type: str
    name: str
    component: str
    action: str
    keys: tuple[str, ...] = ()
    """Changed top-level input names, `replacementTrigger` and changed options (empty when added/removed)."""
    inferred: bool = False
    """The change is invisible in the render (secret) and inferred from a dependent's replacement trigger."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "component": self.component,
            "action": self.action,
            "keys": list(self.keys),
            "inferred": self.inferred,
        }


@dataclass(frozen=True)
class OutputChange:
    """A stack output added, removed or changed (`pulumi preview` lists these under Outputs)."""

    name: str
    action: str
    """add, remove or change."""
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class Diff:
    before: str
    """`project/stack` of the before render."""
    after: str
    changes: tuple[Change, ...] = field(default_factory=tuple)
    outputs: tuple[OutputChange, ...] = field(default_factory=tuple)

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def groups(self) -> dict[str, list[Change]]:
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            grouped.setdefault(change.component, []).append(change)
        return grouped

    def summary(self) -> str:
        if not self.changes and not self.outputs:
            return f"{self.before} → {self.after}: no changes"
        counts = [f"{len(self.of(a))} to {a}" for a in ACTIONS]
        if self.outputs:
            counts.append(f"{len(self.outputs)} output{'s' if len(self.outputs) != 1 else ''} changed")
        return f"{self.before} → {self.after}: " + ", ".join(counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "summary": {action: len(self.of(action)) for action in ACTIONS},
            "groups": {component: [c.to_json() for c in changes] for component, changes in self.groups().items()},
            "outputs": [
                {"name": o.name, "action": o.action, "before": o.before, "after": o.after} for o in self.outputs
            ],
        }


def _name_of(urn: str | None) -> str:
    return urn.rsplit("::", 1)[-1] if urn else STACK_GROUP


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    # `[secret]` compares equal to `[secret]`; what changed inside it shows in the inputs' `secretDigests`.
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    old_digests, new_digests = old.get(DIGESTS), new.get(DIGESTS)
    compare_digests = old_digests is not None and new_digests is not None  # a render made before they existed
    keys = [
        k
        for k in sorted(old_inputs.keys() | new_inputs.keys())
        if old_inputs.get(k) != new_inputs.get(k)
        or (compare_digests and (old_digests or {}).get(k) != (new_digests or {}).get(k))
    ]
    if old.get(TRIGGER) != new.get(TRIGGER):
        keys.append(TRIGGER)
    return keys + [option for option in OPTIONS if old.get(option) != new.get(option)]


def _replaces(type_: str, keys: list[str]) -> bool:
    if TRIGGER in keys:
        return True
    inputs = [k for k in keys if k not in OPTIONS]
    in_place = UPDATABLE.get(type_)
    return in_place is not None and any(k not in in_place for k in inputs)


def _resources(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {r["urn"]: r for r in document["resources"]}


def _label(document: Mapping[str, Any]) -> str:
    return f"{document.get('project', '?')}/{document.get('stack', '?')}"


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> Diff:
    """Resources added, removed and changed from `before` to `after`, in `after`'s order (removals last)."""
    old, new = _resources(before), _resources(after)
    keys = {urn: _changed_keys(old[urn], resource) for urn, resource in new.items() if urn in old}
    inferred: set[str] = set()
    for urn, changed in list(keys.items()):
        # A trigger is the `<name>-loader`'s id: it changed, so the loader was replaced, though its inputs
        # look the same because what changed is secret.
        loader = f"{urn}{LOADER_SUFFIX}"
        if TRIGGER in changed and new[urn]["type"] == CONTAINER and loader in keys and not keys[loader]:
            secret_inputs = [k for k, v in sorted((new[loader].get("inputs") or {}).items()) if holds(v, SECRET)]
            if secret_inputs:
                keys[loader] = secret_inputs
                inferred.add(loader)

    changes: list[Change] = []
    for urn, resource in new.items():
        if urn not in old:
            action, changed = "add", []
        elif keys[urn]:
            changed = keys[urn]
            action = "replace" if _replaces(resource["type"], changed) else "update"
        else:
            continue
        changes.append(
            Change(
                urn=urn,
                type=resource["type"],
                name=resource["name"],
                component=_name_of(resource.get("parent")),
                action=action,
                keys=tuple(changed),
                inferred=urn in inferred,
            )
        )
    changes += [
        Change(urn=urn, type=r["type"], name=r["name"], component=_name_of(r.get("parent")), action="remove")
        for urn, r in old.items()
        if urn not in new
    ]
    return Diff(
        before=_label(before),
        after=_label(after),
        changes=tuple(changes),
        outputs=output_changes(before.get("outputs") or {}, after.get("outputs") or {}),
    )


def output_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[OutputChange, ...]:
    """Stack outputs added, removed or changed, by name. Values are as rendered (secrets show as `[secret]`)."""
    found = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            found.append(OutputChange(name, "add", after=new[name]))
        elif name not in new:
            found.append(OutputChange(name, "remove", before=old[name]))
        elif old[name] != new[name]:
            found.append(OutputChange(name, "change", before=old[name], after=new[name]))
    return tuple(found)


def _short_type(type_: str) -> str:
    """`docker:index/container:Container` -> `docker:Container`."""
    return f"{type_.split(':', 1)[0]}:{type_.rsplit(':', 1)[-1]}"


def format_markdown(result: Diff) -> str:
    lines = [f"**Plan diff** {result.summary()}"]
    for component, changes in result.groups().items():
        lines += ["", f"### {component}", "", "| resource | action | changed keys |", "| --- | --- | --- |"]
        for c in changes:
            keys = ", ".join(f"`{k}`" for k in c.keys) + (" (secret; inferred from the trigger)" if c.inferred else "")
            lines.append(f"| `{c.name}` ({_short_type(c.type)}) | {c.action} | {keys} |")
    if result.outputs:
        lines += ["", "### Stack outputs", "", "| output | action | before | after |", "| --- | --- | --- | --- |"]
        for o in result.outputs:
            lines.append(f"| `{o.name}` | {o.action} | {_shown(o.before)} | {_shown(o.after)} |")
    return "\n".join(lines) + "\n"


def _shown(value: Any, limit: int = 80) -> str:
    """A short value as code; a long one only as "(long value)": the table stays readable."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return f"`{text}`" if len(text) <= limit and "|" not in text and "\n" not in text else "(long value)"


def format_json(result: Diff) -> str:
    return json.dumps(result.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
