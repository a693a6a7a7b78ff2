"""Docker labels every platform resource carries, so `docker ps --filter label=...` finds a stack's objects.

Labels are visible to anyone with access to the Docker host: they hold identifiers only, never secrets.
"""

from __future__ import annotations

PREFIX = "com.payment-platform"
SERVICE_LABEL = f"{PREFIX}.service"
"""On every container of an application service: the service's name."""


def platform_labels(project: str, stack: str, profile: str) -> dict[str, str]:
    """What identifies a stack's objects on a shared Docker host."""
    return {f"{PREFIX}.project": project, f"{PREFIX}.stack": stack, f"{PREFIX}.profile": profile}
