"""Jaeger: the generated v2 configuration, and the all-in-one container under the engine.

What users rely on: services' OTLP exports reach Jaeger on the network, traces are bounded in memory,
the UI is on 127.0.0.1:50686 in dev and nowhere on the host in prod, and the container is hardened
like every other one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
import yaml

from components.docker.containers import NETWORKED, docker_cpus
from components.docker.labels import platform_labels
from components.observability.jaeger import (
    CONFIG_PATH,
    HEALTH_PORT,
    JAEGER_UID,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    QUERY_HTTP_PORT,
    Jaeger,
    JaegerArgs,
    healthcheck,
    jaeger_config,
    jaeger_environment,
    max_traces,
    render_yaml,
)
from plan.engine import Render, Resource, run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import INFRASTRUCTURE
from stacks.models import PlatformConfig
from stacks.units import ByteSize
from tests.conftest import attachments, docker_host, stack_config
from tests.conftest import uploads as container_uploads
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET

JAEGER = "payment-jaeger-container"
MiB = 1024 * 1024


def parsed(traces: int = 5000) -> dict[str, Any]:
    """The configuration as Jaeger reads it: rendered to YAML, then parsed back."""
    document = yaml.safe_load(render_yaml(jaeger_config(traces)))
    assert isinstance(document, dict)
    return document


def endpoints(document: dict[str, Any]) -> dict[str, str]:
    """Every listener the configuration opens, by component."""
    extensions, otlp = document["extensions"], document["receivers"]["otlp"]["protocols"]
    prometheus = document["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    return {
        "otlp grpc": otlp["grpc"]["endpoint"],
        "otlp http": otlp["http"]["endpoint"],
        "query http": extensions["jaeger_query"]["http"]["endpoint"],
        "query grpc": extensions["jaeger_query"]["grpc"]["endpoint"],
        "health": extensions["healthcheckv2"]["http"]["endpoint"],
        "metrics": f"{prometheus['host']}:{prometheus['port']}",
    }


# --- pure builders ----------------------------------------------------------------------------------


def test_otlp_query_and_metrics_listen_on_the_network_health_and_query_grpc_on_loopback() -> None:
    assert endpoints(parsed()) == {
        "otlp grpc": "0.0.0.0:4317",
        "otlp http": "0.0.0.0:4318",
        "query http": "0.0.0.0:16686",
        "query grpc": "127.0.0.1:16685",
        "health": "127.0.0.1:13133",
        "metrics": "0.0.0.0:8888",
    }


def test_services_export_to_the_otlp_grpc_receiver(dev: Render) -> None:
    # Every service's traces go to Jaeger's output `otlp_grpc_endpoint`; the receiver must listen on that port.
    assert parsed()["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(f":{OTLP_GRPC_PORT}")
    for container in dev.by_type(CONTAINER):
        env = dict(str(item).split("=", 1) for item in container.inputs.get("envs") or [] if "=" in str(item))
        if "SERVICE_NAME" in env:
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://jaeger.payment-network:{OTLP_GRPC_PORT}"


def test_the_ui_port_is_the_catalog_port_grafana_and_the_profile_use() -> None:
    jaeger = next(i for i in INFRASTRUCTURE if i.name == "jaeger")
    assert (jaeger.port, jaeger.published_port) == (QUERY_HTTP_PORT, 50686)


def test_one_traces_pipeline_from_otlp_into_the_bounded_memory_store() -> None:
    document = parsed(traces=4096)
    service = document["service"]
    assert service["pipelines"] == {
        "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}
    }
    backends = document["extensions"]["jaeger_storage"]["backends"]
    assert backends == {"memory_store": {"memory": {"max_traces": 4096}}}
    # The exporter writes to, and the query reads from, that one backend.
    assert document["exporters"]["jaeger_storage_exporter"]["trace_storage"] == "memory_store"
    assert document["extensions"]["jaeger_query"]["storage"] == {"traces": "memory_store"}


def test_every_referenced_component_is_configured_and_every_configured_one_is_used() -> None:
    document = parsed()
    service = document["service"]
    assert set(service["extensions"]) == set(document["extensions"])
    pipeline = service["pipelines"]["traces"]
    for kind, used in (("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")):
        assert set(pipeline[used]) == set(document[kind]), kind


def test_health_endpoint_is_v2_status_and_the_healthcheck_probes_it_without_a_shell() -> None:
    health = parsed()["extensions"]["healthcheckv2"]
    assert health["use_v2"] is True
    assert health["http"]["status"] == {"enabled": True, "path": "/status"}
    assert healthcheck() == ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HEALTH_PORT}/status"]


def test_trace_count_is_bounded_and_follows_the_memory_limit() -> None:
    assert max_traces(ByteSize.parse("512M")) == 4096
    assert max_traces(ByteSize.parse("1G")) == 8192
    assert max_traces(ByteSize.parse("32M")) == 1000  # a floor, so a tiny limit still keeps recent traces
    for limit in ("256M", "512M", "1G", "4G"):
        size = ByteSize.parse(limit)
        # At the assumed size per trace, the traces fill at most half the memory limit.
        assert max_traces(size) * 64 * 1024 <= int(size) // 2


def test_go_memory_limit_sits_below_the_container_limit() -> None:
    for stack, expected in (("dev", "409MiB"), ("prod", "819MiB")):
        workload = stack_config(stack).infra("jaeger").workload
        assert jaeger_environment(workload) == {"GOMEMLIMIT": expected}


def test_the_rendered_file_is_the_document_and_holds_no_secret() -> None:
    text = render_yaml(jaeger_config(4096))
    assert text.startswith("# Generated by payment-platform")
    assert yaml.safe_load(text) == jaeger_config(4096)
    assert "password" not in text.lower()


# --- the component under the engine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    render: Render
    config: PlatformConfig

    def jaeger(self) -> Resource:
        return self.render.get(CONTAINER, JAEGER)

    def env(self) -> dict[str, str]:
        return dict(str(item).split("=", 1) for item in self.jaeger().inputs["envs"])

    def uploads(self) -> dict[str, dict[str, Any]]:
        return {u["file"]: u for u in container_uploads(self.render, JAEGER)}


def tracing(config: PlatformConfig) -> Render:
    def program() -> None:
        jaeger = Jaeger("payment-jaeger", JaegerArgs(infra=config.infra("jaeger"), host=docker_host(config)))
        pulumi.export("otlpGrpcEndpoint", jaeger.otlp_grpc_endpoint)
        pulumi.export("otlpHttpEndpoint", jaeger.otlp_http_endpoint)
        pulumi.export("queryUrl", jaeger.query_url)
        pulumi.export("uiUrl", jaeger.ui_url)

    return run_program(program, config.project, config.stack)


@functools.cache
def built(stack: str) -> Built:
    config = stack_config(stack)
    return Built(tracing(config), config)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_identity_user_image_command_and_health(stack: str) -> None:
    jaeger = built(stack).jaeger()
    inputs = jaeger.inputs
    assert inputs["name"] == "payment-jaeger"
    assert inputs["hostname"] == "jaeger"
    assert inputs["networksAdvanced"] == attachments(stack, "jaeger")
    assert inputs["user"] == f"{JAEGER_UID}:{JAEGER_UID}"
    assert inputs["command"] == ["--config", CONFIG_PATH]
    assert "entrypoints" not in inputs  # the image's entrypoint, the jaeger binary
    image = built(stack).render.get(REMOTE_IMAGE, "payment-jaeger-image")
    assert image.inputs["name"] == built(stack).config.infra("jaeger").image
    assert inputs["image"] == image.revealed_outputs["imageId"]
    assert inputs["healthcheck"]["tests"] == healthcheck()
    health = built(stack).config.data.health
    assert inputs["healthcheck"]["interval"] == f"{health.interval_seconds}s"
    assert inputs["healthcheck"]["startPeriod"] == f"{health.start_period_seconds}s"
    assert inputs["wait"] is True  # a configuration Jaeger rejects fails `pulumi up`
    assert jaeger.delete_before_replace


def test_the_ui_is_published_on_loopback_in_dev_and_not_at_all_in_prod() -> None:
    assert built("dev").jaeger().inputs["ports"] == [
        {"internal": QUERY_HTTP_PORT, "external": 50686, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert built("prod").jaeger().inputs["ports"] == []
    assert built("dev").render.outputs["uiUrl"] == "http://127.0.0.1:50686"
    assert built("prod").render.outputs.get("uiUrl") is None  # an output of None is not exported


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_endpoints_services_and_grafana_use(stack: str) -> None:
    outputs = built(stack).render.outputs
    assert outputs["otlpGrpcEndpoint"] == f"http://jaeger.payment-network:{OTLP_GRPC_PORT}"
    assert outputs["otlpHttpEndpoint"] == f"http://jaeger.payment-network:{OTLP_HTTP_PORT}"
    assert outputs["queryUrl"] == f"http://jaeger.payment-network:{QUERY_HTTP_PORT}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_configuration_is_the_generated_file_sized_by_the_profile(stack: str) -> None:
    config = built(stack).config
    uploads = built(stack).uploads()
    assert set(uploads) == {CONFIG_PATH}
    upload = uploads[CONFIG_PATH]
    assert (upload["owner"], upload["group"], upload["permissions"]) == (str(JAEGER_UID), str(JAEGER_UID), "0444")
    limit = config.infra("jaeger").workload.limits.memory
    assert upload["content"] == render_yaml(jaeger_config(max_traces(limit)))
    traces = yaml.safe_load(upload["content"])["extensions"]["jaeger_storage"]["backends"]["memory_store"]
    assert traces == {"memory": {"max_traces": {"dev": 4096, "prod": 8192}[stack]}}
    assert built(stack).env() == jaeger_environment(config.infra("jaeger").workload)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_hardened_read_only_non_root_without_capabilities(stack: str) -> None:
    inputs = built(stack).jaeger().inputs
    assert inputs["readOnly"] is True
    assert inputs["tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=64m"}
    assert inputs["capabilities"] == {"drops": ["ALL"]}
    assert inputs["securityOpts"] == ["no-new-privileges:true"]
    assert inputs["privileged"] is False
    assert inputs["networkMode"] == NETWORKED
    # Only the configuration file's folder comes from the files volume, read-only; no host path.
    assert [(m["type"], m["target"], m["readOnly"]) for m in inputs["mounts"]] == [("volume", "/etc/jaeger", True)]
    assert inputs.get("volumes", []) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_limits_logs_restart_and_labels(stack: str) -> None:
    config = built(stack).config
    workload = config.infra("jaeger").workload
    inputs = built(stack).jaeger().inputs
    assert (inputs["memory"], inputs["memoryReservation"]) == (
        workload.limits.memory.mebibytes,
        workload.reservations.memory.mebibytes,
    )
    assert inputs["memory"] == {"dev": 512, "prod": 1024}[stack]
    assert inputs["cpus"] == docker_cpus(workload.limits.cpus)
    assert (inputs["logDriver"], inputs["logOpts"]) == ("json-file", {"max-size": "10m", "max-file": "3"})
    assert (inputs["restart"], inputs.get("maxRetryCount")) == ("unless-stopped", None)
    assert {label["label"]: label["value"] for label in inputs["labels"]} == platform_labels(
        config.project, config.stack, config.profile
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_anywhere(stack: str) -> None:
    render = built(stack).render
    for resource in render.resources:
        for source in (resource.inputs, resource.revealed_inputs):
            text = json.dumps(source)
            assert SECRET not in text and SECRET_MARKER not in text, resource.name
