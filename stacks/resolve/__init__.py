"""Merge catalog, profile and stack config into one checked `PlatformConfig`.

Pure: no Pulumi runtime, no I/O. `stacks.load()` feeds it the raw config of a running program; tests feed it
dictionaries. Every problem found is collected and reported together, so a user fixes a stack file in one pass
instead of one `pulumi up` per mistake.

One module per section of the configuration (`workloads`, `services`, `pki`, `secrets`, `data`), each laying the
stack's settings over the profile's defaults the one way `merge.overlay` does, then checking the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydantic import ValidationError

from stacks.catalog import APP_NETWORK, PINNED_IMAGES
from stacks.errors import ConfigError, Problem, problems_from_validation, suggest
from stacks.models import (
    MAX_RESTART_RETRIES,
    LogRotation,
    Network,
    ObservabilityDefaults,
    PlatformConfig,
    Profile,
    RestartPolicy,
    StackSettings,
)
from stacks.profiles import PRIVATE_NETWORKS, PROFILES, select_profile
from stacks.resolve.data import data_tier
from stacks.resolve.gateway import gateway
from stacks.resolve.jwt import jwt
from stacks.resolve.merge import overlay
from stacks.resolve.networks import segments
from stacks.resolve.pki import pki
from stacks.resolve.secrets import SECRET_PREFIXES, check_rotation, secrets
from stacks.resolve.services import check_unique, services
from stacks.resolve.workloads import infrastructure
from stacks.units import ByteSize

__all__ = ["SECRET_PREFIXES", "resolve"]

NETWORK_NAME = APP_NETWORK.name
DEFAULT_SUBNET = IPv4Network("172.28.0.0/16")
DOCKER_DEFAULT_BRIDGE = IPv4Network("172.17.0.0/16")
MIN_LOG_SIZE, MAX_LOG_SIZE = ByteSize.parse("1M"), ByteSize.parse("1G")
DOCKER_DATA_ROOT = "/var/lib/docker"
"""The engine's default data root (`dockerd --data-root`), which cAdvisor mounts; `dockerDataRoot` overrides it."""
DOCKER_SOCKET_GROUP = 0
"""The socket's group when `dockerSocketGroup` is unset: root's, as dockerd leaves it when no `docker` group exists.
Where one exists (most Linux packages), set `dockerSocketGroup` to its gid, or the proxy cannot reach the engine."""
SECRET_KEYS: frozenset[str] = frozenset({"secrets", "gateway"})
"""Top-level keys that may hold secrets (`gateway`: its `tls.key`). Any other key stored with `--secret` is refused:
its value would be used in plain text (a size, a port) and shown in every preview anyway."""


def resolve(
    values: Mapping[str, Any],
    *,
    project: str,
    stack: str,
    secret_keys: Iterable[str] = (),
) -> PlatformConfig:
    """Check `values` (the project's config keys, without namespace) and resolve the platform.

    Raises `ConfigError` listing every problem found.
    """
    secret = frozenset(secret_keys)
    problems = [
        Problem((key,), "is stored as a secret but holds no secret value; set it without --secret")
        for key in sorted(secret - SECRET_KEYS)
        if key in values
    ]
    # Each top-level key is checked on its own, so a malformed key does not hide the problems of the
    # others; a malformed key is left out of the merge (its profile default stands in) so it causes
    # no follow-on errors.
    valid: dict[str, Any] = {}
    for key, value in values.items():
        try:
            StackSettings.model_validate({key: value})
        except ValidationError as error:
            problems += problems_from_validation(error, StackSettings, secret)
        else:
            valid[key] = value
    settings = StackSettings.model_validate(valid)

    # A malformed `profile` or `environment` is reported above; deciding without it could pick the wrong profile.
    decidable = all(key in valid or key not in values for key in ("profile", "environment"))
    profile = _profile(settings, stack, problems) if decidable else None
    if profile is None:
        raise ConfigError(project, stack, problems)

    images = _images(settings, problems)
    # Problems are reported in the order a stack file is usually read: services first.
    apps = services(settings, profile, images, NETWORK_NAME, problems)
    infra = infrastructure(settings, profile, images, NETWORK_NAME, problems)
    check_unique(apps, infra, problems)
    network = _network(settings, problems)
    logging = _logging(settings, profile, problems)
    restart = _restart(settings, profile, problems)
    certificates = pki(settings, profile, apps, infra, problems)
    named = secrets(settings, profile, apps, "secrets" in secret, problems)
    check_rotation(settings, certificates, named, problems)
    data = data_tier(settings, profile, infra, problems)
    edge = gateway(settings, profile, "gateway" in secret, problems)
    tokens = jwt(settings, problems)
    if problems:
        raise ConfigError(project, stack, problems)
    return PlatformConfig(
        project=project,
        stack=stack,
        profile=profile.name,
        network=network,
        segments=segments(network, apps, infra, named.integrations, internal=profile.internal_networks),
        services=apps,
        infrastructure=infra,
        logging=logging,
        restart=restart,
        pki=certificates,
        secrets=named,
        data=data,
        gateway=edge,
        observability=_observability(settings, profile),
        demo=bool(settings.demo),
        images=images,
        docker_data_root=settings.docker_data_root or DOCKER_DATA_ROOT,
        docker_socket_group=(
            DOCKER_SOCKET_GROUP if settings.docker_socket_group is None else settings.docker_socket_group
        ),
        jwt=tokens,
    )


def _images(settings: StackSettings, problems: list[Problem]) -> dict[str, str]:
    """The catalog's pinned image of every role, with the stack's `images.<role>` replacements."""
    for role in sorted(set(settings.images) - set(PINNED_IMAGES)):
        problems.append(
            Problem(
                ("images", role),
                f"unknown image role{suggest(role, PINNED_IMAGES)} (expected one of: {', '.join(PINNED_IMAGES)})",
                settings.images[role],
            )
        )
    return {role: settings.images.get(role, pinned) for role, pinned in PINNED_IMAGES.items()}


def _profile(settings: StackSettings, stack: str, problems: list[Problem]) -> Profile | None:
    """The profile `select_profile` picks (the one decision the policy pack and `plan check` take too)."""
    selection = select_profile(stack, settings.profile, settings.environment)
    problems.extend(selection.problems)
    return None if selection.problems or selection.profile is None else PROFILES[selection.profile]


def _network(settings: StackSettings, problems: list[Problem]) -> Network:
    subnet = settings.network_subnet or DEFAULT_SUBNET
    reasons = []
    # Not `is_private`: it also holds loopback, link-local, 0.0.0.0/8 and other special ranges Docker cannot route.
    if not any(subnet.subnet_of(private) for private in PRIVATE_NETWORKS):
        reasons.append(f"expected a private (RFC 1918) range inside {', '.join(map(str, PRIVATE_NETWORKS))}")
    if subnet.prefixlen > 24:
        reasons.append("expected a prefix of /24 or shorter, room for every container")
    if subnet.overlaps(DOCKER_DEFAULT_BRIDGE):
        reasons.append(f"overlaps Docker's default bridge {DOCKER_DEFAULT_BRIDGE}")
    for reason in reasons:
        problems.append(Problem(("networkSubnet",), reason, str(subnet)))
    gateway = subnet.network_address + 1 if subnet.num_addresses > 2 else IPv4Address(subnet.network_address)
    return Network(name=NETWORK_NAME, subnet=subnet, gateway=gateway)


def _logging(settings: StackSettings, profile: Profile, problems: list[Problem]) -> LogRotation:
    logging = overlay(profile.logging, {"max_size": settings.log_max_size, "max_files": settings.log_max_files})
    if not MIN_LOG_SIZE <= logging.max_size <= MAX_LOG_SIZE:
        problems.append(
            Problem(
                ("logMaxSize",), f"expected a size between {MIN_LOG_SIZE} and {MAX_LOG_SIZE}", str(logging.max_size)
            )
        )
    return logging


def _restart(settings: StackSettings, profile: Profile, problems: list[Problem]) -> RestartPolicy:
    policy = settings.restart_policy or profile.restart.policy
    if policy == "unless-stopped":
        if settings.restart_max_retries is not None:
            problems.append(
                Problem(
                    ("restartMaxRetries",),
                    "only applies to restartPolicy on-failure; remove it or set restartPolicy to on-failure",
                    settings.restart_max_retries,
                )
            )
        return RestartPolicy(policy=policy)
    return RestartPolicy(
        policy=policy, max_retries=settings.restart_max_retries or profile.restart.max_retries or MAX_RESTART_RETRIES
    )


def _observability(settings: StackSettings, profile: Profile) -> ObservabilityDefaults:
    return overlay(profile.observability, settings.observability)
