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


def callers_of(service: str, calls: Mapping[str, Iterable[str]] = CALLS) -> tuple[str, ...]:
    """The services whose `calls` name `service`, in name order: the inverse of the call graph `calls` (the
    catalog's, or a stack's with its own services), i.e. whose certificates `service` accepts as callers."""
    return tuple(sorted(caller for caller, upstreams in calls.items() if service in upstreams))


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
    # The proxy speaks TLS only, on Kong's own default TLS proxy port; no plain-HTTP listener exists at all. The
    # published port stays the seed's 40080 (its port table, firewall rules and load balancers name it), now
    # serving https: a client still on http:// gets a clear 400 from the TLS listener, not a silent plain channel.
    8443,
    40080,
    "Kong Gateway",
    "https://{host}:{port}",
    tls=True,
    image="kong:3.9.1",
    # The read-only status API (/status, /metrics) Prometheus scrapes; the Admin API stays on loopback.
    ports=MappingProxyType({"status": 8100, "admin": 8001}),
)

INFRASTRUCTURE: tuple[CatalogInfrastructure, ...] = (POSTGRES, REDIS, KAFKA, PROMETHEUS, GRAFANA, JAEGER, KONG)
DATA_STORES: tuple[CatalogInfrastructure, ...] = (POSTGRES, REDIS, KAFKA)
"""Every service keeps state in each of them (its database, its Redis keys, its topics)."""


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
    rate_limit_per_minute: int | None = None
    """Requests per minute per client address on this route; None: the profile's `gateway.rateLimitPerMinute`.
    `gateway.routes.<name>.rateLimitPerMinute` overrides either."""
    operators_only: bool = False
    """Reachable only by an operator: a source address in `gateway.adminAllow` AND the operator's API key."""

    @property
    def name(self) -> str:
        """`api-v1-payments` for `/api/v1/payments`: the key under `gateway.routes.` and the Kong route's suffix."""
        return self.path.strip("/").replace("/", "-")


# Everything the public can reach. Adding a route is one line; its service then gets a Kong service and an
# upstream of its own. Paths are prefixes and are passed on unchanged, so a service sees the client's path.
ROUTES: tuple[CatalogRoute, ...] = (
    # Backend-for-frontends of the two portals.
    # The admin portal moves money by hand (refunds, payouts): operators only, and few requests per minute per
    # operator address. (Guessing the 40-character operator key is out of reach anyway; Kong authenticates before it
    # counts, so refused keys do not use up the limit.)
    CatalogRoute("/admin", "admin-bff-service", rate_limit_per_minute=120, operators_only=True),
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
REDIS_PASSWORD = CatalogSecret("redis-password", SecretKind.GENERATED, GENERATED_LENGTH, consumers=(REDIS.name,))
"""Redis's `default` user's: it may only PING, for the container's own healthcheck (components/data/redis.py).
Services and the exporter have users of their own (`redis_password`, `REDIS_EXPORTER_PASSWORD`)."""
REDIS_EXPORTER_PASSWORD = CatalogSecret(
    "redis-exporter-password", SecretKind.GENERATED, GENERATED_LENGTH, consumers=(REDIS.name, REDIS_EXPORTER.name)
)
"""The Redis monitoring user's (named after the exporter): server statistics, no key, no channel."""
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

# --- the public edge's operator credential (issue 14, edge) ---
GATEWAY_OPERATOR_KEY = CatalogSecret(
    "gateway-operator-key", SecretKind.GENERATED, GENERATED_LENGTH, consumers=(KONG.name,)
)
"""The `operator` consumer's key-auth key on Kong's operator-only routes; operators read it from the stack output
`operatorApiKey`. Kong OSS cannot reference it from a vault (key-auth's key is not referenceable), so it sits in
Kong's declarative file, which is therefore uploaded as a secret (0400)."""

SHARED_SECRETS: tuple[CatalogSecret, ...] = (
    REDIS_PASSWORD,
    REDIS_EXPORTER_PASSWORD,
    JWT_SECRET,
    GRAFANA_ADMIN_PASSWORD,
    POSTGRES_EXPORTER_PASSWORD,
    *EXTERNAL_SECRETS,
    GATEWAY_OPERATOR_KEY,
)
"""The secrets there is one of, whatever the services (besides the PostgreSQL superuser's)."""

# --- JWT signing keys (`jwt.*` in stack config) ---------------------------------------------------------------
# The seed's contract, and the default (`jwt.algorithm: HS256`), is `jwt-secret` above: one shared HMAC secret that
# every service both signs and verifies with. Under `ES256` only the issuers below hold a private key; every other
# service holds public keys only, so a compromised verifier cannot mint tokens.

JWT_ISSUERS: tuple[str, ...] = ("admin-bff-service", "merchant-auth-service")
"""The services that sign tokens: merchant-auth-service issues merchants' tokens (merchant login and API credentials),
admin-bff-service the admin portal's session tokens. Every service verifies."""


@dataclass(frozen=True)
class CatalogJwtKey:
    """Key material of `jwt.*` besides the seed's `jwt-secret`; never set in config, always generated."""

    name: str
    """File name (under /run/secrets for secret material)."""
    variable: str
    """The variable a service reads it from (`<variable>`, or `<variable>_FILE` naming its file)."""
    consumers: tuple[str, ...]
    """Service names, or `services` (every one)."""
    secret: bool = True
    kid_variable: str | None = None
    """HS256 overlap secrets: the variable holding the key id of tokens that secret signed."""


JWT_PREVIOUS_SECRET = CatalogJwtKey(
    "jwt-previous-secret", "JWT_PREVIOUS_SECRET", (SERVICES_CONSUMER,), kid_variable="JWT_PREVIOUS_KID"
)
"""HS256, `jwt.overlap: previous`: the generation before the signing one, still accepted."""
JWT_NEXT_SECRET = CatalogJwtKey("jwt-next-secret", "JWT_NEXT_SECRET", (SERVICES_CONSUMER,), kid_variable="JWT_NEXT_KID")
"""HS256, `jwt.overlap: next`: the generation after the signing one, already accepted."""
JWT_PRIVATE_KEY = CatalogJwtKey("jwt-private-key", "JWT_PRIVATE_KEY", JWT_ISSUERS)
"""ES256: the signing generation's private key (PKCS#8 PEM), always a file: issuers only."""
JWT_PUBLIC_KEYS = CatalogJwtKey("public-keys.pem", "JWT_PUBLIC_KEYS", (SERVICES_CONSUMER,), secret=False)
"""ES256: every accepted generation's public key, each PEM block preceded by a `kid: <kid>` line; always a file."""
JWT_ALGORITHM_VARIABLE = "JWT_ALGORITHM"
"""`HS256` or `ES256`: a verifier refuses a token whose header names another algorithm."""
JWT_KID_VARIABLE = "JWT_KID"
"""The key id a token signed now carries in its header (`kid`); HS256 adds `JWT_PREVIOUS_KID`/`JWT_NEXT_KID`."""
JWT_KEYS: tuple[CatalogJwtKey, ...] = (JWT_PREVIOUS_SECRET, JWT_NEXT_SECRET, JWT_PRIVATE_KEY, JWT_PUBLIC_KEYS)


def db_password(service: str) -> CatalogSecret:
    """`db-password-<service>`: the service's own database role's password; PostgreSQL holds it too."""
    return CatalogSecret(
        db_password_secret(service),
        SecretKind.GENERATED,
        GENERATED_LENGTH,
        variable=DB_PASSWORD_VARIABLE,
        consumers=(POSTGRES.name, service),
    )


# --- Redis: one ACL user per service -------------------------------------------------------------------
REDIS_PASSWORD_VARIABLE = "REDIS_PASSWORD"
"""Each service's own Redis user's password: `redis-password-<service>`."""


def redis_password_secret(service: str) -> str:
    return f"redis-password-{service}"


def redis_password(service: str) -> CatalogSecret:
    """`redis-password-<service>`: the password of the service's own Redis user (named after the service); Redis
    holds only its SHA-256 hash, in its ACL file."""
    return CatalogSecret(
        redis_password_secret(service),
        SecretKind.GENERATED,
        GENERATED_LENGTH,
        variable=REDIS_PASSWORD_VARIABLE,
        consumers=(REDIS.name, service),
    )


def redis_key_prefix(service: str) -> str:
    """The only keys and pub/sub channels the service's Redis user may touch start with this (`REDIS_KEY_PREFIX`)."""
    return f"{service}:"


# ---------------------------------------------------------------------------------------------------------


def platform_secrets(service_names: Iterable[str]) -> tuple[CatalogSecret, ...]:
    """Every named secret of a platform running `service_names`: one database password and one Redis password per
    service."""
    names = tuple(service_names)
    return (
        POSTGRES_SUPERUSER_PASSWORD,
        *(db_password(name) for name in names),
        *(redis_password(name) for name in names),
        *SHARED_SECRETS,
    )


SECRET_VARIABLES: frozenset[str] = frozenset(
    {DB_PASSWORD_VARIABLE, REDIS_PASSWORD_VARIABLE}
    | {s.variable for s in SHARED_SECRETS if s.variable is not None}
    | {k.variable for k in JWT_KEYS if k.secret}
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

# --- cAdvisor's Docker API proxy (issue 14, item 4) ---
DOCKER_API_PROXY = "docker-api-proxy"
"""The only container that mounts the Docker socket: it serves cAdvisor the read-only calls it needs
(components.observability.exporters). Never a service name: `payment-docker-api-proxy` is taken."""
DOCKER_API_PROXY_IMAGE = "ghcr.io/payment-platform/docker-api-proxy:1.0.0"
"""Ours (images/docker-api-proxy, Go standard library): built by `make images`; publish it under this reference
or point `images.docker-api-proxy` at your registry's copy."""
DOCKER_API_PROXY_SOCKET = f"{DOCKER_API_PROXY}-socket"
"""The volume (`payment-docker-api-proxy-socket`) holding the proxy's unix socket, which only cAdvisor shares."""
NETWORKLESS: frozenset[str] = frozenset({DOCKER_API_PROXY})
"""Containers on no network at all (`network_mode: none`): the proxy listens on a unix socket in a volume only
cAdvisor shares, so nothing can reach it over a network and it reaches nothing."""
# --- end cAdvisor's Docker API proxy ---

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
        DOCKER_API_PROXY: DOCKER_API_PROXY_IMAGE,
    }
)
"""Every image the platform runs, by role: the infrastructure and exporter names, `loader` and `demo`. Stack
config `images.<role>` replaces one (a mirror, or a local build on a machine without a registry)."""

REDIS_DEFAULT_USER = "default"
"""Redis's built-in user (anonymous connections, `AUTH <password>`): each service's Redis user is named after the
service, so no service may take this name."""
REDIS_MONITORING_USER = REDIS_EXPORTER.name
"""The Redis ACL user redis_exporter logs in as (its `REDIS_USER`): statistics only, no key."""

RESERVED_NAMES: frozenset[str] = frozenset(
    {i.name for i in INFRASTRUCTURE}
    | {e.name for e in EXPORTERS}
    | set(PINNED_IMAGES)
    | {DOCKER_API_PROXY, DOCKER_API_PROXY_SOCKET, REDIS_DEFAULT_USER, OPERATOR}
)
"""Names a service cannot take: they are infrastructure containers, scrape jobs, image roles and cAdvisor's proxy
already, the operator's certificate subject, or Redis's built-in user. `reserved_name` adds the Docker names."""

MONITORING_ROLE = "payment_monitoring"
"""PostgreSQL role of the metrics exporter: server statistics and settings, never another role's query text."""
MONITORING_GRANTS: tuple[str, ...] = ("pg_read_all_settings",)
"""The predefined roles the monitoring role is a member of, and the only ones. Not pg_monitor: it includes
pg_read_all_stats, which shows every session's query text (pg_stat_activity.query, pg_stat_statements), card
numbers in literals included. What postgres_exporter reads besides settings (pg_stat_database, pg_locks, the
counts of pg_stat_activity, pg_database_size with CONNECT) needs no predefined role."""

POSTGRES_SUPERUSER = "postgres"
"""The image's bootstrap superuser: the bootstrap runs as it over the container's socket, and migrations too."""
NAME_MAX = 63
"""PostgreSQL's longest identifier (NAMEDATALEN - 1 bytes); a longer name is cut silently, so two could meet."""
DB_OWNER_SUFFIX = "_owner"


def db_owner_role(database: str) -> str:
    """`<database>_owner`: NOLOGIN, owns the service's database, schemas and every object in them (migrations run
    as it, `SET ROLE` from the superuser); the service's LOGIN role, named like the database, has DML only."""
    return database + DB_OWNER_SUFFIX


DATABASE_NAME_MAX = NAME_MAX - len(DB_OWNER_SUFFIX)
"""A service database's longest name: its owner role's name must still fit PostgreSQL's identifiers."""


@dataclass(frozen=True)
class CatalogNetwork:
    """A Docker bridge network of the platform. Who joins it is derived from who must reach whom
    (`stacks.resolve.networks`), never listed by hand."""

    name: str
    """Docker network name."""
    title: str
    """What it carries."""


# Segmentation. A plain Docker bridge cannot filter by port or by pair, so the unit of isolation is the network:
# two containers can talk only if they share one. Each network below is a server group plus exactly the clients
# the catalog says must reach it; a container that has no reason to reach a server shares no network with it.
APP_NETWORK = CatalogNetwork("payment-network", "services, the gateway's upstream calls and Prometheus's scrapes")
"""The seed's network (172.28.0.0/16): every `<name>.payment-network` a service uses resolves on it."""
TRACING_NETWORK = CatalogNetwork("payment-tracing", "spans from services to Jaeger's OTLP receiver")
MONITORING_NETWORK = CatalogNetwork("payment-monitoring", "Prometheus, Grafana, Jaeger's query API and the exporters")


def edge_network(member: str) -> CatalogNetwork:
    """`payment-edge-<member>`: the one network of a container with a route off the host, and the container alone.
    The engine publishes ports and masquerades outbound traffic only for a container on a network that is not
    internal; a network of its own carries that without linking it to anyone (`stacks.resolve.networks` says why
    not one shared edge network)."""
    return CatalogNetwork(f"payment-edge-{member}", f"{member}'s published ports and outbound connections")


def store_network(store: CatalogInfrastructure) -> CatalogNetwork:
    """`payment-data-<store>`: one data store, the services that keep state in it, and its exporter. One per store,
    so a compromised Kafka cannot reach PostgreSQL."""
    return CatalogNetwork(f"payment-data-{store.name}", f"{store.title} and its clients")


# --- names a service cannot take ---------------------------------------------------------------------------------
DOCKER_NAME_PREFIX = "payment-"
"""Every Docker object of the platform is named `payment-<...>`: a service's containers are `payment-<name>` and
`payment-<name>-<replica>`."""


def container_name(name: str) -> str:
    """The Docker name of the container (or first name of the containers) of catalog entry `name`, as in the seed:
    `payment-<name>`; a service's replicas add `-<n>` (stacks.models.Service.container_names)."""
    return f"{DOCKER_NAME_PREFIX}{name}"


LOADER_SUFFIX = "-files"
"""`payment-<container>-files`: the loader of each container with files (components.docker.containers), and the
start of its files volumes' names (`payment-<container>-files-<folder>`)."""
DATA_VOLUME_SUFFIX = "-data"
"""`payment-<store>-data`: a data store's volume (components.docker.containers.infrastructure_container)."""
LOADER_RESOURCE_SUFFIX = "-loader"
"""`<container resource>-loader`: the loader's Pulumi resource name."""
RESERVED_SUFFIXES: tuple[str, ...] = (LOADER_SUFFIX, DATA_VOLUME_SUFFIX, LOADER_RESOURCE_SUFFIX)


def reserved_name(name: str) -> str | None:
    """Why a service of a stack cannot be called `name` (it would share a Docker or Pulumi name, a DNS name, a
    certificate subject or a Redis user with something of the platform), or None when it can."""
    if name in RESERVED_NAMES:
        return "an infrastructure, exporter, image role or platform name"
    networks = [APP_NETWORK, TRACING_NETWORK, MONITORING_NETWORK, *(store_network(s) for s in DATA_STORES)]
    if container_name(name) in {n.name for n in networks}:
        return "the name of one of the platform's networks"
    if container_name(name).startswith(edge_network("").name):
        return f"in the name space of the edge networks ({edge_network('<name>').name})"
    if name.endswith(RESERVED_SUFFIXES) or f"{LOADER_SUFFIX}-" in name:
        suffixes = " or ".join(RESERVED_SUFFIXES)
        return f"ending in {suffixes} or holding {LOADER_SUFFIX}- (how loaders and volumes are named)"
    return None
