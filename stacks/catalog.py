"""The service catalog: the one list of what the platform runs.

Every per-service resource (database, role, certificate, container, scrape job, dashboard row, gateway
route) is generated from these entries, so adding a service is one entry here or one `services.<name>`
block in stack config. Names, ports and databases are exactly the seed deployment guide's port table
(architecture section); a test compares them line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Integration(StrEnum):
    """External systems reached with credentials the platform holds."""

    STRIPE = "stripe"
    SMTP = "smtp"


class Tier(StrEnum):
    """Where a service sits in the seed's layer diagram."""

    BFF = "bff"
    """Backend-for-frontend: aggregates core services for the admin and merchant portals."""
    CORE = "core"
    """Core business service."""


@dataclass(frozen=True)
class CatalogService:
    """An application service as the seed defines it."""

    name: str
    """Service name; also its DNS name on the network and the suffix of its container name."""
    port: int
    """Port the service listens on inside its container (mTLS), and its published port."""
    database: str
    """Its own PostgreSQL database."""
    tier: Tier
    title: str
    """Human name for dashboards and the render table."""
    integrations: frozenset[Integration] = frozenset()
    """External systems the service talks to; their credentials are injected into it alone."""
    calls: tuple[str, ...] = ()
    """Upstream services it calls over mTLS; each becomes a `<DEP>_SERVICE_URL` variable."""


@dataclass(frozen=True)
class CatalogInfrastructure:
    """A piece of shared infrastructure and the host port the seed publishes it on."""

    name: str
    """Short name: its network alias (`<name>` and `<name>.<network>`), the key of its stack config block, the
    suffix of its container name and the subject of its certificate."""
    port: int
    """The port clients on the platform network use, inside the container."""
    published_port: int
    """Host port from the seed's infrastructure table."""
    title: str
    url: str
    """How a client on the Docker host addresses the published port: a template of `{host}` and `{port}`."""
    tls: bool = False
    """Terminates or originates TLS, so it gets a CA-signed certificate of its own."""
    image: str | None = None
    """Pinned default image; `images.<name>` in stack config overrides it. Set when the piece is deployed."""
    ports: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Its other listeners inside the container, by role (Kong's status API, Jaeger's OTLP receivers, ...)."""
    published_from: str | None = None
    """The role in `ports` the published host port maps to; None: `port`."""

    @property
    def published_target(self) -> int:
        """The container port behind the published host port."""
        return self.port if self.published_from is None else self.ports[self.published_from]


_SEED_TABLE: tuple[CatalogService, ...] = (
    CatalogService("admin-bff-service", 40001, "payment_admin", Tier.BFF, "Admin BFF"),
    CatalogService("merchant-bff-service", 40023, "payment_merchant", Tier.BFF, "Merchant BFF"),
    CatalogService("payment-gateway", 40003, "payment_gateway", Tier.CORE, "Payment Gateway"),
    CatalogService("order-service", 40004, "payment_order", Tier.CORE, "Order"),
    CatalogService(
        "channel-adapter", 40005, "payment_channel", Tier.CORE, "Channel Adapter", frozenset({Integration.STRIPE})
    ),
    CatalogService("risk-service", 40006, "payment_risk", Tier.CORE, "Risk"),
    CatalogService("accounting-service", 40007, "payment_accounting", Tier.CORE, "Accounting"),
    CatalogService(
        "notification-service", 40008, "payment_notification", Tier.CORE, "Notification", frozenset({Integration.SMTP})
    ),
    CatalogService("analytics-service", 40009, "payment_analytics", Tier.CORE, "Analytics"),
    CatalogService("config-service", 40010, "payment_config", Tier.CORE, "Config"),
    CatalogService("merchant-auth-service", 40011, "payment_merchant_auth", Tier.CORE, "Merchant Auth"),
    CatalogService("settlement-service", 40013, "payment_settlement", Tier.CORE, "Settlement"),
    CatalogService("withdrawal-service", 40014, "payment_withdrawal", Tier.CORE, "Withdrawal"),
    CatalogService("kyc-service", 40015, "payment_kyc", Tier.CORE, "KYC"),
    CatalogService("cashier-service", 40016, "payment_cashier", Tier.CORE, "Cashier"),
    CatalogService("reconciliation-service", 40020, "payment_reconciliation", Tier.CORE, "Reconciliation"),
    CatalogService("dispute-service", 40021, "payment_dispute", Tier.CORE, "Dispute"),
    CatalogService("merchant-policy-service", 40022, "payment_merchant_policy", Tier.CORE, "Merchant Policy"),
    CatalogService("merchant-quota-service", 40024, "payment_merchant_quota", Tier.CORE, "Merchant Quota"),
)

# Who calls whom (the seed's trace: Gateway -> Order -> Channel -> Risk -> Accounting). Only these edges
# get a URL variable; everything else flows through Kafka events.
CALLS: dict[str, tuple[str, ...]] = {
    "admin-bff-service": (
        "merchant-auth-service",
        "config-service",
        "analytics-service",
        "accounting-service",
        "settlement-service",
        "withdrawal-service",
        "kyc-service",
        "dispute-service",
        "reconciliation-service",
        "merchant-policy-service",
        "merchant-quota-service",
    ),
    "merchant-bff-service": (
        "payment-gateway",
        "order-service",
        "settlement-service",
        "withdrawal-service",
        "dispute-service",
        "kyc-service",
        "merchant-auth-service",
        "merchant-quota-service",
        "analytics-service",
        "cashier-service",
    ),
    "payment-gateway": (
        "order-service",
        "risk-service",
        "merchant-auth-service",
        "merchant-quota-service",
        "config-service",
    ),
    "order-service": ("channel-adapter", "accounting-service"),
    "channel-adapter": ("risk-service", "config-service"),
    "risk-service": ("accounting-service", "merchant-policy-service"),
    "settlement-service": ("accounting-service", "notification-service"),
    "withdrawal-service": ("accounting-service", "risk-service", "channel-adapter", "notification-service"),
    "reconciliation-service": ("accounting-service", "channel-adapter", "settlement-service"),
    "dispute-service": ("order-service", "accounting-service", "notification-service"),
    "cashier-service": ("payment-gateway", "order-service", "config-service"),
    "kyc-service": ("notification-service",),
    "merchant-auth-service": ("config-service",),
    "merchant-quota-service": ("merchant-policy-service",),
    "merchant-policy-service": ("config-service",),
}

SERVICES: tuple[CatalogService, ...] = tuple(
    CatalogService(s.name, s.port, s.database, s.tier, s.title, s.integrations, CALLS.get(s.name, ()))
    for s in _SEED_TABLE
)

POSTGRES = CatalogInfrastructure(
    "postgres",
    5432,
    40432,
    "PostgreSQL",
    "postgresql://{host}:{port}/?sslmode=verify-full",
    tls=True,
    image="postgres:18.6-trixie",
)
REDIS = CatalogInfrastructure(
    "redis", 6379, 40379, "Redis", "rediss://{host}:{port}", tls=True, image="redis:8.10.2-alpine"
)
KAFKA = CatalogInfrastructure(
    "kafka",
    9092,
    40092,
    "Kafka",
    # A bootstrap server, not a URL. The host listener (advertised as localhost:40092) is what it maps to:
    # the internal listener advertises the network name, which the host cannot resolve.
    "{host}:{port}",
    # TLS with required client certificates on every listener; the certificate's subject is the principal.
    tls=True,
    image="apache/kafka:4.3.1",
    ports=MappingProxyType({"host": 29092, "controller": 9093}),
    published_from="host",
)
PROMETHEUS = CatalogInfrastructure(
    "prometheus", 9090, 40090, "Prometheus", "http://{host}:{port}", tls=True, image="prom/prometheus:v3.15.0"
)
GRAFANA = CatalogInfrastructure(
    "grafana", 3000, 40300, "Grafana", "http://{host}:{port}", image="grafana/grafana:12.4.12"
)
JAEGER = CatalogInfrastructure(
    "jaeger",
    16686,
    50686,
    "Jaeger UI",
    "http://{host}:{port}",
    image="jaegertracing/jaeger:2.22.0",
    # `port` is the UI and query API (Grafana's datasource); services export traces to OTLP gRPC.
    ports=MappingProxyType(
        {"otlp-grpc": 4317, "otlp-http": 4318, "query-grpc": 16685, "health": 13133, "metrics": 8888}
    ),
)
KONG = CatalogInfrastructure(
    "kong",
    8000,
    40080,
    "Kong Gateway",
    "http://{host}:{port}",
    tls=True,
    image="kong:3.9.1",
    # The read-only status API (/status, /metrics) Prometheus scrapes; the Admin API stays on loopback.
    ports=MappingProxyType({"status": 8100, "admin": 8001}),
)

INFRASTRUCTURE: tuple[CatalogInfrastructure, ...] = (POSTGRES, REDIS, KAFKA, PROMETHEUS, GRAFANA, JAEGER, KONG)


def integration_owner(integration: Integration) -> str:
    """The one catalog service that talks to `integration`: its credentials, settings and webhooks go to it alone."""
    (owner,) = (s.name for s in SERVICES if integration in s.integrations)
    return owner


@dataclass(frozen=True)
class CatalogRoute:
    """A public path prefix on the gateway and the service behind it."""

    path: str
    service: str
    integration: Integration | None = None
    """Routed only while this integration is switched on."""


# Everything the public can reach. Adding a route is one line; its service then gets a Kong service and an
# upstream of its own. Paths are prefixes and are passed on unchanged, so a service sees the client's path.
ROUTES: tuple[CatalogRoute, ...] = (
    # Backend-for-frontends of the two portals.
    CatalogRoute("/admin", "admin-bff-service"),
    CatalogRoute("/merchant", "merchant-bff-service"),
    # The merchant payment API, served directly by the gateway service (prod: three replicas).
    CatalogRoute("/api/v1/payments", "payment-gateway"),
    # Stripe's event callbacks. Closed unless Stripe is configured: nothing could verify their signature.
    CatalogRoute("/webhooks/stripe", integration_owner(Integration.STRIPE), Integration.STRIPE),
)


@dataclass(frozen=True)
class CatalogExporter:
    """A metrics exporter for a piece of infrastructure; Prometheus scrapes it, nothing else reaches it."""

    name: str
    """Container `payment-<name>`, DNS name `<name>`, scrape job `<name>`."""
    port: int
    image: str
    target: str
    """What it exports: an infrastructure name, or `containers` (cAdvisor)."""
    title: str

    @property
    def address(self) -> str:
        """`<name>:<port>`: where Prometheus scrapes it on the platform network."""
        return f"{self.name}:{self.port}"


POSTGRES_EXPORTER = CatalogExporter(
    "postgres-exporter",
    9187,
    "quay.io/prometheuscommunity/postgres-exporter:v0.20.1",
    POSTGRES.name,
    "PostgreSQL exporter",
)
REDIS_EXPORTER = CatalogExporter(
    "redis-exporter", 9121, "oliver006/redis_exporter:v1.91.1-alpine", REDIS.name, "Redis exporter"
)
KAFKA_EXPORTER = CatalogExporter(
    "kafka-exporter", 9308, "danielqsj/kafka-exporter:v1.9.0", KAFKA.name, "Kafka exporter"
)
CADVISOR = CatalogExporter("cadvisor", 8080, "ghcr.io/google/cadvisor:v0.60.6", "containers", "cAdvisor")
EXPORTERS: tuple[CatalogExporter, ...] = (POSTGRES_EXPORTER, REDIS_EXPORTER, KAFKA_EXPORTER, CADVISOR)


class SecretKind(StrEnum):
    GENERATED = "generated"
    """Generated with pulumi-random unless set in config; rotates with `rotation.<name>`."""
    EXTERNAL = "external"
    """Issued by a third party (Stripe, the mail provider); optional, set in config only."""


SERVICES_CONSUMER = "services"
"""In `CatalogSecret.consumers`: every application service."""


@dataclass(frozen=True)
class CatalogSecret:
    name: str
    """Name under `secrets.` and `rotation.` in stack config."""
    kind: SecretKind
    length: int = 0
    """Generated length. Letters and digits only, so the value is safe in URLs and DSNs unescaped."""
    integration: Integration | None = None
    variable: str | None = None
    """The variable a service container reads it from (`<variable>`, or `<variable>_FILE` naming its file); None
    for secrets only infrastructure reads, always as files."""
    consumers: tuple[str, ...] = ()
    """The containers given it: infrastructure and exporter names, a service name, or `services` (every one)."""


GENERATED_LENGTH = 40  # 62 symbols, about 238 bits
JWT_LENGTH = 64  # HMAC-SHA256 keys should be at least 256 bits; 64 symbols give about 381

POSTGRES_SUPERUSER_PASSWORD = CatalogSecret(
    "postgres-superuser-password", SecretKind.GENERATED, GENERATED_LENGTH, consumers=(POSTGRES.name,)
)
REDIS_PASSWORD = CatalogSecret(
    "redis-password",
    SecretKind.GENERATED,
    GENERATED_LENGTH,
    variable="REDIS_PASSWORD",
    consumers=(REDIS.name, REDIS_EXPORTER.name, SERVICES_CONSUMER),
)
JWT_SECRET = CatalogSecret(
    "jwt-secret", SecretKind.GENERATED, JWT_LENGTH, variable="JWT_SECRET", consumers=(SERVICES_CONSUMER,)
)
GRAFANA_ADMIN_PASSWORD = CatalogSecret(
    "grafana-admin-password", SecretKind.GENERATED, GENERATED_LENGTH, consumers=(GRAFANA.name,)
)
POSTGRES_EXPORTER_PASSWORD = CatalogSecret(
    "postgres-exporter-password",
    SecretKind.GENERATED,
    GENERATED_LENGTH,
    consumers=(POSTGRES.name, POSTGRES_EXPORTER.name),
)
STRIPE_API_KEY = CatalogSecret(
    "stripe-api-key",
    SecretKind.EXTERNAL,
    integration=Integration.STRIPE,
    variable="STRIPE_API_KEY",
    consumers=(integration_owner(Integration.STRIPE),),
)
STRIPE_WEBHOOK_SECRET = CatalogSecret(
    "stripe-webhook-secret",
    SecretKind.EXTERNAL,
    integration=Integration.STRIPE,
    variable="STRIPE_WEBHOOK_SECRET",
    consumers=(integration_owner(Integration.STRIPE),),
)
SMTP_PASSWORD = CatalogSecret(
    "smtp-password",
    SecretKind.EXTERNAL,
    integration=Integration.SMTP,
    variable="SMTP_PASSWORD",
    consumers=(integration_owner(Integration.SMTP),),
)
EXTERNAL_SECRETS: tuple[CatalogSecret, ...] = (STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET, SMTP_PASSWORD)
SECRETS_BY_INTEGRATION: Mapping[Integration, tuple[CatalogSecret, ...]] = MappingProxyType(
    {i: tuple(s for s in EXTERNAL_SECRETS if s.integration is i) for i in Integration}
)
"""The credentials of each integration, which its owner (`integration_owner`) alone is given."""

DB_PASSWORD_VARIABLE = "DB_PASSWORD"
"""Each service's own database password: `db-password-<service>`."""

SHARED_SECRETS: tuple[CatalogSecret, ...] = (
    REDIS_PASSWORD,
    JWT_SECRET,
    GRAFANA_ADMIN_PASSWORD,
    POSTGRES_EXPORTER_PASSWORD,
    *EXTERNAL_SECRETS,
)
"""The secrets there is one of, whatever the services (besides the PostgreSQL superuser's)."""


def db_password(service: str) -> CatalogSecret:
    """`db-password-<service>`: the service's own database role's password; PostgreSQL holds it too."""
    return CatalogSecret(
        db_password_secret(service),
        SecretKind.GENERATED,
        GENERATED_LENGTH,
        variable=DB_PASSWORD_VARIABLE,
        consumers=(POSTGRES.name, service),
    )


def platform_secrets(service_names: Iterable[str]) -> tuple[CatalogSecret, ...]:
    """Every named secret of a platform running `service_names`: one database password per service."""
    return (POSTGRES_SUPERUSER_PASSWORD, *(db_password(name) for name in service_names), *SHARED_SECRETS)


SECRET_VARIABLES: frozenset[str] = frozenset(
    {DB_PASSWORD_VARIABLE} | {s.variable for s in SHARED_SECRETS if s.variable is not None}
)
"""Every variable that carries a secret into a service container. The policy pack needs the names: under the
real CLI a stack policy sees secret values in the clear, unmarked, so only the name tells a secret variable."""


def db_password_secret(service: str) -> str:
    return f"db-password-{service}"


OPERATOR = "operator"
"""A client-only certificate for people and tools (`make health`) that call services over mTLS."""

DEMO_IMAGE = "nginxinc/nginx-unprivileged:1.29.5-alpine"
"""Stand-in for every service when `demo` is on: serves /health and /metrics over mTLS."""

LOADER_IMAGE = "busybox:1.37.0"
"""The one-shot container that copies a container's files into its files volume (`components.docker.containers`)."""

DEMO = "demo"
LOADER = "loader"

APP_UID = 10001
"""Numeric uid (and gid) service images run as; uploaded keys are owned by it, so no name lookup is needed."""


@dataclass(frozen=True)
class CatalogTopic:
    name: str
    description: str
    producers: tuple[str, ...] = ()
    """Services that write to it: their Kafka principal (`User:<service>`) gets WRITE and DESCRIBE on it."""
    consumers: tuple[str, ...] = ()
    """Services that read it: READ and DESCRIBE on it and on their own consumer group, named after the service."""


# Event streams between services. Created by the deployment (auto-create is off), so a typo in a
# producer fails loudly instead of silently creating a one-partition topic. Who produces and consumes each
# is the Kafka ACL list (components/data/kafka.py): a service may touch only the topics named here for it.
# The flow follows the seed's trace: the gateway and the channel adapter report payment state, order,
# risk, accounting and settlement publish their own lifecycle, and notification and analytics listen.
TOPICS: tuple[CatalogTopic, ...] = (
    CatalogTopic(
        "payment.events",
        "payment lifecycle: created, authorised, captured, failed, refunded",
        producers=("payment-gateway", "channel-adapter"),
        consumers=(
            "order-service",
            "accounting-service",
            "analytics-service",
            "notification-service",
            "reconciliation-service",
        ),
    ),
    CatalogTopic(
        "order.events",
        "order lifecycle",
        producers=("order-service",),
        consumers=("accounting-service", "analytics-service", "notification-service"),
    ),
    CatalogTopic(
        "risk.events",
        "risk decisions",
        producers=("risk-service",),
        consumers=("payment-gateway", "analytics-service", "dispute-service"),
    ),
    CatalogTopic(
        "accounting.events",
        "ledger postings",
        producers=("accounting-service",),
        consumers=("settlement-service", "reconciliation-service", "analytics-service"),
    ),
    CatalogTopic(
        "settlement.events",
        "settlement batches and payouts",
        producers=("settlement-service",),
        consumers=("withdrawal-service", "notification-service", "analytics-service"),
    ),
    CatalogTopic(
        "notification.events",
        "notifications to send to merchants and users",
        producers=("payment-gateway", "settlement-service", "withdrawal-service", "dispute-service", "kyc-service"),
        consumers=("notification-service",),
    ),
)


PINNED_IMAGES: Mapping[str, str] = MappingProxyType(
    {
        **{i.name: i.image for i in INFRASTRUCTURE if i.image is not None},
        **{e.name: e.image for e in EXPORTERS},
        LOADER: LOADER_IMAGE,
        DEMO: DEMO_IMAGE,
    }
)
"""Every image the platform runs, by role: the infrastructure and exporter names, `loader` and `demo`. Stack
config `images.<role>` replaces one (a mirror, or a local build on a machine without a registry)."""

RESERVED_NAMES: frozenset[str] = frozenset({i.name for i in INFRASTRUCTURE} | {e.name for e in EXPORTERS})
"""Names a service cannot take: they are infrastructure containers and scrape jobs already."""

MONITORING_ROLE = "payment_monitoring"
"""PostgreSQL role of the metrics exporter: pg_monitor (read-only statistics), nothing else."""
