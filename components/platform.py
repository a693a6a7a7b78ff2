"""The top-level component: the whole payment platform for one stack.

It receives the resolved `PlatformConfig` and builds one child component per concern: the network,
the PKI, the secrets, the data stores, the services, the gateway and observability (Prometheus, the
exporters, Jaeger, Grafana), each taking the catalog-derived config it needs and the outputs of the
components it depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

import pulumi

from components.app.services import Services, ServicesArgs
from components.data.kafka import Kafka, KafkaArgs
from components.data.postgres import Postgres, PostgresArgs
from components.data.redis import Redis, RedisArgs
from components.docker.containers import Host, image
from components.docker.files import ContainerFiles
from components.docker.labels import platform_labels
from components.gateway.kong import Kong, KongArgs, routes
from components.network import Network, NetworkArgs
from components.observability.exporters import Exporters, ExportersArgs
from components.observability.grafana import Grafana, GrafanaArgs
from components.observability.jaeger import Jaeger, JaegerArgs
from components.observability.prometheus import Prometheus, PrometheusArgs
from components.pki import Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from stacks.catalog import APP_UID, LOADER, Integration
from stacks.models import PlatformConfig, Service


@dataclass(frozen=True)
class PlatformArgs:
    config: PlatformConfig
    """The stack's resolved configuration; components never read Pulumi config themselves."""


class Platform(pulumi.ComponentResource):
    """Everything `pulumi up` creates for one stack."""

    network: Network
    pki: Pki
    secrets: Secrets
    postgres: Postgres
    redis: Redis
    kafka: Kafka
    services: Services
    kong: Kong
    prometheus: Prometheus
    grafana: Grafana
    exporters: Exporters
    jaeger: Jaeger

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:platform:Platform", name, None, opts)
        self.config = config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network(
            f"{name}-network", NetworkArgs(config=config.network, labels=platform_labels(config)), opts=child
        )
        self.host = Host(network=self.network, loader_image=image(f"{name}-loader-image", config.images[LOADER], self))
        self.pki = Pki(f"{name}-pki", PkiArgs(config=config.pki, domain=config.network.name), opts=child)
        self.secrets = Secrets(f"{name}-secrets", SecretsArgs(config=config.secrets), opts=child)
        self.postgres = Postgres(
            f"{name}-postgres",
            PostgresArgs(
                config=config,
                host=self.host,
                secrets=self.secrets,
                certificate=self.pki.certificates["postgres"],
                trust_bundle=self.pki.trust_bundle,
            ),
            opts=child,
        )
        self.redis = Redis(
            f"{name}-redis",
            RedisArgs(
                config=config,
                host=self.host,
                secrets=self.secrets,
                certificate=self.pki.certificates["redis"],
                trust_bundle=self.pki.trust_bundle,
            ),
            opts=child,
        )
        self.kafka = Kafka(f"{name}-kafka", KafkaArgs(config=config, host=self.host), opts=child)
        self.services = Services(
            f"{name}-services",
            ServicesArgs(
                config=config,
                host=self.host,
                files=self.service_files,
                data_stores=[self.postgres.container, self.redis.container, self.kafka.container],
            ),
            opts=child,
        )
        routed = {route.service for route in routes(config)}
        self.kong = Kong(
            f"{name}-kong",
            KongArgs(
                config=config,
                host=self.host,
                certificate=self.pki.certificates["kong"],
                trust_bundle=self.pki.trust_bundle,
                upstreams=[c for svc in sorted(routed) for c in self.services.containers[svc]],
            ),
            opts=child,
        )
        self.prometheus = Prometheus(
            f"{name}-prometheus",
            PrometheusArgs(
                config=config,
                host=self.host,
                certificate=self.pki.certificates["prometheus"],
                trust_bundle=self.pki.trust_bundle,
            ),
            opts=child,
        )
        self.exporters = Exporters(
            f"{name}-exporters",
            ExportersArgs(
                config=config,
                host=self.host,
                secrets=self.secrets,
                trust_bundle=self.pki.trust_bundle,
                stores=[self.postgres.container, self.redis.container, self.kafka.container],
            ),
            opts=child,
        )
        self.jaeger = Jaeger(f"{name}-jaeger", JaegerArgs(config=config, host=self.host), opts=child)
        self.grafana = Grafana(
            f"{name}-grafana", GrafanaArgs(config=config, host=self.host, secrets=self.secrets), opts=child
        )
        self.register_outputs({"network": self.network.network_name, "caCertPem": self.pki.ca_cert_pem})

    def published_urls(self) -> dict[str, str]:
        """Every endpoint published on the Docker host, by name, as the host reaches it."""
        urls = {}
        for item in self.config.infrastructure:
            publish = item.workload.publish
            if publish.enabled:
                urls[item.name] = PUBLISHED_SCHEMES[item.name].format(
                    host=_local(publish.address), port=item.published_port
                )
        for service in self.config.services:
            publish = service.workload.publish
            if publish.enabled and service.replicas == 1:
                urls[service.name] = f"https://{_local(publish.address)}:{service.port}"
        return urls

    def endpoints(self) -> list[dict[str, str]]:
        """Health URL of every endpoint published on the host, for `make health` (from 127.0.0.1)."""
        found = []
        for service in self.config.services:
            publish = service.workload.publish
            if publish.enabled and service.replicas == 1:
                found.append(
                    {"name": service.name, "health": f"https://{_local(publish.address)}:{service.port}/health"}
                )
        kong = self.config.infra("kong")
        if kong.workload.publish.enabled:
            found.append(
                {
                    "name": "kong",
                    "health": f"http://{_local(kong.workload.publish.address)}:{kong.published_port}/health",
                }
            )
        return found

    def service_files(self, service: Service) -> ContainerFiles:
        """The mTLS bundle and secrets a service container is given (the services component attaches it)."""
        files = (
            self.pki.service_files(service.name, APP_UID)
            + self.secrets.files("jwt-secret", APP_UID)
            + self.postgres.service_files(service)
            + self.redis.service_files(APP_UID)
            + self.kafka.service_files()
        )
        enabled = self.config.secrets.integrations & service.integrations
        if Integration.STRIPE in enabled:
            files += self.secrets.files("stripe-api-key", APP_UID)
            files += self.secrets.files("stripe-webhook-secret", APP_UID)
        smtp = self.config.secrets.smtp
        if Integration.SMTP in enabled and smtp is not None:
            files += self.secrets.files("smtp-password", APP_UID)
            files += ContainerFiles(
                env={
                    "SMTP_HOST": smtp.host,
                    "SMTP_PORT": str(smtp.port),
                    "SMTP_USERNAME": smtp.username,
                    "SMTP_FROM": smtp.sender,
                }
            )
        return files


PUBLISHED_SCHEMES = {
    "postgres": "postgresql://{host}:{port}/?sslmode=verify-full",
    "redis": "rediss://{host}:{port}",
    "kafka": "{host}:{port}",
    "prometheus": "http://{host}:{port}",
    "grafana": "http://{host}:{port}",
    "jaeger": "http://{host}:{port}",
    "kong": "http://{host}:{port}",
}
"""How a client addresses each published piece of infrastructure (Kafka: a bootstrap server)."""


def _local(address: IPv4Address) -> str:
    """Where the Docker host reaches a port published on `address`."""
    return "127.0.0.1" if address.is_unspecified else str(address)
