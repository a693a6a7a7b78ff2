"""Merge catalog, profile and stack config into one checked `PlatformConfig`.

Pure: no Pulumi runtime, no I/O. `stacks.load()` feeds it the raw config of a running program; tests
feed it dictionaries. Every problem found is collected and reported together, so a user fixes a stack
file in one pass instead of one `pulumi up` per mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydantic import ValidationError

from stacks.catalog import INFRASTRUCTURE, INFRASTRUCTURE_NAMES, SERVICES, Tier
from stacks.errors import ConfigError, Problem, problems_from_validation, suggest
from stacks.models import (
    DATABASE_NAME,
    MAX_RESTART_RETRIES,
    SERVICE_NAME,
    Infrastructure,
    LogRotation,
    Network,
    PlatformConfig,
    Profile,
    Publish,
    Resources,
    RestartPolicy,
    Service,
    ServiceSettings,
    StackSettings,
    Workload,
    WorkloadSettings,
)
from stacks.profiles import PROFILES
from stacks.units import ByteSize

NETWORK_NAME = "payment-network"
DEFAULT_SUBNET = IPv4Network("172.28.0.0/16")
DOCKER_DEFAULT_BRIDGE = IPv4Network("172.17.0.0/16")
MIN_CONTAINER_MEMORY = ByteSize.parse("6M")  # Docker refuses a smaller memory limit.
MIN_LOG_SIZE, MAX_LOG_SIZE = ByteSize.parse("1M"), ByteSize.parse("1G")
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})
SECRET_KEYS: frozenset[str] = frozenset()
"""Top-level keys that may hold secrets. Any other key stored with `--secret` is refused: its value
would be used in plain text (a size, a port) and shown in every preview anyway."""

_IDENTITY_FIELDS = ("port", "database", "tier", "title")


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

    profile = _profile(settings, stack, problems) if "profile" in valid or "profile" not in values else None
    if profile is None:
        raise ConfigError(project, stack, problems)

    services = _services(settings, profile, problems)
    infrastructure = tuple(
        Infrastructure(
            name=item.name,
            port=item.port,
            published_port=item.published_port,
            title=item.title,
            workload=_workload(
                profile.infrastructure[item.name], getattr(settings, item.name), (item.name,), profile, problems
            ),
        )
        for item in INFRASTRUCTURE
    )
    _check_unique(services, infrastructure, problems)
    network = _network(settings, problems)
    logging = LogRotation(
        max_size=settings.log_max_size or profile.logging.max_size,
        max_files=settings.log_max_files or profile.logging.max_files,
    )
    if not MIN_LOG_SIZE <= logging.max_size <= MAX_LOG_SIZE:
        problems.append(
            Problem(
                ("logMaxSize",), f"expected a size between {MIN_LOG_SIZE} and {MAX_LOG_SIZE}", str(logging.max_size)
            )
        )
    restart = _restart(settings, profile, problems)
    if problems:
        raise ConfigError(project, stack, problems)
    return PlatformConfig(
        project=project,
        stack=stack,
        profile=profile.name,
        network=network,
        services=services,
        infrastructure=infrastructure,
        logging=logging,
        restart=restart,
    )


def _profile(settings: StackSettings, stack: str, problems: list[Problem]) -> Profile | None:
    name = settings.profile or (stack if stack in PROFILES else None)
    if name is None:
        problems.append(
            Problem(
                ("profile",),
                f"not set, and stack '{stack}' is not named after a profile; "
                f"run `pulumi config set profile prod` (expected one of: {', '.join(PROFILES)})",
            )
        )
        return None
    return PROFILES[name]


def _services(settings: StackSettings, profile: Profile, problems: list[Problem]) -> tuple[Service, ...]:
    builtin = {entry.name: entry for entry in SERVICES}
    services: list[Service] = []
    for entry in SERVICES:
        override = settings.services.get(entry.name, ServiceSettings())
        for field in _IDENTITY_FIELDS:
            value = getattr(override, field)
            if value is not None:
                fixed = getattr(entry, field)
                problems.append(
                    Problem(
                        ("services", entry.name, field),
                        f"a built-in service keeps the seed's {field} "
                        f"({fixed.value if isinstance(fixed, Tier) else fixed}); remove this key",
                        value.value if isinstance(value, Tier) else value,
                    )
                )
        services.append(
            Service(
                name=entry.name,
                port=entry.port,
                database=entry.database,
                tier=entry.tier,
                title=entry.title,
                builtin=True,
                replicas=override.replicas or profile.replicas.get(entry.name, 1),
                workload=_workload(profile.service, override, ("services", entry.name), profile, problems),
            )
        )

    for name in sorted(set(settings.services) - set(builtin)):
        override = settings.services[name]
        path = ("services", name)
        missing = [field for field in ("port", "database") if getattr(override, field) is None]
        if missing:
            problems.append(
                Problem(
                    path,
                    f"unknown service '{name}'{suggest(name, builtin)} "
                    f"(a new service must declare {' and '.join(missing)})",
                )
            )
            continue
        if not SERVICE_NAME.match(name) or name in INFRASTRUCTURE_NAMES:
            problems.append(
                Problem(
                    path,
                    f"'{name}' is not a valid service name: expected lower-case letters, digits and hyphens, "
                    "starting with a letter, at most 40 characters, not an infrastructure name",
                )
            )
            continue
        assert override.port is not None and override.database is not None
        if override.port < 1024:
            problems.append(
                Problem(
                    (*path, "port"),
                    "privileged port: services run as non-root and cannot bind below 1024; expected 1024-65535",
                    override.port,
                )
            )
        if not DATABASE_NAME.match(override.database) or override.database in RESERVED_DATABASES:
            problems.append(
                Problem(
                    (*path, "database"),
                    "expected a PostgreSQL name of lower-case letters, digits and underscores, "
                    "at most 63 characters, not postgres/template0/template1",
                    override.database,
                )
            )
        services.append(
            Service(
                name=name,
                port=override.port,
                database=override.database,
                tier=override.tier or Tier.CORE,
                title=override.title or name,
                builtin=False,
                replicas=override.replicas or 1,
                workload=_workload(profile.service, override, path, profile, problems),
            )
        )
    return tuple(services)


def _workload(
    base: Workload,
    override: WorkloadSettings | None,
    path: tuple[str, ...],
    profile: Profile,
    problems: list[Problem],
) -> Workload:
    override = override or WorkloadSettings()
    limits = Resources(
        cpus=(override.limits and override.limits.cpus) or base.limits.cpus,
        memory=(override.limits and override.limits.memory) or base.limits.memory,
    )
    reservations = Resources(
        cpus=(override.reservations and override.reservations.cpus) or base.reservations.cpus,
        memory=(override.reservations and override.reservations.memory) or base.reservations.memory,
    )
    publish = Publish(
        enabled=base.publish.enabled
        if override.publish is None or override.publish.enabled is None
        else override.publish.enabled,
        address=(override.publish and override.publish.address) or base.publish.address,
    )
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
    return Workload(limits=limits, reservations=reservations, publish=publish)


def _check_unique(
    services: tuple[Service, ...], infrastructure: tuple[Infrastructure, ...], problems: list[Problem]
) -> None:
    """Ports, databases and container names must not collide between any two catalog entries."""
    ports: dict[int, str] = {item.published_port: item.name for item in infrastructure}
    databases: dict[str, str] = {}
    containers: dict[str, str] = {item.container_name: item.name for item in infrastructure}
    for service in services:
        path = ("services", service.name)
        if service.port in ports:
            problems.append(Problem((*path, "port"), f"port already used by {ports[service.port]}", service.port))
        ports.setdefault(service.port, service.name)
        if service.database in databases:
            problems.append(
                Problem(
                    (*path, "database"), f"database already used by {databases[service.database]}", service.database
                )
            )
        databases.setdefault(service.database, service.name)
        for container in service.container_names:
            if container in containers:
                problems.append(Problem(path, f"container name {container} collides with {containers[container]}'s"))
            containers.setdefault(container, service.name)


def _network(settings: StackSettings, problems: list[Problem]) -> Network:
    subnet = settings.network_subnet or DEFAULT_SUBNET
    reasons = []
    if not subnet.is_private:
        reasons.append("expected a private (RFC 1918) range")
    if subnet.prefixlen > 24:
        reasons.append("expected a prefix of /24 or shorter, room for every container")
    if subnet.overlaps(DOCKER_DEFAULT_BRIDGE):
        reasons.append(f"overlaps Docker's default bridge {DOCKER_DEFAULT_BRIDGE}")
    for reason in reasons:
        problems.append(Problem(("networkSubnet",), reason, str(subnet)))
    gateway = subnet.network_address + 1 if subnet.num_addresses > 2 else IPv4Address(subnet.network_address)
    return Network(name=NETWORK_NAME, subnet=subnet, gateway=gateway)


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
