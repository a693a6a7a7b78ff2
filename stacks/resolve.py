"""Merge catalog, profile and stack config into one checked `PlatformConfig`.

Pure: no Pulumi runtime, no I/O. `stacks.load()` feeds it the raw config of a running program; tests
feed it dictionaries. Every problem found is collected and reported together, so a user fixes a stack
file in one pass instead of one `pulumi up` per mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydantic import ValidationError

from stacks.catalog import (
    DEMO,
    INFRASTRUCTURE,
    MONITORING_ROLE,
    OPERATOR,
    PINNED_IMAGES,
    RESERVED_NAMES,
    SERVICES,
    TOPICS,
    Integration,
    SecretKind,
    Tier,
    platform_secrets,
)
from stacks.errors import ConfigError, Problem, problems_from_validation, suggest
from stacks.models import (
    DATABASE_NAME,
    MAX_RESTART_RETRIES,
    SERVICE_NAME,
    Certificate,
    DataTier,
    GatewayDefaults,
    Infrastructure,
    LogRotation,
    Network,
    ObservabilityDefaults,
    Pki,
    PlatformConfig,
    PostgresTuning,
    Profile,
    Publish,
    RedisTuning,
    Resources,
    RestartPolicy,
    Secret,
    Secrets,
    Service,
    ServiceImage,
    ServiceImagesSettings,
    ServiceSettings,
    Smtp,
    StackSettings,
    Topic,
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
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1", MONITORING_ROLE})
SECRET_KEYS: frozenset[str] = frozenset({"secrets"})
"""Top-level keys that may hold secrets. Any other key stored with `--secret` is refused: its value
would be used in plain text (a size, a port) and shown in every preview anyway."""

_IDENTITY_FIELDS = ("port", "database", "tier", "title", "calls")
IMAGE_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
REPOSITORY = re.compile(r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")


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

    images = _images(settings, problems)
    services = _services(settings, profile, images, problems)
    infrastructure = tuple(
        Infrastructure(
            name=item.name,
            port=item.port,
            published_port=item.published_port,
            title=item.title,
            image=images.get(item.name),
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
    pki = _pki(settings, profile, services, infrastructure, problems)
    secrets = _secrets(settings, profile, services, "secrets" in secret, problems)
    _check_rotation(settings, pki, secrets, problems)
    data = _data_tier(settings, profile, infrastructure, problems)
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
        pki=pki,
        secrets=secrets,
        data=data,
        gateway=GatewayDefaults(
            rate_limit_per_minute=(settings.gateway and settings.gateway.rate_limit_per_minute)
            or profile.gateway.rate_limit_per_minute,
            max_request_megabytes=(settings.gateway and settings.gateway.max_request_megabytes)
            or profile.gateway.max_request_megabytes,
        ),
        observability=_observability(settings, profile),
        demo=bool(settings.demo),
        images=images,
        docker_data_root=settings.docker_data_root or DOCKER_DATA_ROOT,
    )


DOCKER_DATA_ROOT = "/var/lib/docker"
"""The engine's default data root (`dockerd --data-root`), which cAdvisor mounts; `dockerDataRoot` overrides it."""


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


def _services(
    settings: StackSettings, profile: Profile, images: Mapping[str, str], problems: list[Problem]
) -> tuple[Service, ...]:
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
                integrations=entry.integrations,
                calls=entry.calls,
                replicas=override.replicas or profile.replicas.get(entry.name, 1),
                workload=_workload(profile.service, override, ("services", entry.name), profile, problems),
                image=_service_image(entry.name, override, settings, images),
                healthcheck=tuple(override.healthcheck) if override.healthcheck else None,
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
        if not SERVICE_NAME.match(name) or name in RESERVED_NAMES:
            problems.append(
                Problem(
                    path,
                    f"'{name}' is not a valid service name: expected lower-case letters, digits and hyphens, "
                    "starting with a letter, at most 40 characters, not an infrastructure or exporter name",
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
                calls=tuple(override.calls or ()),
                replicas=override.replicas or 1,
                workload=_workload(profile.service, override, path, profile, problems),
                image=_service_image(name, override, settings, images),
                healthcheck=tuple(override.healthcheck) if override.healthcheck else None,
            )
        )
    _check_replicas_and_calls(services, problems)
    _check_images(settings, services, problems)
    return tuple(services)


def _check_replicas_and_calls(services: list[Service], problems: list[Problem]) -> None:
    """Replicas cannot share a host port; every call-graph edge must lead to another known service."""
    for service in services:
        if service.replicas > 1 and service.workload.publish.enabled:
            problems.append(
                Problem(
                    ("services", service.name, "publish", "enabled"),
                    f"{service.replicas} replicas cannot share one host port; reach the service through Kong, "
                    "or set it to false",
                    True,
                )
            )
    known = {s.name for s in services}
    for service in services:
        for upstream in service.calls:
            if upstream == service.name or upstream not in known:
                problems.append(
                    Problem(
                        ("services", service.name, "calls"),
                        f"'{upstream}' is not another service of the catalog{suggest(upstream, known)}",
                        list(service.calls),
                    )
                )


def _service_image(
    name: str, override: ServiceSettings, settings: StackSettings, pinned: Mapping[str, str]
) -> ServiceImage:
    """Where a service's image comes from: its own override, the demo stand-in, a build, or the registry."""
    images = settings.service_images or ServiceImagesSettings()
    if override.image:
        return ServiceImage(source="override", reference=override.image)
    if settings.demo:
        return ServiceImage(source="demo", reference=pinned[DEMO])
    repository = f"{images.registry or 'payment-platform'}/{name}"
    if images.build_context:
        context = f"{images.build_context.rstrip('/')}/{name}"
        return ServiceImage(source="build", reference=f"{repository}:{images.tag or 'local'}", build_context=context)
    return ServiceImage(source="registry", reference=f"{repository}:{images.tag or ''}")


def _check_images(settings: StackSettings, services: list[Service], problems: list[Problem]) -> None:
    images = settings.service_images or ServiceImagesSettings()
    if images.registry is not None and not REPOSITORY.match(images.registry):
        problems.append(
            Problem(
                ("serviceImages", "registry"),
                "expected a registry/repository prefix such as registry.example.com/payment",
                images.registry,
            )
        )
    if images.tag is not None and (not IMAGE_TAG.match(images.tag) or images.tag == "latest"):
        problems.append(
            Problem(("serviceImages", "tag"), "expected a version tag such as 1.4.2 (not latest)", images.tag)
        )
    if any(s.image.source == "registry" for s in services) and not (images.registry and images.tag):
        problems.append(
            Problem(
                ("serviceImages",),
                "service images are not configured: set serviceImages.registry and serviceImages.tag, "
                "serviceImages.buildContext, or `pulumi config set demo true` for the stand-in images",
            )
        )


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


MIN_SECRET_LENGTH = 32
SECRET_PREFIXES = {
    "stripe-api-key": ("sk_", "rk_"),
    "stripe-webhook-secret": ("whsec_",),
}
"""Shapes of third-party credentials, checked so a swapped pair fails here, not on the first payment."""


def _pki(
    settings: StackSettings,
    profile: Profile,
    services: tuple[Service, ...],
    infrastructure: tuple[Infrastructure, ...],
    problems: list[Problem],
) -> Pki:
    given = settings.pki
    defaults = profile.pki

    def pick(field: str) -> int:
        value = getattr(given, field) if given else None
        return int(value if value is not None else getattr(defaults, field))

    ca_generation = settings.rotation.get("ca", 0)
    pki = Pki(
        organization=(given and given.organization) or "Payment Platform",
        organizational_unit=(given and given.organizational_unit) or "payment-platform",
        country=given.country if given else None,
        ca_generation=ca_generation,
        ca_overlap=(given and given.ca_overlap) or "none",
        ca_validity_hours=pick("ca_validity_hours"),
        leaf_validity_hours=pick("leaf_validity_hours"),
        early_renewal_hours=pick("early_renewal_hours"),
        certificates=(
            *(
                Certificate(
                    subject=s.name,
                    rotation=settings.rotation.get(f"tls-{s.name}", 0),
                    container_names=s.container_names,
                )
                for s in services
            ),
            *(
                Certificate(
                    subject=i.name,
                    rotation=settings.rotation.get(f"tls-{i.name}", 0),
                    container_names=(i.container_name,),
                )
                for i in infrastructure
                if _has_tls(i.name)
            ),
            Certificate(subject=OPERATOR, rotation=settings.rotation.get(f"tls-{OPERATOR}", 0)),
        ),
    )
    if pki.ca_overlap == "previous" and ca_generation == 0:
        problems.append(
            Problem(("pki", "caOverlap"), "there is no CA before generation 0 (rotation.ca is 0)", "previous")
        )
    if pki.early_renewal_hours >= pki.leaf_validity_hours:
        problems.append(
            Problem(
                ("pki", "earlyRenewalHours"),
                f"expected fewer hours than leafValidityHours ({pki.leaf_validity_hours}), "
                "or every refresh would re-issue every certificate",
                pki.early_renewal_hours,
            )
        )
    if pki.leaf_validity_hours > pki.ca_validity_hours:
        problems.append(
            Problem(
                ("pki", "leafValidityHours"),
                f"expected at most caValidityHours ({pki.ca_validity_hours}): a leaf cannot outlive its CA",
                pki.leaf_validity_hours,
            )
        )
    return pki


def _has_tls(infrastructure_name: str) -> bool:
    return next(i.tls for i in INFRASTRUCTURE if i.name == infrastructure_name)


def _secrets(
    settings: StackSettings,
    profile: Profile,
    services: tuple[Service, ...],
    stored_as_secret: bool,
    problems: list[Problem],
) -> Secrets:
    catalog = platform_secrets(s.name for s in services)
    names = [c.name for c in catalog]
    if settings.secrets and not stored_as_secret:
        problems.append(
            Problem(
                ("secrets",),
                "is stored in plain text; set each value with "
                "`pulumi config set --secret --path 'secrets.<name>' <value>`",
            )
        )
    for name in sorted(set(settings.secrets) - set(names)):
        problems.append(
            Problem(("secrets", name), f"unknown secret{suggest(name, names)} (expected one of: {', '.join(names)})")
        )

    items = []
    for spec in catalog:
        value = settings.secrets.get(spec.name)
        if value is not None:
            _check_secret_value(spec.name, spec.kind, value.get_secret_value(), problems)
        items.append(
            Secret(
                name=spec.name,
                kind=spec.kind,
                length=spec.length,
                value=value,
                rotation=settings.rotation.get(spec.name, 0),
                variable=spec.variable,
            )
        )

    integrations = set()
    for integration, switch in ((Integration.STRIPE, settings.stripe), (Integration.SMTP, settings.smtp)):
        needed = [c.name for c in catalog if c.integration is integration]
        present = [n for n in needed if n in settings.secrets]
        enabled = switch.enabled if switch and switch.enabled is not None else bool(present)
        if not enabled:
            continue
        integrations.add(integration)
        for name in needed:
            if name not in settings.secrets:
                problems.append(
                    Problem(
                        (integration.value, "enabled"),
                        f"{integration.value} is on but secrets.{name} is not set; run "
                        f"`pulumi config set --secret --path 'secrets.{name}' <value>`",
                    )
                )
    return Secrets(
        items=tuple(items),
        rotation_all=settings.rotation.get("all", 0),
        delivery=settings.secret_delivery or profile.secret_delivery,
        integrations=frozenset(integrations),
        smtp=_smtp(settings, problems) if Integration.SMTP in integrations else None,
    )


def _check_secret_value(name: str, kind: SecretKind, value: str, problems: list[Problem]) -> None:
    """Shape checks on a secret; messages never include the value."""
    path = ("secrets", name)
    if not value.strip():
        problems.append(Problem(path, "is empty", value, secret=True))
    elif kind is SecretKind.GENERATED and len(value) < MIN_SECRET_LENGTH:
        problems.append(
            Problem(
                path,
                f"expected at least {MIN_SECRET_LENGTH} characters, or unset it to generate one",
                value,
                secret=True,
            )
        )
    elif name in SECRET_PREFIXES and not value.startswith(SECRET_PREFIXES[name]):
        expected = " or ".join(f"{p}..." for p in SECRET_PREFIXES[name])
        problems.append(Problem(path, f"expected a value starting {expected}", value, secret=True))


def _smtp(settings: StackSettings, problems: list[Problem]) -> Smtp | None:
    given = settings.smtp
    missing = [key for key in ("host", "username", "sender") if not (given and getattr(given, key))]
    for key in missing:
        alias = "from" if key == "sender" else key
        problems.append(Problem(("smtp", alias), "required when SMTP is on (notification-service sends mail with it)"))
    if missing or given is None:
        return None
    assert given.host and given.username and given.sender
    return Smtp(host=given.host, port=given.port or 587, username=given.username, sender=given.sender)


def _check_rotation(settings: StackSettings, pki: Pki, secrets: Secrets, problems: list[Problem]) -> None:
    generated = {s.name for s in secrets.items if s.kind is SecretKind.GENERATED and s.value is None}
    allowed = ["all", "ca", *sorted(generated), *(c.name for c in pki.certificates)]
    for name in settings.rotation:
        if name in allowed:
            continue
        known = {s.name: s for s in secrets.items}
        if name in known:
            reason = (
                f"{name} is set in config, not generated; rotate it by setting a new value with "
                f"`pulumi config set --secret --path 'secrets.{name}' <value>`"
            )
        else:
            reason = (
                f"unknown rotation key{suggest(name, allowed)} (expected all, ca, a generated secret or tls-<name>)"
            )
        problems.append(Problem(("rotation", name), reason, settings.rotation[name]))


TOPIC_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,200}$")


def _data_tier(
    settings: StackSettings, profile: Profile, infrastructure: tuple[Infrastructure, ...], problems: list[Problem]
) -> DataTier:
    limits = {item.name: item.workload.limits.memory for item in infrastructure}
    pg, given_pg = profile.postgres, settings.postgres
    postgres = PostgresTuning(
        **{field: getattr(given_pg, field, None) or getattr(pg, field) for field in PostgresTuning.model_fields}
    )
    if postgres.shared_buffers >= limits["postgres"] // 2:
        problems.append(
            Problem(
                ("postgres", "sharedBuffers"),
                f"expected less than half the memory limit ({limits['postgres']}); the rest is for connections "
                "and the OS cache",
                str(postgres.shared_buffers),
            )
        )
    rd, given_rd = profile.redis, settings.redis
    redis = RedisTuning(
        maxmemory=(given_rd and given_rd.maxmemory) or rd.maxmemory,
        maxmemory_policy=(given_rd and given_rd.maxmemory_policy) or rd.maxmemory_policy,
    )
    if redis.maxmemory > limits["redis"] * 0.8:
        problems.append(
            Problem(
                ("redis", "maxmemory"),
                f"expected at most 80% of the memory limit ({limits['redis']}); Redis needs headroom to rewrite "
                "its append-only file without being killed",
                str(redis.maxmemory),
            )
        )
    overrides = settings.kafka.topics if settings.kafka else {}
    names = [t.name for t in TOPICS] + sorted(set(overrides) - {t.name for t in TOPICS})
    topics = []
    for name in names:
        given = overrides.get(name)
        if not TOPIC_NAME.match(name):
            problems.append(
                Problem(
                    ("kafka", "topics", name), "expected a topic name of lower-case letters, digits, '.', '_' or '-'"
                )
            )
        topics.append(
            Topic(
                name=name,
                partitions=(given and given.partitions) or profile.topics.partitions,
                retention_hours=(given and given.retention_hours) or profile.topics.retention_hours,
            )
        )
    return DataTier(
        postgres=postgres, redis=redis, topics=tuple(topics), health=profile.health, protect_data=profile.protect_data
    )


def _observability(settings: StackSettings, profile: Profile) -> ObservabilityDefaults:
    given = settings.observability
    defaults = profile.observability
    overrides = {k: v for k, v in (given.model_dump() if given else {}).items() if v is not None}
    return defaults.model_copy(update=overrides)
