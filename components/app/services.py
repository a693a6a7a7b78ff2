"""The 17 core services and 2 BFFs (and any a stack adds): one hardened container per replica.

What the seed's docker-compose.services.yml and docker-compose.bff.yml did by hand, from the catalog:

* Containers are `payment-<service>` (`payment-<service>-<n>` for replicas), all answering to the
  service's DNS names on the platform network, listening on the seed's port over mTLS.
* Environment: identity (`SERVICE_NAME`, `ENV`, `PORT`), OpenTelemetry towards Jaeger, one
  `<DEP>_SERVICE_URL` per upstream in the catalog's call graph, and everything the platform hands a
  service (`Platform.service_files`: mTLS bundle, JWT secret, database/Redis/Kafka contract, Stripe or
  SMTP where the catalog says so).
* Start order: every service waits for the data stores to be healthy (they are created with `wait`),
  and is itself created with `wait`, so Kong starts only in front of healthy services and a broken image
  fails `pulumi up` instead of passing silently. Services never depend on each other: all of them are
  created at once, and `pulumi up` takes as long as the slowest one, not the sum.
* Images: the stack's registry and tag, a per-service override, a build from the seed's
  `backend/services/<service>/Dockerfile`, or, with `demo`, the stand-in from `components.app.demo`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.app.demo import demo_command, demo_files, health_command
from components.docker.containers import ContainerSpec, Host, container
from components.docker.files import ContainerFiles
from components.docker.labels import platform_labels
from stacks.catalog import APP_UID
from stacks.models import PlatformConfig, Service

OTLP_ENDPOINT = "http://jaeger.{domain}:4317"
"""Jaeger's OTLP gRPC receiver (the observability component runs Jaeger under this name)."""


def service_environment(service: Service, config: PlatformConfig, container_name: str) -> dict[str, str]:
    """Identity, tracing and upstream URLs of one container of `service` (no secrets here)."""
    domain = config.network.name
    ports = {s.name: s.port for s in config.services}
    env = {
        "SERVICE_NAME": service.name,
        "ENV": config.stack,
        "PORT": str(service.port),
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT.format(domain=domain),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment={config.stack},service.instance.id={container_name}",
    }
    by_name = {s.name: s for s in config.services}
    for upstream in service.calls:
        env[by_name[upstream].url_variable] = f"https://{upstream}.{domain}:{ports[upstream]}"
    return env


@dataclass(frozen=True)
class ServicesArgs:
    config: PlatformConfig
    host: Host
    files: Callable[[Service], ContainerFiles]
    """What the platform gives each service: certificates, secrets and the data-tier contract."""
    data_stores: Sequence[pulumi.Resource]
    """Containers every service waits for (healthy) before it starts."""


class Services(pulumi.ComponentResource):
    """All application service containers."""

    containers: dict[str, list[docker.Container]]
    """By service name, one container per replica."""

    def __init__(self, name: str, args: ServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:app:Services", name, None, opts)
        config = args.config
        labels = platform_labels(config)
        images: dict[str, pulumi.Output[str]] = {}
        self.containers = {}
        for service in config.services:
            image_id = self._image(name, service, images)
            shared = args.files(service)
            command = None
            if service.image.source == "demo":
                shared += demo_files(service, APP_UID)
                command = demo_command()
            self.containers[service.name] = [
                container(
                    f"{name}-{container_name}",
                    ContainerSpec(
                        container_name=container_name,
                        alias=service.name,
                        image=image_id,
                        host=args.host,
                        workload=service.workload,
                        logging=config.logging,
                        restart=config.restart,
                        health=config.data.health,
                        healthcheck=service.healthcheck or health_command(service),
                        internal_port=service.port,
                        published_port=service.port,
                        files=ContainerFiles(env=service_environment(service, config, container_name)) + shared,
                        user=f"{APP_UID}:{APP_UID}",
                        command=command,
                        labels={**labels, "com.payment-platform.service": service.name},
                        depends_on=args.data_stores,
                    ),
                    self,
                )
                for container_name in service.container_names
            ]
        self.register_outputs({"containers": {k: [c.name for c in v] for k, v in self.containers.items()}})

    def _image(self, name: str, service: Service, pulled: dict[str, pulumi.Output[str]]) -> pulumi.Output[str]:
        """Each distinct image is pulled (or built) once, however many services run it."""
        source = service.image
        if source.reference in pulled:
            return pulled[source.reference]
        key = "demo" if source.source == "demo" else service.name
        build = None
        if source.source == "build":
            assert source.build_context is not None
            build = docker.RemoteImageBuildArgs(context=source.build_context, dockerfile="Dockerfile")
        image = docker.RemoteImage(
            f"{name}-{key}-image",
            name=source.reference,
            build=build,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        pulled[source.reference] = image.image_id
        return image.image_id
