"""Docker labels every platform resource carries, so `docker ps --filter label=...` finds a stack's objects.

Labels are visible to anyone with access to the Docker host: they hold identifiers only, never secrets.
"""

from __future__ import annotations

from stacks.models import PlatformConfig

PREFIX = "com.payment-platform"


def platform_labels(config: PlatformConfig) -> dict[str, str]:
    return {
        f"{PREFIX}.project": config.project,
        f"{PREFIX}.stack": config.stack,
        f"{PREFIX}.profile": config.profile,
    }
