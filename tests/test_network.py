"""Segmentation: every reach the catalog gives a reason for shares a network, and nothing else does.

The expected reaches are written here from the catalog's own facts (call graph, routes, scrape jobs, data-store use,
exporters' targets), independently of `stacks.resolve.networks`, so a membership rule that is too wide (Kafka next
to PostgreSQL) or too narrow (a caller cut off from its callee) fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any

import pytest

from components.docker.containers import NETWORKED
from plan import Render
from stacks.catalog import (
    APP_NETWORK,
    DATA_STORES,
    EXPORTERS,
    GRAFANA,
    JAEGER,
    KAFKA,
    KONG,
    POSTGRES,
    PROMETHEUS,
    REDIS,
    ROUTES,
    Integration,
    edge_network,
    integration_owner,
)
from stacks.models import PlatformConfig
from tests.conftest import stack_config
from vocabulary import CONTAINER, NETWORK

Pair = frozenset[str]


def pair(a: str, b: str) -> Pair:
    return frozenset((a, b))


def reasons(config: PlatformConfig) -> set[Pair]:
    """Every (client, server) pair the catalog gives a reason to talk, as unordered pairs."""
    services = [s.name for s in config.services]
    found = {pair(s.name, callee) for s in config.services for callee in s.calls}
    found |= {pair(KONG.name, route.service) for route in ROUTES}
    found |= {pair(PROMETHEUS.name, name) for name in (*services, KONG.name, *(e.name for e in EXPORTERS))}
    found |= {pair(name, store.name) for name in services for store in DATA_STORES}
    found |= {pair(name, JAEGER.name) for name in services}
    found |= {pair(GRAFANA.name, PROMETHEUS.name), pair(GRAFANA.name, JAEGER.name)}
    found |= {pair(e.name, e.target) for e in EXPORTERS if e.target != "containers"}
    return found


def shared(config: PlatformConfig) -> set[Pair]:
    """Pairs of containers that share a network."""
    return {pair(a, b) for segment in config.segments for a, b in combinations(segment.members, 2)}


def tolerated(config: PlatformConfig) -> set[Pair]:
    """Reach a plain bridge cannot take away, documented in `stacks.resolve.networks`: members of one network reach
    each other. Services among themselves (mTLS authorization refuses a non-caller), Kong and Prometheus with every
    service, the services with each other's data stores' other clients (themselves), and the monitoring network's
    members with each other."""
    services = [s.name for s in config.services]
    monitoring = [PROMETHEUS.name, GRAFANA.name, JAEGER.name, *(e.name for e in EXPORTERS)]
    found = {pair(a, b) for a, b in combinations([*services, KONG.name, PROMETHEUS.name], 2)}
    found |= {pair(a, b) for a, b in combinations(monitoring, 2)}
    found |= {pair(name, e.name) for name in services for e in EXPORTERS if e.target in {s.name for s in DATA_STORES}}
    return found


@pytest.fixture(scope="module", params=["dev", "prod"])
def config(request: pytest.FixtureRequest) -> PlatformConfig:
    return stack_config(request.param)


def test_every_reach_the_catalog_gives_a_reason_for_shares_a_network(config: PlatformConfig) -> None:
    missing = sorted(sorted(p) for p in reasons(config) - shared(config))
    assert missing == []


def test_nothing_else_shares_a_network(config: PlatformConfig) -> None:
    extra = sorted(sorted(p) for p in shared(config) - reasons(config) - tolerated(config))
    assert extra == []


def test_the_data_stores_share_no_network_they_can_talk_on(config: PlatformConfig) -> None:
    talk = shared(config)
    for a, b in combinations([s.name for s in DATA_STORES], 2):
        assert pair(a, b) not in talk
    for store in DATA_STORES:
        for other in (GRAFANA.name, KONG.name, JAEGER.name, PROMETHEUS.name):
            assert pair(store.name, other) not in talk, f"{other} can reach {store.name}"
    assert pair(KAFKA.name, POSTGRES.name) not in talk and pair(KAFKA.name, REDIS.name) not in talk


def test_the_seed_network_keeps_its_name_subnet_and_every_service(config: PlatformConfig) -> None:
    app = config.segments[0]
    assert (app.name, str(app.subnet), str(app.gateway)) == (APP_NETWORK.name, "172.28.0.0/16", "172.28.0.1")
    assert {s.name for s in config.services} <= set(app.members)


def edges(config: PlatformConfig) -> dict[str, tuple[str, ...]]:
    return {s.name: s.members for s in config.segments if s.name.startswith("payment-edge-")}


def test_prod_leaves_the_host_only_through_edge_networks_of_one_container_each() -> None:
    prod = stack_config("prod")
    for segment in prod.segments:
        assert segment.internal is (segment.name not in edges(prod)), segment.name
    assert all(members == (name.removeprefix("payment-edge-"),) for name, members in edges(prod).items())


def test_prod_publishes_only_kong_and_gives_egress_only_to_switched_on_integrations() -> None:
    prod = stack_config("prod")
    # Kong on every address; Grafana on 127.0.0.1 for operators (an SSH tunnel), as the prod profile publishes it.
    assert sorted(edges(prod)) == [edge_network(GRAFANA.name).name, edge_network(KONG.name).name]
    publish = {i.name: i.workload.publish for i in prod.infrastructure}
    assert [name for name, p in publish.items() if p.enabled and not p.address.is_loopback] == [KONG.name]
    stripe = stack_config("prod", stripe={"enabled": True}, secrets=STRIPE_SECRETS)
    owner = integration_owner(Integration.STRIPE)
    assert set(edges(stripe)) - set(edges(prod)) == {edge_network(owner).name}
    # Kong calls the owner for the webhook route: they share payment-network and no network with a route out, where
    # the engine's DNS would answer first (stacks.resolve.networks).
    assert [s.name for s in stripe.segments if {KONG.name, owner} <= set(s.members)] == [APP_NETWORK.name]


STRIPE_SECRETS = {"stripe-api-key": "sk_live_" + "x" * 40, "stripe-webhook-secret": "whsec_" + "y" * 40}


def test_dev_keeps_the_segments_but_lets_them_carry_the_published_ports() -> None:
    dev = stack_config("dev")
    assert edges(dev) == {}
    assert all(not s.internal for s in dev.segments)


def _containers(render: Render, names: Iterable[str]) -> dict[str, Any]:
    wanted = set(names)
    return {r.inputs["name"]: r.inputs for r in render.resources if r.type == CONTAINER and r.inputs["name"] in wanted}


def test_the_render_creates_each_network_and_joins_each_container_with_its_aliases(dev: Render) -> None:
    config = stack_config("dev")
    networks = {r.inputs["name"]: r.inputs for r in dev.resources if r.type == NETWORK}
    assert set(networks) == {s.name for s in config.segments}
    for segment in config.segments:
        inputs = networks[segment.name]
        assert inputs["internal"] is segment.internal
    for name, inputs in _containers(dev, ["payment-kafka", "payment-order-service", "payment-cadvisor"]).items():
        alias = name.removeprefix("payment-")
        joined = [n["name"] for n in inputs["networksAdvanced"]]
        assert joined == list(config.networks_of(alias))
        assert inputs["networkMode"] == NETWORKED
        for attachment in inputs["networksAdvanced"]:
            assert attachment["aliases"] == [alias, f"{alias}.{APP_NETWORK.name}"]
