"""Sizing and exposure of a container group, and the pieces of infrastructure with theirs."""

from __future__ import annotations

from collections.abc import Mapping

from stacks.catalog import INFRASTRUCTURE
from stacks.errors import Problem
from stacks.models import Infrastructure, Profile, StackSettings, Workload, WorkloadSettings
from stacks.resolve.merge import overlay
from stacks.units import ByteSize

MIN_CONTAINER_MEMORY = ByteSize.parse("6M")  # Docker refuses a smaller memory limit.


def workload(
    base: Workload, given: WorkloadSettings | None, path: tuple[str, ...], profile: Profile, problems: list[Problem]
) -> Workload:
    """`base` (the profile's) with the stack's `given` overrides, checked: Docker's minimum memory, reservations
    within limits, and a non-loopback address only where the profile allows one."""
    resolved = overlay(base, given)
    limits, reservations, publish = resolved.limits, resolved.reservations, resolved.publish
    if limits.memory < MIN_CONTAINER_MEMORY:
        problems.append(
            Problem(
                (*path, "limits", "memory"),
                f"expected at least {MIN_CONTAINER_MEMORY} (Docker's minimum)",
                str(limits.memory),
            )
        )
    for field in ("cpus", "memory"):
        reserved, limit = getattr(reservations, field), getattr(limits, field)
        if reserved > limit:
            problems.append(
                Problem(
                    (*path, "reservations", field),
                    f"reservation is above the limit {limit}; expected at most {limit}",
                    str(reserved),
                )
            )
    public = profile.public_infrastructure
    if public is not None and publish.enabled and not publish.address.is_loopback and path[-1] not in public:
        problems.append(
            Problem(
                (*path, "publish", "address"),
                f"the {profile.name} profile publishes only {', '.join(sorted(public)) or 'nothing'} on a "
                "non-loopback address; expected a loopback address such as 127.0.0.1",
                str(publish.address),
            )
        )
    return resolved


def infrastructure(
    settings: StackSettings, profile: Profile, images: Mapping[str, str], domain: str, problems: list[Problem]
) -> tuple[Infrastructure, ...]:
    """Every catalog piece of infrastructure with its image and the stack's sizing and exposure."""
    return tuple(
        Infrastructure(
            name=item.name,
            port=item.port,
            ports=dict(item.ports),
            published_port=item.published_port,
            published_from=item.published_from,
            url=item.url,
            title=item.title,
            tls=item.tls,
            domain=domain,
            image=images.get(item.name),
            workload=workload(
                profile.infrastructure[item.name], getattr(settings, item.name), (item.name,), profile, problems
            ),
        )
        for item in INFRASTRUCTURE
    )
