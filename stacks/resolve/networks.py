"""Which networks the stack has and who joins each: derived from who must reach whom, never listed by hand.

A Docker bridge network has no per-port or per-pair rules: containers on the same network reach every port of
each other, containers that share no network cannot reach each other at all (the engine drops traffic between
bridges, and a name on a network the caller is not on does not resolve). So each network is one group of servers
plus exactly the clients the catalog gives a reason to reach them:

* `payment-network` (the seed's 172.28.0.0/16): every service, with its clients: callers (`calls`), Kong (`ROUTES`)
  and Prometheus (a scrape job per service).
* `payment-data-<store>`, one per data store (PostgreSQL, Redis, Kafka): the store, every service (each has a
  database, a key prefix and topics) and the store's exporter.
* `payment-tracing`: Jaeger's OTLP receiver and every service (each is given `OTEL_EXPORTER_OTLP_ENDPOINT`).
* `payment-monitoring`: Prometheus, Jaeger's query API and the exporters, with Grafana (its two data sources).
* `payment-edge-<name>` (prod): one per container that is published on the host (Kong; Grafana on 127.0.0.1) or
  talks to the outside (the owners of switched-on integrations: Stripe, SMTP), with that container alone. These are
  the only networks with a route off the host; the tier networks above are `internal`.

Why an edge network per container, not one shared with inter-container traffic off: the engine's DNS answers a
name from the asking container's networks in a fixed order, networks that are not internal first. On a shared edge
network Kong would get channel-adapter's edge address (where traffic between members is dropped) for the Stripe
webhook route, and in dev every service would get every other's. A network holding one container resolves nobody.

The dev profile (`Profile.internal_networks`) keeps the segmentation but not the no-egress part: its tier networks
are not internal and carry the published ports themselves, because the seed publishes every port on the
developer's 127.0.0.1 and 26 edge networks would exhaust the engine's default address pools.

What this does not separate: the members of one network reach each other. Two services on `payment-network` that
have no call between them are kept apart by mTLS authorization (each service accepts only its callers'
certificates), not by the network; Grafana reaches an exporter's port although it only queries Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.catalog import (
    APP_NETWORK,
    DATA_STORES,
    EXPORTERS,
    GRAFANA,
    JAEGER,
    KONG,
    MONITORING_NETWORK,
    PROMETHEUS,
    TRACING_NETWORK,
    CatalogNetwork,
    Integration,
    edge_network,
    store_network,
)
from stacks.models import Infrastructure, Network, Segment, Service


def segments(
    network: Network,
    services: Iterable[Service],
    infrastructure: Iterable[Infrastructure],
    integrations: frozenset[Integration],
    *,
    internal: bool,
) -> tuple[Segment, ...]:
    """Every network of the stack with its members, the seed's `network` first. `integrations`: those switched on;
    `internal`: the profile's `internal_networks`."""
    services, infrastructure = tuple(services), tuple(infrastructure)
    names = [s.name for s in services]
    deployed = {i.name for i in infrastructure}

    def segment(spec: CatalogNetwork, members: Iterable[str], *, tier: bool = True) -> Segment:
        return Segment(
            name=spec.name, title=spec.title, internal=internal and tier, members=tuple(sorted(set(members)))
        )

    app = segment(APP_NETWORK, [*names, KONG.name, PROMETHEUS.name]).model_copy(
        update={"name": network.name, "subnet": network.subnet, "gateway": network.gateway}
    )
    stores = [
        segment(store_network(store), [store.name, *names, *(e.name for e in EXPORTERS if e.target == store.name)])
        for store in DATA_STORES
        if store.name in deployed
    ]
    tracing = segment(TRACING_NETWORK, [JAEGER.name, *names])
    monitoring = segment(MONITORING_NETWORK, [PROMETHEUS.name, GRAFANA.name, JAEGER.name, *(e.name for e in EXPORTERS)])
    edges: list[Segment] = []
    if internal:
        outside = [s.name for s in services if s.workload.publish.enabled or s.integrations & integrations]
        outside += [i.name for i in infrastructure if i.workload.publish.enabled]
        edges = [segment(edge_network(name), [name], tier=False) for name in sorted(set(outside))]
    return (app, *stores, tracing, monitoring, *edges)
