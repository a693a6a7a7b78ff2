"""How many health waits `pulumi up` spends in a row before the last container starts.

A container created with `wait` is not done until Docker reports it healthy, and everything that depends
on it (directly or through other resources) is created only after that. Health waits along one
dependency path therefore add up: the longest such chain bounds how long a first `pulumi up` takes and
how long a replaced data store keeps the platform down. The platform is designed for three steps: data
stores, then services, then Kong (`make bench` reports it; tests/test_waits.py holds both stacks to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from plan.engine import Render, Resource
from vocabulary import CONTAINER


def waits_for_health(resource: Resource) -> bool:
    return resource.type == CONTAINER and bool(resource.inputs.get("wait"))


def longest_wait_chain(render: Render) -> list[str]:
    """Container names along the longest start-up chain, first started first.

    The chain of a container is the longest chain of health-waited containers it depends on, followed by
    the container itself (whether or not it is waited for: its own start is the last step).
    """
    return _longest(render.resources)


def _longest(resources: Iterable[Resource]) -> list[str]:
    by_urn: Mapping[str, Resource] = {r.urn: r for r in resources}

    # A resource can only depend on resources registered before it, so the graph has no cycles.
    @cache
    def waited_before(urn: str) -> tuple[str, ...]:
        """The longest chain of waited containers `urn` waits for, through any resource in between."""
        best: tuple[str, ...] = ()
        for dependency in by_urn[urn].dependencies:
            if dependency not in by_urn:
                continue
            chain = waited_before(dependency)
            if waits_for_health(by_urn[dependency]):
                chain = (*chain, by_urn[dependency].inputs.get("name", by_urn[dependency].name))
            best = max(best, chain, key=len)
        return best

    chains = [
        [*waited_before(r.urn), str(r.inputs.get("name", r.name))]
        for r in sorted(by_urn.values(), key=lambda r: r.urn)
        if r.type == CONTAINER
    ]
    return max(chains, key=len, default=[])
