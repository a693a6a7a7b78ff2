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
* `payment-edge`, the only one with a route off the host: whatever the stack publishes on the host, and the owners
  of switched-on integrations (egress to Stripe, SMTP). Its bridge drops traffic between its members.

What this does not separate: the members of one network reach each other. Two services on `payment-network` that
have no call between them are kept apart by mTLS authorization (each service accepts only its callers'
certificates), not by the network; Grafana reaches an exporter's port although it only queries Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.catalog import (
    APP_NETWORK,
    DATA_STORES,
    EDGE_NETWORK,
    EXPORTERS,
    GRAFANA,
    JAEGER,
    KONG,
    MONITORING_NETWORK,
    PROMETHEUS,
    TRACING_NETWORK,
    CatalogNetwork,
    Integration,
    store_network,
)
from stacks.models import Infrastructure, Network, Segment, Service


def segments(
    network: Network,
    services: Iterable[Service],
    infrastructure: Iterable[Infrastructure],
    integrations: frozenset[Integration],
) -> tuple[Segment, ...]:
    """Every network of the stack with its members, the seed's `network` first. `integrations`: those switched on."""
    services, infrastructure = tuple(services), tuple(infrastructure)
    names = [s.name for s in services]
    deployed = {i.name for i in infrastructure}
    published = [s.name for s in services if s.workload.publish.enabled]
    published += [i.name for i in infrastructure if i.workload.publish.enabled]
    egress = [s.name for s in services if s.integrations & integrations]

    def segment(spec: CatalogNetwork, members: Iterable[str]) -> Segment:
        return Segment(
            name=spec.name,
            title=spec.title,
            internal=spec.internal,
            isolated=spec.isolated,
            members=tuple(sorted(set(members))),
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
    edge = segment(EDGE_NETWORK, [*published, *egress])
    found = (app, *stores, tracing, monitoring, edge)
    return tuple(s for s in found if s.members)
