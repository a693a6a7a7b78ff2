"""Turn a policy pack's view of the stack into the render records `policy_rules` checks.

The pack sees each resource's inputs (camelCase, as in the render), its URN, name, type and options.
Two things differ from a render: secret values arrive wrapped (they become `[secret]`, as in the render)
and `retain_on_delete` is not visible to policies, so data volumes are recognised by the name every
data volume gets from `components.docker.containers.data_volume`: `payment-<item>-data`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from pulumi_policy.proxy import UnknownValueError

from policy_rules import Finding, Report, check
from vocabulary import SECRET, UNKNOWN, VOLUME

DATA_VOLUME = re.compile(r"^payment-[a-z0-9-]+-data$")


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
                "retainOnDelete": resource.resource_type == VOLUME and bool(DATA_VOLUME.match(str(inputs.get("name")))),
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
