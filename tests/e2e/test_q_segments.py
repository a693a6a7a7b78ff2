"""q. Segmentation on the real engine: a container opens connections only where the catalog gives it a reason.

Every probe runs inside a platform container (`docker exec`, bash's /dev/tcp with a timeout); nothing is sent from
the host to the networks' addresses. Names that do not resolve are also tried by address (each address the target
has on any network), so a refusal is the engine's isolation, not only DNS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.catalog import CADVISOR, GRAFANA, POSTGRES, POSTGRES_EXPORTER
from tests.e2e.live import Live, docker, docker_exec, inspect

CONNECT = 'exec 3<>"/dev/tcp/$0/$1"'
"""Opens a TCP connection to host $0, port $1, and exits 0 once it is established."""


def connects(container: str, host: str, port: int) -> bool:
    out = docker_exec(container, "timeout", "4", "bash", "-c", CONNECT, host, str(port), timeout=30)
    return out.returncode == 0


def addresses(container: str) -> dict[str, str]:
    """The container's address on each of its networks."""
    networks: dict[str, Any] = inspect([container])[0]["NetworkSettings"]["Networks"]
    return {name: n["IPAddress"] for name, n in networks.items() if n.get("IPAddress")}


def reaches(client: str, target: str, port: int) -> list[str]:
    """Every way `client` got through to `target`: its name, or any of its addresses."""
    ways = [target.removeprefix("payment-"), *addresses(target).values()]
    return [way for way in ways if connects(client, way, port)]


def test_the_probe_itself_works(deployed: Live) -> None:
    # A caller reaches its callee and its database: without this, every refusal below could be a broken probe.
    assert connects("payment-order-service", "channel-adapter", 40005)
    assert connects("payment-order-service", POSTGRES.name, POSTGRES.port)


@pytest.mark.parametrize(
    ("client", "target", "port"),
    [
        # Data tier: Kafka has no reason to reach PostgreSQL.
        ("payment-kafka", "payment-postgres", POSTGRES.port),
        ("payment-redis", "payment-postgres", POSTGRES.port),
        # Monitoring: services never reach Grafana or cAdvisor (they do share their stores' networks with the stores'
        # exporters), Grafana never reaches a data store.
        ("payment-order-service", f"payment-{GRAFANA.name}", GRAFANA.port),
        ("payment-order-service", f"payment-{CADVISOR.name}", CADVISOR.port),
        ("payment-grafana", "payment-postgres", POSTGRES.port),
        # The gateway reaches services, not the stores behind them.
        ("payment-kong", "payment-postgres", POSTGRES.port),
    ],
)
def test_a_container_cannot_reach_what_it_has_no_reason_to(deployed: Live, client: str, target: str, port: int) -> None:
    assert reaches(client, target, port) == []
    deployed.results.setdefault("segmentationRefusals", []).append(f"{client} -> {target}:{port}")


def test_each_network_is_internal_as_declared(deployed: Live) -> None:
    # prod: every tier network internal, an edge network per published container; dev: none internal (profile).
    segments = deployed.outputs()["network"]["segments"]
    found = {name: inspect_network(name)["Internal"] for name in segments}
    assert found == {name: segment["internal"] for name, segment in segments.items()}


def test_a_container_has_a_route_off_the_host_only_through_a_network_that_is_not_internal(deployed: Live) -> None:
    segments = deployed.outputs()["network"]["segments"]
    exporter = POSTGRES_EXPORTER.name
    routes = docker_exec(f"payment-{exporter}", "cat", "/proc/net/route")
    assert routes.returncode == 0, routes.stderr
    # /proc/net/route: Iface, Destination (hex), Gateway, ...; a default route has destination 00000000.
    destinations = [line.split()[1] for line in routes.stdout.splitlines()[1:] if line.strip()]
    outside = any(not s["internal"] for s in segments.values() if exporter in s["members"])
    assert destinations and ("00000000" in destinations) is outside


def inspect_network(name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(docker("network", "inspect", name))
    return found[0]
