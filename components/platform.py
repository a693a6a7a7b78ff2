"""The top-level component: the whole payment platform for one stack.

It is the only component that sees the resolved `PlatformConfig`. It reads top-down: the Docker host (network,
loader image, the profile's container defaults), the foundation (PKI, secrets), the data stores, tracing, then
each service's bundle (certificate, secrets, the data tier's connection contract) built before the services
that receive it, the gateway in front of the routed services, and the metrics and dashboards over all of it.
Each component gets a narrow `Args` with what it needs: catalog facts from the resolved models, values from the
components created before it (`prometheus.url`, `jaeger.otlp_grpc_endpoint`, `kong.status_target`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.app.services import Services, ServicesArgs
from components.data.kafka import Kafka, KafkaArgs, cluster_id
from components.data.postgres import Postgres, PostgresArgs, service_environment
from components.data.redis import Redis, RedisArgs
from components.data.redis import service_environment as redis_service_environment
from components.docker.containers import Host, image
from components.docker.files import ContainerFiles
from components.docker.labels import platform_labels
from components.gateway.kong import Kong, KongArgs, routed, routes
from components.jwt import JwtArgs, SigningKeys
from components.network import Network, NetworkArgs
from components.observability.exporters import DOCKER_API_PROXY, Exporters, ExportersArgs
from components.observability.grafana import Grafana, GrafanaArgs
from components.observability.jaeger import Jaeger, JaegerArgs
from components.observability.prometheus import Prometheus, PrometheusArgs
from components.pki import Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from stacks.catalog import (
    APP_UID,
    EXPORTERS,
    GATEWAY_OPERATOR_KEY,
    GRAFANA,
    GRAFANA_ADMIN_PASSWORD,
    JAEGER,
    JWT_SECRET,
    KAFKA,
    KAFKA_EXPORTER,
    KONG,
    LOADER,
    POSTGRES,
    POSTGRES_EXPORTER_PASSWORD,
    PROMETHEUS,
    REDIS,
    REDIS_EXPORTER_PASSWORD,
    REDIS_PASSWORD,
    SECRETS_BY_INTEGRATION,
    Integration,
    db_password_secret,
    redis_password_secret,
)
from stacks.models import Infrastructure, PlatformConfig, Service


@dataclass(frozen=True)
class PlatformArgs:
    config: PlatformConfig
    """The stack's resolved configuration; components never read Pulumi config themselves."""


class Platform(pulumi.ComponentResource):
    """Everything `pulumi up` creates for one stack."""

    network: Network
    pki: Pki
    secrets: Secrets
    jwt: SigningKeys
    postgres: Postgres
    redis: Redis
    kafka: Kafka
    services: Services
    kong: Kong
    prometheus: Prometheus
    grafana: Grafana
    exporters: Exporters
    jaeger: Jaeger
    bundles: dict[str, ContainerFiles]
    """Service name -> what its containers are given besides their own settings (`_bundle`)."""
    urls: dict[str, str]
    """Every endpoint published on the Docker host, as the host reaches it."""
    endpoints: list[dict[str, str]]
    """The health URL of each published endpoint (`make health`)."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:platform:Platform", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        labels = platform_labels(config.project, config.stack, config.profile)

        # The Docker host and the foundation.
        self.network = Network(f"{name}-network", NetworkArgs(segments=config.segments, labels=labels), opts=child)
        host = docker_host(config, self.network, image(f"{name}-loader-image", config.images[LOADER], self))
        self.pki = Pki(f"{name}-pki", PkiArgs(config=config.pki, domain=config.network.name), opts=child)
        # The JWT key's generations are SigningKeys' (`jwt.*`): the named secret stays in config for its value and
        # rotation counter only.
        named = tuple(s for s in config.secrets.items if s.name != JWT_SECRET.name)
        self.secrets = Secrets(
            f"{name}-secrets", SecretsArgs(config=config.secrets.model_copy(update={"items": named})), opts=child
        )
        self.jwt = SigningKeys(f"{name}-jwt", JwtArgs(config=config.jwt, delivery=config.secrets.delivery), opts=child)
        secret = self.secrets.values
        certificates, trust_bundle = self.pki.certificates, self.pki.trust_bundle

        # The data stores.
        postgres = config.infra(POSTGRES.name)
        self.postgres = Postgres(
            f"{name}-postgres",
            PostgresArgs(
                infra=postgres,
                tuning=config.data.postgres,
                services=config.services,
                host=host,
                passwords=secret,
                certificate=certificates[POSTGRES.name],
                trust_bundle=trust_bundle,
            ),
            opts=child,
        )
        redis = config.infra(REDIS.name)
        self.redis = Redis(
            f"{name}-redis",
            RedisArgs(
                infra=redis,
                tuning=config.data.redis,
                host=host,
                password=secret[REDIS_PASSWORD.name],
                monitoring_password=secret[REDIS_EXPORTER_PASSWORD.name],
                service_passwords={s.name: secret[redis_password_secret(s.name)] for s in config.services},
                certificate=certificates[REDIS.name],
                trust_bundle=trust_bundle,
            ),
            opts=child,
        )
        self.kafka = Kafka(
            f"{name}-kafka",
            KafkaArgs(
                infra=config.infra(KAFKA.name),
                topics=config.data.topics,
                cluster_id=cluster_id(config.project, config.stack),
                host=host,
                certificate=certificates[KAFKA.name],
                trust_bundle=trust_bundle,
                services=tuple(service.name for service in config.services),
                exporter=KAFKA_EXPORTER.name,
            ),
            opts=child,
        )
        stores = [self.postgres.container, self.redis.container, self.kafka.container]

        # Tracing first: every service is told where to send its spans.
        self.jaeger = Jaeger(f"{name}-jaeger", JaegerArgs(infra=config.infra(JAEGER.name), host=host), opts=child)

        # The application: each service's bundle, then the services.
        self.bundles = {service.name: self._bundle(service, config, postgres) for service in config.services}
        # The services a public route leads to accept Kong as a caller (`components.app.callers`).
        gateway_routed = frozenset(route.service for route in routes(config.secrets.integrations))
        self.services = Services(
            f"{name}-services",
            ServicesArgs(
                services=config.services,
                environment=config.stack,
                otlp_endpoint=self.jaeger.otlp_grpc_endpoint,
                host=host,
                bundles=self.bundles,
                data_stores=stores,
                gateway_routed=gateway_routed,
            ),
            opts=child,
        )

        # The edge: Kong in front of the routed services, started once they are healthy.
        served = routes(config.secrets.integrations)
        upstreams = routed(served, config.services)
        self.kong = Kong(
            f"{name}-kong",
            KongArgs(
                infra=config.infra(KONG.name),
                routes=served,
                services=upstreams,
                gateway=config.gateway,
                host=host,
                certificate=certificates[KONG.name],
                trust_bundle=trust_bundle,
                operator_key=secret[GATEWAY_OPERATOR_KEY.name],
                # Sorted by name, as the engine records dependencies.
                upstreams=[c for s in sorted(s.name for s in upstreams) for c in self.services.containers[s]],
            ),
            opts=child,
        )

        # Metrics and dashboards over all of it.
        self.prometheus = Prometheus(
            f"{name}-prometheus",
            PrometheusArgs(
                infra=config.infra(PROMETHEUS.name),
                services=config.services,
                observability=config.observability,
                kong_status=self.kong.status_target,
                host=host,
                certificate=certificates[PROMETHEUS.name],
                trust_bundle=trust_bundle,
            ),
            opts=child,
        )
        self.exporters = Exporters(
            f"{name}-exporters",
            ExportersArgs(
                postgres=postgres,
                redis=redis,
                kafka_bootstrap=self.kafka.bootstrap_servers,
                kafka_certificate=certificates[KAFKA_EXPORTER.name],
                images={
                    **{e.name: config.images[e.name] for e in EXPORTERS},
                    DOCKER_API_PROXY: config.images[DOCKER_API_PROXY],
                },
                workload=config.observability.exporter,
                scrape_interval_seconds=config.observability.scrape_interval_seconds,
                docker_data_root=config.docker_data_root,
                docker_socket_group=config.docker_socket_group,
                host=host,
                monitoring_password=secret[POSTGRES_EXPORTER_PASSWORD.name],
                redis_password=secret[REDIS_EXPORTER_PASSWORD.name],
                trust_bundle=trust_bundle,
                stores=stores,
            ),
            opts=child,
        )
        self.grafana = Grafana(
            f"{name}-grafana",
            GrafanaArgs(
                infra=config.infra(GRAFANA.name),
                observability=config.observability,
                prometheus_url=self.prometheus.url,
                jaeger_url=self.jaeger.query_url,
                host=host,
                admin_password=secret[GRAFANA_ADMIN_PASSWORD.name],
            ),
            opts=child,
        )
        self.urls = published_urls(config)
        self.endpoints = health_endpoints(config)
        self.register_outputs({"network": self.network.network_name, "caCertPem": self.pki.ca_cert_pem})

    def _bundle(self, service: Service, config: PlatformConfig, postgres: Infrastructure) -> ContainerFiles:
        """What one service container is given besides its own settings: its mTLS key pair and the trust bundle,
        the JWT keys of its role (issuer or verifier), its database (contract and password), Redis (contract, its own
        user, prefix and password) and Kafka, and the credentials and settings of the integrations it owns that the
        stack switched on (the catalog's `consumers`; a test holds the render to them). Listed in a fixed order, not
        derived: the order of the uploads is part of the loader's inputs, and a new order would restart every service
        once for nothing."""
        files = (
            self.pki.service_files(service.name, APP_UID)
            + self.jwt.files(service.name, APP_UID)
            + ContainerFiles(env=service_environment(service, postgres))
            + self.secrets.files(db_password_secret(service.name), APP_UID)
            + ContainerFiles(env=self.redis.client_env | redis_service_environment(service.name))
            + self.secrets.files(redis_password_secret(service.name), APP_UID)
            + self.kafka.client_files(service.name, self.pki.certificates[service.name], APP_UID)
        )
        for integration in sorted(config.secrets.integrations & service.integrations):
            for catalog_secret in SECRETS_BY_INTEGRATION[integration]:
                files += self.secrets.files(catalog_secret.name, APP_UID)
        smtp = config.secrets.smtp
        if Integration.SMTP in config.secrets.integrations & service.integrations and smtp is not None:
            files += ContainerFiles(
                env={
                    "SMTP_HOST": smtp.host,
                    "SMTP_PORT": str(smtp.port),
                    "SMTP_USERNAME": smtp.username,
                    "SMTP_FROM": smtp.sender,
                }
            )
        return files


def docker_host(config: PlatformConfig, network: Network, loader_image: pulumi.Input[str]) -> Host:
    """What every container of the stack shares on the Docker host."""
    return Host(
        networks=network.names,
        memberships=config.placements(),
        domain=config.network.name,
        loader_image=loader_image,
        labels=platform_labels(config.project, config.stack, config.profile),
        logging=config.logging,
        restart=config.restart,
        health=config.data.health,
        protect_data=config.data.protect_data,
    )


def published_urls(config: PlatformConfig) -> dict[str, str]:
    """Every endpoint published on the Docker host, by name, as the host reaches it."""
    urls = {item.name: item.published_url for item in config.infrastructure}
    urls |= {service.name: service.published_url for service in config.services}
    return {name: url for name, url in urls.items() if url is not None}


def health_endpoints(config: PlatformConfig) -> list[dict[str, str]]:
    """Health URL of every endpoint published on the host, for `make health` (from 127.0.0.1)."""
    found = [
        {"name": service.name, "health": f"{service.published_url}/health"}
        for service in config.services
        if service.published_url is not None
    ]
    kong = config.infra(KONG.name).published_url
    if kong is not None:
        found.append({"name": KONG.name, "health": f"{kong}/health"})
        if config.gateway.tls is not None:  # a public certificate: checked as the internet checks it
            found[-1]["trust"] = "public"
    return found
