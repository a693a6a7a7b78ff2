"""The application services: the catalog's 19 with the stack's overrides, and any a stack declares."""

from __future__ import annotations

from collections.abc import Mapping

from stacks.catalog import (
    DATABASE_NAME_MAX,
    DB_OWNER_SUFFIX,
    DEMO,
    MONITORING_ROLE,
    SERVICES,
    Tier,
    callers_of,
    reserved_name,
)
from stacks.errors import Problem, suggest
from stacks.models import (
    DATABASE_NAME,
    IMAGE_TAG,
    REPOSITORY,
    SERVICE_NAME,
    Infrastructure,
    Profile,
    Service,
    ServiceImage,
    ServiceImagesSettings,
    ServiceSettings,
    StackSettings,
)
from stacks.resolve.workloads import workload

RESERVED_DATABASES = frozenset(
    {"postgres", "template0", "template1", MONITORING_ROLE}
    # Role names PostgreSQL refuses or reads as a keyword (a service's role is named after its database) ...
    | {"public", "none", "current_user", "current_role", "session_user", "user"}
    # ... and words pg_hba.conf reads as keywords in its database and user columns.
    | {"all", "sameuser", "samerole", "samegroup", "replication"}
)
RESERVED_ROLE_PREFIX = "pg_"
"""PostgreSQL refuses to create a role whose name starts with it (`role name "pg_x" is reserved`)."""
IDENTITY_FIELDS = ("port", "database", "tier", "title", "calls")
"""What a built-in service keeps from the seed, whatever the stack says."""


def services(
    settings: StackSettings, profile: Profile, images: Mapping[str, str], domain: str, problems: list[Problem]
) -> tuple[Service, ...]:
    builtin = {entry.name: entry for entry in SERVICES}
    found: list[Service] = []
    for entry in SERVICES:
        override = settings.services.get(entry.name, ServiceSettings())
        for field in IDENTITY_FIELDS:
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
        found.append(
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
                workload=workload(profile.service, override, ("services", entry.name), profile, problems),
                image=_image(entry.name, override, settings, images),
                healthcheck=tuple(override.healthcheck) if override.healthcheck else None,
                domain=domain,
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
        if not SERVICE_NAME.fullmatch(name):
            problems.append(
                Problem(
                    path,
                    f"'{name}' is not a valid service name: expected lower-case letters, digits and hyphens, "
                    "starting with a letter, at most 40 characters",
                )
            )
            continue
        reserved = reserved_name(name)
        if reserved is not None:
            problems.append(Problem(path, f"'{name}' is reserved by the platform: {reserved}; choose another name"))
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
        if (
            not DATABASE_NAME.fullmatch(override.database)
            or override.database in RESERVED_DATABASES
            or override.database.startswith(RESERVED_ROLE_PREFIX)
        ):
            problems.append(
                Problem(
                    (*path, "database"),
                    "expected a PostgreSQL name of lower-case letters, digits and underscores, "
                    "at most 63 characters, not postgres/template0/template1 nor another name PostgreSQL or "
                    f"pg_hba.conf reserves ({RESERVED_ROLE_PREFIX}*, "
                    f"{', '.join(sorted(RESERVED_DATABASES - {'postgres', 'template0', 'template1'}))})",
                    override.database,
                )
            )
        found.append(
            Service(
                name=name,
                port=override.port,
                database=override.database,
                tier=override.tier or Tier.CORE,
                title=override.title or name,
                builtin=False,
                calls=tuple(override.calls or ()),
                replicas=override.replicas or 1,
                workload=workload(profile.service, override, path, profile, problems),
                image=_image(name, override, settings, images),
                healthcheck=tuple(override.healthcheck) if override.healthcheck else None,
                domain=domain,
            )
        )
    _check_database_roles(found, problems)
    _check_replicas_and_calls(found, problems)
    _check_images(settings, found, problems)
    # Who may call each service: the inverse of the whole stack's call graph, added services included.
    graph = {s.name: s.calls for s in found}
    return tuple(s.model_copy(update={"callers": callers_of(s.name, graph)}) for s in found)


def _check_database_roles(services: list[Service], problems: list[Problem]) -> None:
    """Each database also names its owner role, `<database>_owner` (stacks.catalog.db_owner_role): that name must
    fit PostgreSQL's 63 characters, and no database may be named like another one's owner role."""
    for service in services:
        if service.builtin:
            continue
        database = service.database
        if len(database) > DATABASE_NAME_MAX or database.endswith(DB_OWNER_SUFFIX):
            problems.append(
                Problem(
                    ("services", service.name, "database"),
                    f"the database's owner role is named <database>{DB_OWNER_SUFFIX}: expected at most "
                    f"{DATABASE_NAME_MAX} characters, not ending in {DB_OWNER_SUFFIX}",
                    database,
                )
            )


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


def _image(name: str, override: ServiceSettings, settings: StackSettings, pinned: Mapping[str, str]) -> ServiceImage:
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
    if images.registry is not None and not REPOSITORY.fullmatch(images.registry):
        problems.append(
            Problem(
                ("serviceImages", "registry"),
                "expected a registry/repository prefix such as registry.example.com/payment",
                images.registry,
            )
        )
    if images.tag is not None and (not IMAGE_TAG.fullmatch(images.tag) or images.tag == "latest"):
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


def check_unique(
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
