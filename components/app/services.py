"""The 17 core services and 2 BFFs (and any a stack adds): one hardened container per replica.

What the seed's docker-compose.services.yml and docker-compose.bff.yml did by hand, from the catalog:

* Containers are `payment-<service>` (`payment-<service>-<n>` for replicas), all answering to the
  service's DNS names on the platform network, listening on the seed's port over mTLS.
* Environment: identity (`SERVICE_NAME`, `ENV`, `PORT`), OpenTelemetry towards Jaeger, one
  `<DEP>_SERVICE_URL` per upstream in the catalog's call graph, who may call it over mTLS (the client
  certificates' common names: `MTLS_ALLOWED_CLIENTS` for the API, `MTLS_HEALTH_CLIENTS` for /health,
  `MTLS_METRICS_CLIENTS` for /metrics; `components.app.callers` says who is on each and why; the demo
  stand-in enforces exactly these), and the bundle the platform built for the service (mTLS files, JWT
  secret, database/Redis/Kafka contract, Stripe or SMTP where the catalog says so).
* Start order: every service waits for the data stores to be healthy (they are created with `wait`),
  and is itself created with `wait`, so Kong starts only in front of healthy services and a broken image
  fails `pulumi up` instead of passing silently. Services never depend on each other: all of them are
  created at once, and `pulumi up` takes as long as the slowest one, not the sum.
* Images: the stack's registry and tag, a per-service override, a build from the seed's
  `backend/services/<service>/Dockerfile`, or, with `demo`, the stand-in from `components.app.demo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.app.callers import Clients, clients_environment, service_clients
from components.app.demo import demo_command, demo_files, health_command
from components.docker.containers import ContainerSpec, Host, container
from components.docker.files import ContainerFiles
from components.docker.labels import SERVICE_LABEL
from stacks.catalog import APP_UID
from stacks.models import Service


def service_environment(
    service: Service, upstreams: Mapping[str, Service], args: ServicesArgs, container_name: str, clients: Clients
) -> dict[str, str]:
    """Identity, tracing, upstream URLs and allowed callers of one container of `service` (no secrets here)."""
    env = {
        "SERVICE_NAME": service.name,
        "ENV": args.environment,
        "PORT": str(service.port),
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": args.otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment={args.environment},service.instance.id={container_name}",
    }
    for upstream in service.calls:
        env[upstreams[upstream].url_variable] = upstreams[upstream].url
    env.update(clients_environment(clients))
    return env


@dataclass(frozen=True)
class ServicesArgs:
    services: tuple[Service, ...]
    environment: str
    """`ENV` and the traces' `deployment.environment`: the stack's name."""
    otlp_endpoint: str
    """Where services send traces (`Jaeger.otlp_grpc_endpoint`)."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    bundles: Mapping[str, ContainerFiles]
    """Service name -> what the platform gives it: mTLS files, secrets and the data tier's contract."""
    data_stores: Sequence[pulumi.Resource]
    """Containers every service waits for (healthy) before it starts."""
    gateway_routed: frozenset[str]
    """Names of the services a public route leads to: they accept Kong's certificate as a caller."""


class Services(pulumi.ComponentResource):
    """All application service containers."""

    containers: dict[str, list[docker.Container]]
    """By service name, one container per replica."""

    def __init__(self, name: str, args: ServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:app:Services", name, None, opts)
        by_name = {s.name: s for s in args.services}
        images: dict[str, pulumi.Output[str]] = {}
        self.containers = {}
        for service in args.services:
            image_id = self._image(name, service, images)
            shared = args.bundles[service.name]
            command = None
            clients = service_clients(service, routed=service.name in args.gateway_routed)
            if service.image.source == "demo":
                shared += demo_files(service, clients, APP_UID)
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
                        healthcheck=service.healthcheck or health_command(service),
                        internal_port=service.port,
                        published_port=service.port,
                        files=ContainerFiles(env=service_environment(service, by_name, args, container_name, clients))
                        + shared,
                        user=f"{APP_UID}:{APP_UID}",
                        command=command,
                        labels={SERVICE_LABEL: service.name},
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
