"""Typed, frozen configuration models.

Two families live here:

* `StackSettings` and its parts mirror what a user may write under the `payment-platform:` namespace
  (camelCase keys, every field optional). They only check shape and types; `extra="forbid"` turns a typo
  into an "unknown key" error instead of a silently ignored setting.
* `PlatformConfig` and its parts are the resolved result that components receive: catalog, profile
  defaults and stack overrides merged, cross-checked, nothing optional left.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from stacks.catalog import NETWORKLESS, Integration, SecretKind, Tier, container_name
from stacks.text import Printable
from stacks.units import ByteSize, Cpus

ProfileName = Literal["dev", "prod"]
EnvironmentName = Literal["dev", "staging", "prod"]
"""`environment`: what a stack declares it is (`stacks.profiles.select_profile`); prod binds it to the prod profile."""
SERVICE_URL = "https://{host}:{port}"


def dns_name(name: str, domain: str) -> str:
    """The fully qualified name of container alias `name` on the platform network `domain`
    (`order-service.payment-network`): what the seed's URLs use and every certificate carries."""
    return f"{name}.{domain}"


"""Every service speaks HTTPS with mutual TLS on its own port, on the network and where it is published."""
RestartPolicyName = Literal["on-failure", "unless-stopped"]
SecretDelivery = Literal["files", "env"]
CaOverlap = Literal["none", "next", "previous"]
Hours = Annotated[int, Field(ge=1, le=20 * 8760)]

MAX_RESTART_RETRIES = 5
"""Upper bound for `on-failure`: a container that fails more often needs a person, not a loop."""

MAX_REPLICAS = 20
"""Replicas are separate containers on one Docker host; more than this is a sizing mistake."""

# Every pattern here is used with `fullmatch`: `$` would also match before a final newline, and a name ending in
# `\n` once reached bootstrap.sql, where it ended psql's `\set` line early.
SERVICE_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?")
"""A DNS label short enough that `payment-<name>-<replica>` stays a readable container name."""

DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""An unquoted PostgreSQL identifier (63 bytes at most), so generated SQL never needs quoting tricks."""

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*", re.DOTALL)
"""A DNS name (or an IPv4 address written as one): letters, digits, hyphens and dots, 253 characters at most."""

EMAIL_ADDRESS = re.compile(rf"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@{_LABEL}(?:\.{_LABEL})*")
"""A plain addr-spec (`noreply@example.com`): it becomes a mail header (`From:`) and an environment variable, so no
display name, quotes, comments or white space, only the characters addresses providers issue are made of."""


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, use_enum_values=False
    )


# --- what a user may write in stack config ------------------------------------------------------


class ResourcesSettings(Model):
    cpus: Cpus | None = None
    """CPU count, e.g. `0.5` or `2`."""
    memory: ByteSize | None = None
    """Memory, e.g. `512M` or `1G`."""


def host_address(value: IPv4Address) -> IPv4Address:
    """An address a port can be published on: one of the host's (any unicast), loopback, or 0.0.0.0 for all."""
    if value.is_multicast or (value.is_reserved and not value.is_unspecified):
        raise ValueError("expected a host address such as 127.0.0.1 (not multicast, broadcast or reserved)")
    return value


class PublishSettings(Model):
    enabled: bool | None = None
    """Publish the port on the Docker host."""
    address: Annotated[IPv4Address, AfterValidator(host_address)] | None = None
    """Host address to bind the published port to."""


# Docker's reference grammar (distribution/reference), ASCII only (`\w` and `\d` would take any Unicode letter or
# digit); every pattern is `fullmatch`ed.
_REPOSITORY = r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
REPOSITORY = re.compile(_REPOSITORY)
"""An image repository, with an optional registry host and port."""
IMAGE_TAG = re.compile(_TAG)
IMAGE_REFERENCE = re.compile(rf"{_REPOSITORY}(?::(?P<tag>{_TAG}))?(?:@sha256:[a-f0-9]{{64}})?")
"""A whole image reference: repository, optional tag, optional digest."""


def pinned_image(value: str) -> str:
    """An image reference with a version tag or a digest; never a floating `latest`."""
    match = IMAGE_REFERENCE.fullmatch(value)
    if not match:
        raise ValueError("expected an image reference such as postgres:18.6-trixie")
    if "@sha256:" not in value and (match["tag"] is None or match["tag"] == "latest"):
        raise ValueError("expected an image pinned to a version tag or digest, not latest")
    return value


PinnedImage = Annotated[str, AfterValidator(pinned_image)]


HOST_PATH = re.compile(r"(?:/[A-Za-z0-9._+@-]+)+")
"""Folder names of plain characters: a host path becomes a bind mount (`<source>:<target>:ro`, where `:` and `,`
separate fields) and appears in shell-quoted commands."""


def absolute_path(value: str) -> str:
    """A normalised absolute host path (no `..`, no trailing slash) of plain folder names."""
    if not HOST_PATH.fullmatch(value) or posixpath.normpath(value) != value:
        raise ValueError("expected a normalised absolute path of letters, digits and ._+@- such as /var/lib/docker")
    return value


AbsolutePath = Annotated[str, AfterValidator(absolute_path)]


def hostname(value: str) -> str:
    if not HOSTNAME.fullmatch(value):
        raise ValueError("expected a host name such as smtp.example.com (letters, digits, hyphens and dots)")
    return value


def email_address(value: str) -> str:
    if not EMAIL_ADDRESS.fullmatch(value):
        raise ValueError("expected a plain e-mail address such as noreply@example.com (no display name or spaces)")
    return value


Hostname = Annotated[str, AfterValidator(hostname)]
EmailAddress = Annotated[str, AfterValidator(email_address)]


class WorkloadSettings(Model):
    """Overrides for one container group (a service or a piece of infrastructure)."""

    limits: ResourcesSettings | None = None
    reservations: ResourcesSettings | None = None
    publish: PublishSettings | None = None


class InfrastructureSettings(WorkloadSettings):
    """Overrides for a piece of infrastructure (its image is `images.<name>`, beside every other image)."""


class PostgresSettings(InfrastructureSettings):
    max_connections: Annotated[int, Field(ge=20, le=10000)] | None = None
    shared_buffers: ByteSize | None = None
    effective_cache_size: ByteSize | None = None
    work_mem: ByteSize | None = None
    maintenance_work_mem: ByteSize | None = None


MaxmemoryPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "volatile-lru",
    "volatile-lfu",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
]


class RedisSettings(InfrastructureSettings):
    maxmemory: ByteSize | None = None
    maxmemory_policy: MaxmemoryPolicy | None = None


class TopicSettings(Model):
    partitions: Annotated[int, Field(ge=1, le=1000)] | None = None
    retention_hours: Annotated[int, Field(ge=1, le=87600)] | None = None


class KafkaSettings(InfrastructureSettings):
    topics: dict[str, TopicSettings] = Field(default_factory=dict)
    """Per-topic overrides; a name outside the catalog declares an extra topic."""


class ServiceSettings(WorkloadSettings):
    """`services.<name>`: overrides for a catalog service, or the declaration of a new one."""

    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """New services only: listening port (also the published port)."""
    database: str | None = None
    """New services only: its PostgreSQL database."""
    tier: Tier | None = None
    """New services only: `core` (default) or `bff`."""
    title: Annotated[Printable, Field(min_length=1, max_length=80)] | None = None
    """New services only: human name (defaults to the service name)."""
    calls: list[str] | None = None
    """New services only: upstream services it calls."""
    image: PinnedImage | None = None
    """Image of this service, overriding `serviceImages` and `demo`."""
    healthcheck: list[Printable] | None = None
    """Docker healthcheck test replacing the default mTLS GET /health (e.g. ["CMD", "/app/healthcheck"])."""


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError("expected a two-letter ISO 3166 country code in capitals, such as CN")
    return value


class PkiSettings(Model):
    """`pki.*`: the private CA and the certificates it issues."""

    # X.509's upper bound for both (RFC 5280 ub-organization-name, ub-organizational-unit-name).
    organization: Annotated[Printable, Field(min_length=1, max_length=64)] | None = None
    organizational_unit: Annotated[Printable, Field(min_length=1, max_length=64)] | None = None
    country: Annotated[str, AfterValidator(_country)] | None = None
    ca_validity_hours: Hours | None = None
    leaf_validity_hours: Hours | None = None
    early_renewal_hours: Annotated[int, Field(ge=0, le=20 * 8760)] | None = None
    ca_overlap: CaOverlap | None = None
    """Trust a second CA generation beside the signing one during a CA rotation."""


class StripeSettings(Model):
    enabled: bool | None = None
    """Inject Stripe credentials into channel-adapter (default: on when a Stripe secret is set)."""


class SmtpSettings(Model):
    enabled: bool | None = None
    """Inject SMTP settings into notification-service (default: on when smtp-password is set)."""
    host: Hostname | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: Annotated[Printable, Field(min_length=1, max_length=256)] | None = None
    sender: EmailAddress | None = Field(default=None, alias="from")


class ServiceImagesSettings(Model):
    """`serviceImages.*`: where service images come from when `demo` is off."""

    registry: str | None = None
    """Repository prefix: the image of `order-service` is `<registry>/order-service:<tag>`."""
    tag: str | None = None
    build_context: Annotated[Printable, Field(min_length=1)] | None = None
    """Folder holding `<service>/Dockerfile` (the seed's backend/services); images are built from it."""


class ObservabilitySettings(Model):
    scrape_interval_seconds: Annotated[int, Field(ge=5, le=300)] | None = None
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    latency_p95_seconds: Annotated[float, Field(gt=0, le=60)] | None = None
    error_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    payment_success_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None
    memory_ratio: Annotated[float, Field(gt=0, le=1)] | None = None


RateLimit = Annotated[int, Field(ge=1, le=1_000_000)]


class GatewayRouteSettings(Model):
    """`gateway.routes.<name>`: one public route (the catalog's `CatalogRoute.name`, e.g. `api-v1-payments`)."""

    rate_limit_per_minute: RateLimit | None = None


class GatewayTlsSettings(Model):
    """`gateway.tls.*`: the public certificate Kong serves; set both with `pulumi config set --secret --path`."""

    certificate: str | None = None
    """PEM: the server certificate first, then its intermediates."""
    key: SecretStr | None = None
    """PEM private key of the certificate."""


class GatewaySettings(Model):
    rate_limit_per_minute: RateLimit | None = None
    """The default limit of every route (and of Kong's own /health), per client address."""
    max_request_megabytes: Annotated[int, Field(ge=1, le=100)] | None = None
    routes: dict[str, GatewayRouteSettings] = Field(default_factory=dict)
    trusted_proxies: list[IPv4Network] | None = None
    """Load balancers in front of Kong: from these peers alone Kong takes the client address from X-Forwarded-For."""
    admin_allow: list[IPv4Network] | None = None
    """Source networks that may reach operator-only routes (with the operator key on top)."""
    tls: GatewayTlsSettings | None = None


JwtAlgorithm = Literal["HS256", "ES256"]
KeyOverlap = CaOverlap
"""A rotation's overlap: the same three steps for the CA and the JWT keys (`overlapping`)."""


class JwtSettings(Model):
    """`jwt.*`: how services sign and verify tokens."""

    algorithm: JwtAlgorithm | None = None
    """`HS256` (default, the seed's shared `jwt-secret`) or `ES256` (issuers sign, everyone else verifies)."""
    overlap: KeyOverlap | None = None
    """Accept a second key generation beside the signing one during a rotation, like `pki.caOverlap`."""


class StackSettings(Model):
    """Everything under the `payment-platform:` config namespace."""

    profile: ProfileName | None = None
    environment: EnvironmentName | None = None
    network_subnet: IPv4Network | None = None
    log_max_size: ByteSize | None = None
    log_max_files: Annotated[int, Field(ge=1, le=20)] | None = None
    restart_policy: RestartPolicyName | None = None
    restart_max_retries: Annotated[int, Field(ge=1, le=MAX_RESTART_RETRIES)] | None = None
    services: dict[str, ServiceSettings] = Field(default_factory=dict)
    postgres: PostgresSettings | None = None
    redis: RedisSettings | None = None
    kafka: KafkaSettings | None = None
    prometheus: InfrastructureSettings | None = None
    grafana: InfrastructureSettings | None = None
    jaeger: InfrastructureSettings | None = None
    kong: InfrastructureSettings | None = None
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    rotation: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    pki: PkiSettings | None = None
    secret_delivery: SecretDelivery | None = None
    stripe: StripeSettings | None = None
    smtp: SmtpSettings | None = None
    demo: bool | None = None
    service_images: ServiceImagesSettings | None = None
    images: dict[str, PinnedImage] = Field(default_factory=dict)
    """`images.<role>`: replaces the catalog's pinned image of an infrastructure piece, exporter, loader or demo."""
    docker_data_root: AbsolutePath | None = None
    docker_socket_group: Annotated[int, Field(ge=0)] | None = None
    """`dockerSocketGroup`: gid owning the engine's socket; cAdvisor's Docker API proxy runs in it."""
    gateway: GatewaySettings | None = None
    observability: ObservabilitySettings | None = None
    jwt: JwtSettings | None = None


# --- profiles and the resolved configuration ----------------------------------------------------


class Resources(Model):
    cpus: Cpus
    memory: ByteSize


class Publish(Model):
    enabled: bool
    address: IPv4Address

    def url(self, template: str, port: int) -> str | None:
        """The one way to write where the Docker host reaches a published port: `template` (`{host}`, `{port}`)
        filled in, `0.0.0.0` (every address) read as 127.0.0.1; None when the port is not published."""
        if not self.enabled:
            return None
        host = "127.0.0.1" if self.address.is_unspecified else str(self.address)
        return template.format(host=host, port=port)


class Workload(Model):
    """Resolved sizing and exposure of one container group."""

    limits: Resources
    reservations: Resources
    """Soft guarantees: memory becomes Docker's memory reservation, CPUs its relative CPU shares."""
    publish: Publish


class LogRotation(Model):
    driver: Literal["json-file"] = "json-file"
    max_size: ByteSize
    max_files: int

    def docker_options(self) -> dict[str, str]:
        return {"max-size": self.max_size.docker(), "max-file": str(self.max_files)}


class RestartPolicy(Model):
    policy: RestartPolicyName
    max_retries: int = 0
    """Only for `on-failure`; 0 otherwise."""


class PostgresTuning(Model):
    max_connections: int
    shared_buffers: ByteSize
    effective_cache_size: ByteSize
    work_mem: ByteSize
    maintenance_work_mem: ByteSize


class RedisTuning(Model):
    maxmemory: ByteSize
    """Below the container's memory limit: Redis needs headroom for buffers and the AOF rewrite."""
    maxmemory_policy: MaxmemoryPolicy


class TopicDefaults(Model):
    partitions: int
    retention_hours: int


class HealthTiming(Model):
    """How Docker checks a container and how long `pulumi up` waits for it to become healthy."""

    interval_seconds: int
    timeout_seconds: int
    retries: int
    start_period_seconds: int
    wait_timeout_seconds: int
    """`pulumi up` fails if a container that others depend on is not healthy by then."""


class ObservabilityDefaults(Model):
    """Prometheus, alerting thresholds and the exporters' size: what differs between environments."""

    scrape_interval_seconds: int
    retention_days: int
    latency_p95_seconds: float
    """`HighLatencyP95` fires above this request latency (95th percentile, per service)."""
    error_ratio: float
    """`HighErrorRate` fires when more than this share of a service's responses are 5xx."""
    payment_success_ratio: float
    """`PaymentSuccessRateLow` fires below this share of successful payments (the seed's query)."""
    memory_ratio: float
    """`ContainerMemoryNearLimit` fires above this share of a container's memory limit."""
    exporter: Workload
    """Sizing of each exporter container (never published)."""


class GatewayDefaults(Model):
    rate_limit_per_minute: int
    """Requests per minute per client address, enforced by Kong."""
    max_request_megabytes: int
    admin_allow: tuple[IPv4Network, ...] = ()
    """Source networks allowed on operator-only routes unless `gateway.adminAllow` says otherwise."""


class GatewayTls(Model):
    """A public certificate from stack config, checked: PEM, key matching, valid now."""

    certificate: str
    """The chain (public), server certificate first."""
    key: SecretStr


class Gateway(Model):
    """The public edge, resolved: limits, per-route limits, who reaches operator routes, trusted proxies, TLS."""

    rate_limit_per_minute: int
    """The default per-client limit (Kong's own /health and any route without one of its own)."""
    max_request_megabytes: int
    route_limits: Mapping[str, int]
    """Catalog route name -> requests per minute per client address on it."""
    admin_allow: tuple[IPv4Network, ...]
    trusted_proxies: tuple[IPv4Network, ...]
    tls: GatewayTls | None
    """None: Kong serves the certificate the platform CA issued to `kong` (dev); prod should set a public one."""


class PkiDefaults(Model):
    ca_validity_hours: int
    leaf_validity_hours: int
    early_renewal_hours: int
    """Hours before expiry when `pulumi up --refresh` re-issues a certificate."""


class Profile(Model):
    """Defaults that differ per environment. `stacks/profiles.py` holds the two instances."""

    name: ProfileName
    service: Workload
    """Sizing and exposure of every application service unless overridden."""
    replicas: Mapping[str, int] = Field(default_factory=dict)
    """Replica counts that differ from 1, by service name."""
    infrastructure: Mapping[str, Workload]
    logging: LogRotation
    restart: RestartPolicy
    public_infrastructure: frozenset[str] | None = None
    """Infrastructure allowed to publish on a non-loopback address; None allows anything (dev)."""
    pki: PkiDefaults
    postgres: PostgresTuning
    redis: RedisTuning
    topics: TopicDefaults
    health: HealthTiming
    protect_data: bool
    """Mark data volumes `protect`ed: `pulumi destroy` refuses until they are unprotected by hand."""
    gateway: GatewayDefaults
    observability: ObservabilityDefaults
    secret_delivery: SecretDelivery
    """How secrets reach containers: files (never visible in `docker inspect`) or environment variables."""
    internal_networks: bool
    """The tier networks are `internal` (no route off the host), and whatever is published or needs egress gets an
    edge network of its own (`stacks.resolve.networks`)."""


class Network(Model):
    name: str
    """Docker network name; also the DNS domain services use (`<name>.payment-network`)."""
    subnet: IPv4Network
    gateway: IPv4Address


class Segment(Model):
    """One Docker network of the stack and the containers (by DNS name) that join it."""

    name: str
    title: str
    internal: bool
    """No route off the host."""
    members: tuple[str, ...]
    """DNS names (`Service.name`, `Infrastructure.name`, exporter names) of the containers on it, sorted."""
    subnet: IPv4Network | None = None
    """Fixed subnet (the seed's network); None: the engine's address pools choose."""
    gateway: IPv4Address | None = None


ImageSource = Literal["demo", "registry", "build", "override"]


class ServiceImage(Model):
    source: ImageSource
    reference: str
    """Image name with tag (the tag a build is given, for `build`)."""
    build_context: str | None = None
    """For `build`: the folder with the service's Dockerfile."""


class Service(Model):
    """One application service, resolved: catalog identity plus its deployment settings."""

    name: str
    port: int
    database: str
    tier: Tier
    title: str
    builtin: bool
    """True for the seed's 19 services, false for services a stack adds through config."""
    integrations: frozenset[Integration] = frozenset()
    calls: tuple[str, ...] = ()
    callers: tuple[str, ...] = ()
    """The services whose `calls` name this one (`stacks.catalog.callers_of` over every service of the stack): the
    certificate subjects it accepts as callers of its API."""
    replicas: int
    workload: Workload
    image: ServiceImage
    healthcheck: tuple[str, ...] | None = None
    """Custom Docker healthcheck test; None means the default mTLS GET /health."""
    domain: str
    """The platform network's name: its DNS domain."""

    @property
    def dns_name(self) -> str:
        """`order-service.payment-network`: the name in its certificate, and what callers address."""
        return dns_name(self.name, self.domain)

    @property
    def url(self) -> str:
        """How services and Kong call it: HTTPS with mutual TLS on its port."""
        return f"https://{self.dns_name}:{self.port}"

    @property
    def published_url(self) -> str | None:
        """Where the Docker host reaches it; None when unpublished or replicated (replicas share no host port)."""
        return self.workload.publish.url(SERVICE_URL, self.port) if self.replicas == 1 else None

    @property
    def targets(self) -> tuple[str, ...]:
        """`<container>:<port>` of each replica: what Kong balances over and Prometheus scrapes."""
        return tuple(f"{name}:{self.port}" for name in self.container_names)

    @property
    def url_variable(self) -> str:
        """`ORDER_SERVICE_URL` for order-service, `PAYMENT_GATEWAY_SERVICE_URL` for payment-gateway."""
        return self.name.removesuffix("-service").upper().replace("-", "_") + "_SERVICE_URL"

    @property
    def container_names(self) -> tuple[str, ...]:
        """`payment-<name>` as in the seed, or `payment-<name>-<n>` for each of several replicas."""
        if self.replicas == 1:
            return (container_name(self.name),)
        return tuple(f"{container_name(self.name)}-{n}" for n in range(1, self.replicas + 1))


class Infrastructure(Model):
    """A piece of shared infrastructure, resolved: the catalog entry (`stacks.catalog.CatalogInfrastructure`) with
    the stack's image, sizing and exposure."""

    name: str
    """Its network alias, config key and certificate subject."""
    port: int
    """What clients on the platform network connect to."""
    ports: Mapping[str, int] = Field(default_factory=dict)
    """Its other listeners inside the container, by role."""
    published_port: int
    published_from: str | None = None
    """The role in `ports` behind the published port; None: `port`."""
    url: str
    """Template (`{host}`, `{port}`) of how the Docker host addresses the published port."""
    title: str
    tls: bool
    """It holds a certificate of the platform CA."""
    image: str | None
    workload: Workload
    domain: str
    """The platform network's name: its DNS domain."""

    @property
    def container_name(self) -> str:
        return container_name(self.name)

    @property
    def dns_name(self) -> str:
        """`kafka.payment-network`: what peers address, and the name in its certificate."""
        return dns_name(self.name, self.domain)

    def target(self, role: str | None = None) -> str:
        """`<alias>:<port>` of its main listener, or of the listener `role`: a scrape target."""
        return f"{self.name}:{self.port if role is None else self.ports[role]}"

    def address(self, role: str | None = None) -> str:
        """`<dns name>:<port>` of its main listener, or of the listener `role`."""
        return f"{self.dns_name}:{self.port if role is None else self.ports[role]}"

    @property
    def published_target(self) -> int:
        """The container port the published host port maps to."""
        return self.port if self.published_from is None else self.ports[self.published_from]

    @property
    def published_url(self) -> str | None:
        """Where the Docker host reaches it (`http://127.0.0.1:40090`); None when unpublished."""
        return self.workload.publish.url(self.url, self.published_port)


class Topic(Model):
    name: str
    partitions: int
    retention_hours: int
    producers: tuple[str, ...] = ()
    """The catalog's producers (`CatalogTopic.producers`); a topic declared only in stack config has none."""
    consumers: tuple[str, ...] = ()
    """The catalog's consumers (`CatalogTopic.consumers`)."""


class DataTier(Model):
    postgres: PostgresTuning
    redis: RedisTuning
    topics: tuple[Topic, ...]
    health: HealthTiming
    protect_data: bool


def overlapping(generation: int, overlap: CaOverlap) -> tuple[int, ...]:
    """The generations in use during a rotation's overlap: the signing `generation` first, then the one `overlap`
    keeps beside it (`next`: announced before it signs; `previous`: still accepted after it stopped signing)."""
    extra = {"none": (), "next": (generation + 1,), "previous": (generation - 1,)}
    return (generation, *extra[overlap])


class Certificate(Model):
    """A leaf certificate the private CA issues to one service or piece of infrastructure."""

    subject: str
    """Service or infrastructure name: the certificate's common name and first DNS name."""
    rotation: int
    """`rotation.tls-<subject>`: bumping it replaces the key and re-issues the certificate."""
    container_names: tuple[str, ...] = ()
    """Docker names of the subject's containers: also valid names, for peers that address one replica."""

    @property
    def name(self) -> str:
        return f"tls-{self.subject}"


class Pki(Model):
    organization: str
    organizational_unit: str
    country: str | None
    ca_generation: int
    """`rotation.ca`: the CA generation that signs every leaf."""
    ca_overlap: CaOverlap
    ca_validity_hours: int
    leaf_validity_hours: int
    early_renewal_hours: int
    certificates: tuple[Certificate, ...]

    @property
    def trusted_generations(self) -> tuple[int, ...]:
        """CA generations in the trust bundle, the signing one first."""
        return overlapping(self.ca_generation, self.ca_overlap)

    def certificate(self, subject: str) -> Certificate:
        for certificate in self.certificates:
            if certificate.subject == subject:
                return certificate
        raise KeyError(subject)


class Secret(Model):
    name: str
    kind: SecretKind
    length: int
    value: SecretStr | None
    """Set in config (`secrets.<name>`); generated secrets without one are created by pulumi-random."""
    rotation: int
    """`rotation.<name>` (generated secrets only); `rotation_all` is added on top."""
    variable: str | None = None
    """The variable a service reads it from (`stacks.catalog.CatalogSecret.variable`)."""


class Smtp(Model):
    host: str
    port: int
    username: str
    sender: str


class Secrets(Model):
    items: tuple[Secret, ...]
    rotation_all: int
    """`rotation.all`: bumping it regenerates every generated secret."""
    delivery: SecretDelivery
    integrations: frozenset[Integration]
    """External integrations switched on (their secrets are then present)."""
    smtp: Smtp | None


class Jwt(Model):
    """Token signing keys, resolved: the algorithm, the signing generation and the one accepted beside it."""

    algorithm: JwtAlgorithm
    generation: int
    """The generation that signs: `rotation.jwt-secret` plus `rotation.all` (0 for a secret set in config)."""
    overlap: KeyOverlap
    issuers: tuple[str, ...]
    """Services that sign (`stacks.catalog.JWT_ISSUERS`): under ES256 only they hold the private key."""
    value: SecretStr | None
    """`secrets.jwt-secret` when set in config (HS256 only); otherwise each generation is generated."""
    length: int
    """Length of a generated HS256 secret."""

    @property
    def generations(self) -> tuple[int, ...]:
        """Generations services accept, the signing one first (the CA's `trusted_generations`, for tokens)."""
        return overlapping(self.generation, self.overlap)

    def kid(self, generation: int) -> str:
        """The key id tokens of `generation` carry (`es256-3`): deterministic, so renders and previews agree."""
        return f"{self.algorithm.lower()}-{generation}"


class PlatformConfig(Model):
    """The whole platform for one stack; the only thing components are given."""

    project: str
    stack: str
    profile: ProfileName
    network: Network
    segments: tuple[Segment, ...]
    """Every network of the stack, `network` first (`stacks.resolve.networks`)."""
    services: tuple[Service, ...]
    infrastructure: tuple[Infrastructure, ...]
    logging: LogRotation
    restart: RestartPolicy
    pki: Pki
    secrets: Secrets
    data: DataTier
    gateway: Gateway
    observability: ObservabilityDefaults
    demo: bool
    """Every service runs the demo stand-in (`images["demo"]`) unless it names an image of its own."""
    images: dict[str, str]
    """Every image by role (`stacks.catalog.PINNED_IMAGES` with the stack's `images.*` applied)."""
    docker_data_root: str
    """The Docker engine's data root on the host (`docker info`'s DockerRootDir), which cAdvisor reads."""
    docker_socket_group: int
    """The gid owning the engine's socket (`stat -c %g /var/run/docker.sock`): the Docker API proxy's group."""
    jwt: Jwt
    """How services sign and verify tokens (`jwt.*`, `rotation.jwt-secret`)."""

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def networks_of(self, member: str) -> tuple[str, ...]:
        """The networks the container named `member` joins, in the stack's network order (the first is where it
        starts)."""
        return tuple(segment.name for segment in self.segments if member in segment.members)

    def placements(self) -> dict[str, tuple[str, ...]]:
        """Every container's networks by its DNS name (`networks_of`); the catalog's `NETWORKLESS` on none."""
        members = {member for segment in self.segments for member in segment.members}
        return {member: self.networks_of(member) for member in sorted(members)} | {name: () for name in NETWORKLESS}

    def infra(self, name: str) -> Infrastructure:
        for item in self.infrastructure:
            if item.name == name:
                return item
        raise KeyError(name)
