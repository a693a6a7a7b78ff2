"""Jaeger v2 for the platform: one all-in-one container that receives OTLP traces and serves the UI.

Creates the pulled image and the `payment-jaeger` container (alias `jaeger`). Services export to
`http://jaeger.<network>:4317` (OTLP gRPC; components/app/services.py); OTLP HTTP listens on 4318; the
UI and query API on 16686, which Grafana's datasource uses and the profile publishes (dev: 127.0.0.1:50686,
prod: not at all). Shaped this way:

* Jaeger v2 is an OpenTelemetry Collector distribution configured by one YAML file. Its built-in
  all-in-one configuration binds its receivers to localhost and keeps up to 100000 traces, so the
  file is generated here (`jaeger_config`, rendered by `render_yaml`), uploaded as a public file, and
  passed with `--config`. It holds no secret.
* Storage is in memory, bounded by trace count (`memory.max_traces`, the only bound the memory store
  has): half the container's memory limit at an assumed 64 KiB per trace (`max_traces`). A restart
  loses the traces; that is the price of needing no database for a debugging aid. `GOMEMLIMIT` (80% of
  the limit) makes the Go runtime collect before the kernel's OOM killer steps in.
* Only what is used listens on the network: OTLP gRPC and HTTP, the UI/query HTTP port and the
  collector's own metrics (8888, for Prometheus). The health endpoint (healthcheckv2, `/status`, which
  exposes the collector's internal state) and the unused query gRPC port stay on the container's
  loopback.
* Hardened like every container: the image's own non-root user (uid 10001), read-only root filesystem
  with a tmpfs /tmp (the image declares /tmp a volume), healthcheck with the Alpine base image's
  busybox `wget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker
import yaml

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.hardening import DEFAULT_TMPFS
from components.docker.image_contract import ImageContract, PathContract
from stacks.catalog import JAEGER
from stacks.models import Infrastructure, Workload
from stacks.units import ByteSize

# Its listeners, from the catalog: `port` is the UI and query API (published, Grafana's datasource); the
# collector's own Prometheus metrics on `metrics`.
OTLP_GRPC_PORT = JAEGER.ports["otlp-grpc"]
OTLP_HTTP_PORT = JAEGER.ports["otlp-http"]
QUERY_HTTP_PORT = JAEGER.port
QUERY_GRPC_PORT = JAEGER.ports["query-grpc"]
HEALTH_PORT = JAEGER.ports["health"]
METRICS_PORT = JAEGER.ports["metrics"]

JAEGER_UID = 10001
"""The image's user (cmd/jaeger/Dockerfile: `USER ${USER_UID}`, 10001); it owns the configuration file."""

CONFIG_PATH = "/etc/jaeger/config.yaml"
HEALTH_PATH = "/status"

STORE = "memory_store"
"""Name of the trace storage backend in the configuration."""

TRACE_BYTES = 64 * 1024
"""Assumed memory per stored trace: a payment's path through the gateway, order, channel, risk and
accounting services is tens of spans of about a kilobyte each."""
TRACE_MEMORY_SHARE = 2
"""1/TRACE_MEMORY_SHARE of the memory limit holds traces; the rest is the collector's own working set."""
GO_MEMORY_LIMIT_PERCENT = 80


def max_traces(memory_limit: ByteSize) -> int:
    """How many traces the memory store keeps: half the container's memory at TRACE_BYTES each."""
    return max(1000, int(memory_limit) // TRACE_MEMORY_SHARE // TRACE_BYTES)


def jaeger_environment(workload: Workload) -> dict[str, str]:
    """GOMEMLIMIT below the container's limit: the Go runtime collects before the OOM killer acts."""
    return {"GOMEMLIMIT": f"{workload.limits.memory.mebibytes * GO_MEMORY_LIMIT_PERCENT // 100}MiB"}


def jaeger_config(traces: int) -> dict[str, Any]:
    """Jaeger v2's configuration: OTLP in, bounded memory storage, query UI, health and metrics."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {
                "resource": {"service.name": JAEGER.name},
                "metrics": {
                    "level": "basic",
                    "readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": METRICS_PORT}}}}],
                },
                "logs": {"level": "info"},
            },
        },
        "extensions": {
            "jaeger_storage": {"backends": {STORE: {"memory": {"max_traces": traces}}}},
            "jaeger_query": {
                "storage": {"traces": STORE},
                "http": {"endpoint": f"0.0.0.0:{QUERY_HTTP_PORT}"},
                "grpc": {"endpoint": f"127.0.0.1:{QUERY_GRPC_PORT}"},
            },
            "healthcheckv2": {
                "use_v2": True,
                "http": {
                    "endpoint": f"127.0.0.1:{HEALTH_PORT}",
                    "status": {"enabled": True, "path": HEALTH_PATH},
                },
            },
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"},
                    "http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": STORE}},
    }


def render_yaml(document: dict[str, Any]) -> str:
    """The configuration file's text, keys in the order written (easier to read in a diff)."""
    header = "# Generated by payment-platform (components/jaeger.py). Holds no secret.\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def healthcheck() -> list[str]:
    """Healthy once every component reports OK to healthcheckv2 (503 while starting)."""
    return ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HEALTH_PORT}{HEALTH_PATH}"]


@dataclass(frozen=True)
class JaegerArgs:
    infra: Infrastructure
    """Jaeger's catalog entry, resolved: listeners, image, sizing, exposure."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""


class Jaeger(pulumi.ComponentResource):
    """Tracing: image and the `payment-jaeger` all-in-one container with its generated configuration."""

    container: docker.Container
    """The `payment-jaeger` container."""
    otlp_grpc_endpoint: str
    """Where services send traces: `http://jaeger.<network>:4317`."""
    otlp_http_endpoint: str
    query_url: str
    """The UI and query API on the network: Grafana's Jaeger datasource."""
    ui_url: str | None
    """The UI where the profile publishes it (dev: `http://127.0.0.1:50686`), None where it is not published."""

    def __init__(self, name: str, args: JaegerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:observability:Jaeger", name, None, opts)
        infra = args.infra
        document = jaeger_config(max_traces(infra.workload.limits.memory))
        files = ContainerFiles(
            env=jaeger_environment(infra.workload),
            uploads=(upload(CONFIG_PATH, render_yaml(document), JAEGER_UID, PUBLIC_READ),),
        )
        self.container = infrastructure_container(
            name,
            infra,
            args.host,
            InfraSpec(
                healthcheck=healthcheck(),
                user=f"{JAEGER_UID}:{JAEGER_UID}",
                files=files,
                command=["--config", CONFIG_PATH],
                # Waited for (the default): every service exports traces to it, and a configuration
                # Jaeger rejects then fails `pulumi up` instead of passing silently.
            ),
            parent=self,
        )
        self.otlp_grpc_endpoint = f"http://{infra.address('otlp-grpc')}"
        self.otlp_http_endpoint = f"http://{infra.address('otlp-http')}"
        self.query_url = f"http://{infra.address()}"
        self.ui_url = infra.published_url
        self.register_outputs(
            {"containerName": self.container.name, "otlpGrpcEndpoint": self.otlp_grpc_endpoint, "uiUrl": self.ui_url}
        )


IMAGE_CONTRACT = ImageContract(
    stands_for=str(JAEGER.image),
    local=JAEGER.name,
    # The image's USER is a bare 10001 (group 0); the container always runs as JAEGER_UID:JAEGER_UID.
    user=None,
    run_as=f"{JAEGER_UID}:{JAEGER_UID}",
    # `--config CONFIG_PATH` is the command given to the image's entrypoint, the collector binary.
    entrypoint=("/cmd/jaeger/jaeger-linux",),
    # The healthcheck's client (busybox wget on the official Alpine image).
    executables=(healthcheck()[1],),
    # The tmpfs mounted here takes this folder's owner and mode: the collector's user must write there.
    paths=tuple(PathContract(path, owner="0:0", mode=0o1777) for path in DEFAULT_TMPFS),
    probe=("/cmd/jaeger/jaeger-linux", "version"),
    ports=(OTLP_GRPC_PORT, OTLP_HTTP_PORT, QUERY_HTTP_PORT, HEALTH_PORT),
)
"""What this module relies on from `jaegertracing/jaeger` (checked against local builds by tests/images)."""
