"""p. cAdvisor without root, the host's root filesystem or the Docker socket (issue 14, item 4): the engine shows
cAdvisor as a non-root user with no socket and no host-root bind, only payment-docker-api-proxy holds the socket,
Prometheus's cadvisor target is up with a named series of a service container, and a container creation through
the proxy is refused."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from components.docker.hardening import exposes_docker_socket
from components.observability.exporters import DOCKER_API_PROXY, PROXY_SOCKET, PROXY_SOCKET_DIR
from stacks.catalog import CADVISOR, DEMO
from tests.e2e.live import Live, docker, inspect, operator_tls

CADVISOR_CONTAINER = f"payment-{CADVISOR.name}"
PROXY_CONTAINER = f"payment-{DOCKER_API_PROXY}"
SERVICE_CONTAINER = "payment-order-service"
"""A service container of the dev stack whose series the dashboards chart by `name`."""


def _uid(container: dict[str, Any]) -> str:
    return str(container["Config"].get("User") or "0").split(":", 1)[0]


def _binds(container: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in container.get("Mounts") or [] if m.get("Type") == "bind"]


def test_cadvisor_runs_as_a_non_root_user_without_the_socket_or_the_host_root(deployed: Live) -> None:
    """docker inspect payment-cadvisor: a non-root uid, no capability, and read-only binds that are neither the
    socket, nor a folder holding it, nor the host's /."""
    (cadvisor,) = inspect([CADVISOR_CONTAINER])
    assert _uid(cadvisor) not in ("0", "root"), cadvisor["Config"].get("User")
    assert "ALL" in (cadvisor["HostConfig"].get("CapDrop") or []), cadvisor["HostConfig"].get("CapDrop")
    binds = _binds(cadvisor)
    sources = sorted(m["Source"] for m in binds)
    assert not any(exposes_docker_socket(s) for s in sources), sources  # "/" and /var/run hold the socket too
    assert all(m.get("RW") is False for m in binds), binds
    volumes = [m for m in cadvisor.get("Mounts") or [] if m.get("Type") == "volume"]
    assert [(m["Destination"], m.get("RW")) for m in volumes] == [(PROXY_SOCKET_DIR, False)], volumes
    deployed.results["cadvisorUser"] = cadvisor["Config"].get("User")


def test_only_the_docker_api_proxy_holds_the_socket(deployed: Live) -> None:
    holders = {
        c["Name"].lstrip("/"): c["Config"].get("User")
        for c in deployed.containers()
        if any(exposes_docker_socket(m["Source"]) for m in _binds(c))
    }
    assert list(holders) == [PROXY_CONTAINER], holders
    assert str(holders[PROXY_CONTAINER]).split(":", 1)[0] not in ("", "0", "root"), holders


def test_a_container_creation_through_the_proxy_is_refused(deployed: Live) -> None:
    """With cAdvisor's user and its read-only view of the proxy's socket, POST /containers/create gets 403."""
    (cadvisor,) = inspect([CADVISOR_CONTAINER])
    (volume,) = [m["Name"] for m in cadvisor["Mounts"] if m.get("Type") == "volume"]
    # The demo image (nginx-unprivileged, Alpine) carries curl; no network, nothing kept.
    out = docker(
        "run", "--rm", "--network=none", "--read-only", "--cap-drop=ALL", "--user", cadvisor["Config"]["User"],
        f"--mount=type=volume,src={volume},dst={PROXY_SOCKET_DIR},readonly", "--entrypoint", "curl",
        deployed.images[DEMO], "-s", "-w", " %{http_code}", "--unix-socket", PROXY_SOCKET, "-X", "POST",
        "-H", "Content-Type: application/json", "-d", '{"Image":"busybox","HostConfig":{"Binds":["/:/host"]}}',
        "http://docker/v1.45/containers/create",
    )  # fmt: skip
    assert out.strip().endswith(" 403"), out
    assert "docker-api-proxy" in out, out


def _prometheus(deployed: Live, ca_file: Path, tmp_path: Path, path: str) -> dict[str, Any]:
    """GET `path` of Prometheus's API with the operator certificate, as test_d_data reads the targets."""
    outputs = deployed.outputs(show_secrets=True)
    context = operator_tls(outputs, ca_file, tmp_path)
    url = outputs["urls"]["prometheus"].rstrip("/") + path
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        document: dict[str, Any] = json.load(response)
        return document


def test_prometheus_scrapes_cadvisor_with_container_names(deployed: Live, ca_file: Path, tmp_path: Path) -> None:
    """The cadvisor target is up and `container_memory_usage_bytes{name="payment-order-service"}` exists."""
    query = "/api/v1/query?" + urllib.parse.urlencode(
        {"query": f'container_memory_usage_bytes{{job="{CADVISOR.name}", name="{SERVICE_CONTAINER}"}}'}
    )
    started = time.monotonic()
    health, series = "?", []
    while time.monotonic() - started < 120:
        targets = _prometheus(deployed, ca_file, tmp_path, "/api/v1/targets?state=active")["data"]["activeTargets"]
        health = ",".join(t["health"] for t in targets if t["labels"].get("job") == CADVISOR.name) or "absent"
        series = _prometheus(deployed, ca_file, tmp_path, query)["data"]["result"]
        if health == "up" and series:
            break
        time.sleep(3)
    elapsed = time.monotonic() - started
    assert health == "up", f"cadvisor target: {health} after {elapsed:.0f} s"
    assert series, f"no container_memory_usage_bytes series named {SERVICE_CONTAINER} after {elapsed:.0f} s"
    deployed.results["cadvisorNamedSeriesAfterSeconds"] = round(elapsed, 1)
