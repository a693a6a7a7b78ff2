"""Turn a policy pack's view of the stack into the render records `policy_rules` checks, and tell which stack it is.

The pack sees each resource's inputs (camelCase, as in the render), its URN, name, type and options.
Two things differ from a render: secret values arrive wrapped (they become `[secret]`, as in the render)
and `retain_on_delete` is not visible to policies, so data volumes are recognised by the name every
data volume gets from `components.docker.containers.data_volume`: `payment-<item>-data`.

Which rules apply (issue 15) is decided as the program decides its profile, by `stacks.profiles.select_profile`
over the stack's name and its `profile` and `environment` config, never by the pack's own configuration (which
used to default to prod, and so blocked every dev preview, and could name dev for a prod stack). The stack name and
config come from the engine: it sends both in its `ConfigureStack` call, which pulumi_policy 1.21 answers but
discards (it keeps only the tags), so `listen` records them first; a CLI that runs the pack the older way sets
`PULUMI_STACK` and `PULUMI_CONFIG` instead. The pack config `make preview`/`make up` pass (`pack_config`) names the
stack too: a cross-check, and the fallback where the engine says nothing. A disagreement, an unknown key, or a
lowered enforcement level of a mandatory policy is a mandatory violation of its own.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UnknownValueError

from policy_rules import Finding, Report, check
from stacks.catalog import DATA_VOLUME_SUFFIX, DOCKER_NAME_PREFIX
from stacks.profiles import PRODUCTION, select_profile
from vocabulary import SECRET, UNKNOWN, VOLUME

HARDENING = "container-hardening"
"""The mandatory policy: every rule of policy_rules."""
DOCUMENTED = "documented-exceptions"
"""The advisory policy: the documented exceptions applied, and what a preview cannot decide yet."""
MANDATORY = (HARDENING,)
PACK_CONFIG_KEYS = frozenset({"stack"})
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""A Pulumi stack name (the part after `org/project/`)."""

DATA_VOLUME = re.compile(f"{re.escape(DOCKER_NAME_PREFIX)}[a-z0-9-]+{re.escape(DATA_VOLUME_SUFFIX)}")


class Resource(Protocol):
    resource_type: str
    props: Mapping[str, Any]
    urn: str
    name: str


def _known(read: Callable[[], Any]) -> Any:
    """`read()`, or `[unknown]` (as in the render) when the pack's proxy says the value is not known yet.

    During a preview the engine hands the pack values computed by `pulumi up` (a new certificate's
    `validityStartTime`, an image id) as unknowns, and the pack's proxies raise `UnknownValueError` on
    reading one; uncaught, it skips the whole policy ("can't run during preview"), so a first preview
    would check nothing. The rules never need such a value: each is one the provider computes.
    """
    try:
        return read()
    except UnknownValueError:
        return UNKNOWN


def _plain(value: Any) -> Any:
    """Secret wrappers become `[secret]`, unknowns `[unknown]`, everything else stays as the render shows it."""
    if type(value).__name__ == "Secret" and hasattr(value, "value"):
        return SECRET
    if isinstance(value, Mapping):
        return {k: _plain(_known(functools.partial(value.__getitem__, k))) for k in value}
    if isinstance(value, list | tuple):
        return [_plain(_known(functools.partial(value.__getitem__, i))) for i in range(len(value))]
    return value


def _protected(resource: Resource) -> bool:
    opts = getattr(resource, "opts", None)
    return bool(getattr(opts, "protect", False))


def document(resources: Iterable[Resource], profile: str) -> dict[str, Any]:
    """A render-shaped document of `resources` under `profile` (dev or prod)."""
    records = []
    for resource in resources:
        inputs = _plain(resource.props)
        records.append(
            {
                "urn": resource.urn,
                "type": resource.resource_type,
                "name": resource.name,
                "inputs": inputs,
                "protect": _protected(resource),
                "retainOnDelete": resource.resource_type == VOLUME
                and bool(DATA_VOLUME.fullmatch(str(inputs.get("name")))),
            }
        )
    return {"resources": records, "outputs": {"profile": profile}}


def validate(
    resources: Iterable[Resource],
    profile: str,
    report: Callable[[str, str | None], None],
    *,
    exceptions: bool = False,
) -> Report:
    """Report every violation (or, with `exceptions`, every documented exception and every check a preview cannot
    decide yet) with its URN."""
    items = list(resources)
    result = check(document(items, profile))
    urns = {r.name: r.urn for r in items}
    findings: list[Finding] = result.exceptions if exceptions else result.violations
    for finding in findings:
        report(finding.line(), urns.get(finding.resource))
    if exceptions:
        for item in result.unchecked:
            rule, _, name = item.partition(" ")
            report(f"unchecked {rule} {name}: an input it reads is not known before `pulumi up`", urns.get(name))
    return result


@dataclass
class Seen:
    """What the engine told the pack about the stack being deployed, and what its configuration asked for."""

    stack: str | None = None
    project: str | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    """The stack's config as the engine sends it: `<project>:<key>` -> value."""
    lowered: dict[str, int] = field(default_factory=dict)
    """Mandatory policy -> the enforcement level the pack config asked for instead (then overridden)."""


SEEN = Seen()


def listen(servicer: type[Any], seen: Seen = SEEN) -> None:
    """Record the engine's `ConfigureStack` (stack, project, config) and keep `MANDATORY` policies mandatory
    whatever `Configure` asks, on pulumi_policy's analyzer servicer class (before the pack starts serving)."""
    configure_stack, configure = servicer.ConfigureStack, servicer.Configure

    def on_configure_stack(self: Any, request: analyzer_pb2.AnalyzerStackConfigureRequest, context: Any) -> Any:
        seen.stack, seen.project, seen.config = request.stack, request.project, dict(request.config)
        return configure_stack(self, request, context)

    def on_configure(self: Any, request: analyzer_pb2.ConfigureAnalyzerRequest, context: Any) -> Any:
        for name in request.policyConfig:
            level = request.policyConfig[name].enforcementLevel
            if name in MANDATORY and level != analyzer_pb2.MANDATORY:
                seen.lowered[name] = level
                request.policyConfig[name].enforcementLevel = analyzer_pb2.MANDATORY
        return configure(self, request, context)

    servicer.ConfigureStack, servicer.Configure = on_configure_stack, on_configure


def from_environment(environ: Mapping[str, str] = os.environ) -> Seen:
    """The stack as a CLI that starts the pack the older way (`pulumi-analyzer-policy-python`) tells it."""
    try:
        config = json.loads(environ.get("PULUMI_CONFIG") or "{}")
    except json.JSONDecodeError:
        config = {}
    return Seen(environ.get("PULUMI_STACK"), environ.get("PULUMI_PROJECT"), config if isinstance(config, dict) else {})


def seen() -> Seen:
    """The stack as the engine's `ConfigureStack` described it, else as the environment does (with what `Configure`
    asked for either way)."""
    return SEEN if SEEN.stack else replace(from_environment(), lowered=SEEN.lowered)


@dataclass(frozen=True)
class Selection:
    profile: str
    """The profile whose rules apply."""
    problems: tuple[str, ...]
    """Mandatory violations of their own (a wrong pack config, a lowered level), one line each."""


def select(seen: Seen, pack_config: Mapping[str, Any] | None) -> Selection:
    """The rules' profile for the stack `seen` describes (`select_profile`), checked against the pack config."""
    config = dict(pack_config or {})
    problems = [
        f"policy config key {key!r} = {json.dumps(config[key])} is not one the pack reads (expected only: stack); "
        "the rules follow the stack (stacks.profiles.select_profile), not the pack's config"
        for key in sorted(set(config) - PACK_CONFIG_KEYS)
    ]
    problems += [
        f"the policy config set {name} to enforcement level {analyzer_pb2.EnforcementLevel.Name(level).lower()}: it "
        "stays mandatory"
        for name, level in sorted(seen.lowered.items())
    ]
    named = config.get("stack")
    if named is not None and (not isinstance(named, str) or not STACK_NAME.fullmatch(named)):
        problems.append(f"policy config stack = {json.dumps(named)}: expected a stack name")
        named = None
    if seen.stack and named and named != seen.stack:
        problems.append(
            f"policy config stack = {json.dumps(named)}, but the engine runs stack {json.dumps(seen.stack)}: "
            "regenerate it (make preview/up write it per stack)"
        )
    stack = seen.stack or named
    if not stack:
        problems.append(
            "the pack cannot tell which stack it checks (the engine sent none and the policy config names none): "
            'run it through make preview/up, or pass --policy-pack-config with {"stack": ...}; checking with '
            "the prod rules"
        )
        return Selection(PRODUCTION, tuple(problems))
    namespace = f"{seen.project}:" if seen.project else ""
    selection = select_profile(
        stack, seen.config.get(f"{namespace}profile"), seen.config.get(f"{namespace}environment")
    )
    return Selection(selection.rules, tuple(problems))


def pack_config(stack: str) -> dict[str, dict[str, str]]:
    """What `make preview`/`make up` pass with `--policy-pack-config`: the stack, for each policy."""
    if not STACK_NAME.fullmatch(stack):
        raise ValueError(f"stack = {json.dumps(stack)}: expected a stack name ({STACK_NAME.pattern})")
    return {policy: {"stack": stack} for policy in (HARDENING, DOCUMENTED)}
