"""Stack configuration: the only package that reads `pulumi.Config()`.

`load()` collects the project's config keys as the Pulumi CLI hands them to the program, and
`stacks.resolve` turns them into a frozen, checked `PlatformConfig` (or a `ConfigError` naming every bad
key) before any resource is registered.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from stacks.errors import ConfigError
from stacks.models import PlatformConfig
from stacks.resolve import resolve

__all__ = ["ConfigError", "PlatformConfig", "load"]


def load() -> PlatformConfig:
    """The current stack's platform configuration; raises `ConfigError` on any invalid key."""
    project = pulumi.get_project()
    values, secret_keys = _project_config(project)
    return resolve(values, project=project, stack=pulumi.get_stack(), secret_keys=secret_keys)


def _project_config(project: str) -> tuple[dict[str, Any], set[str]]:
    """Every key under `<project>:`, decoded, and which of them are secret.

    `pulumi.Config` can only look up keys by name, and we need every key to reject unknown ones, so the
    key list comes from the runtime's config map (set by the language host from PULUMI_CONFIG). Values
    arrive as strings; structured values (`pulumi config set --path`) arrive as JSON.
    """
    prefix = f"{project}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    # The CLI marks secret keys in PULUMI_CONFIG_SECRET_KEYS; set_all_config (the mock runtime) in the
    # runtime's own set. is_config_secret consults only the latter.
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    config = pulumi.Config(project)
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key in sorted(k for k in keys if k.startswith(prefix)):
        name = key[len(prefix) :]
        raw = config.get(name)
        if raw is None:
            continue
        values[name] = _decode(raw)
        if key in secret_keys or runtime_config.is_config_secret(key):
            secret.add(name)
    return values, secret


def _decode(raw: str) -> Any:
    if raw[:1] in "{[":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
