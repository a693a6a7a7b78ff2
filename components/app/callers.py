"""Who may call a service over mTLS: the allow lists every service enforces, by certificate subject.

The platform CA signs every certificate the platform holds (services, Redis, PostgreSQL, Prometheus, Kong, the
operator), so a verified chain only proves "one of ours". Each service therefore also checks the common name
of the client certificate, which the CA sets to the subject's catalog name (`components.pki.subject_fields`);
the CA being the platform's own, CN plus a verified chain is an identity. Three lists, each complete for its
endpoints, so an image checks one list per request:

* `MTLS_ALLOWED_CLIENTS`: the API (every path but the two below). The services whose `calls` name this one
  (`Service.callers`, the inverse of the call graph, stack-declared services included), and `kong` where a
  public route leads to the service. Empty when nothing calls it: then nobody may, never "anybody".
* `MTLS_HEALTH_CLIENTS`: `GET /health`. The API's callers (Kong's active health checks, a caller probing its
  upstream), `operator` (`make health`), and the service itself: the default Docker healthcheck
  (`components.app.demo.health_command`) presents the container's own certificate, the only one it holds.
* `MTLS_METRICS_CLIENTS`: `GET /metrics`. `prometheus` only. Not the operator: its key is the one handed to
  people and tools (`operatorKey` output), so it is the most exposed, and the series (payment counts and
  outcomes) are read through Prometheus and Grafana anyway. Not the callers: they need none of it.

A client the list does not name gets HTTP 403 after a completed handshake, so a caller tells "not allowed"
from a transport or trust failure (a failed handshake, or nginx's 400 for a missing or foreign certificate).
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.catalog import KONG, OPERATOR, PROMETHEUS
from stacks.models import SERVICE_NAME, Service

API_VARIABLE = "MTLS_ALLOWED_CLIENTS"
HEALTH_VARIABLE = "MTLS_HEALTH_CLIENTS"
METRICS_VARIABLE = "MTLS_METRICS_CLIENTS"

HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Clients:
    """Certificate common names a service accepts, by endpoint; each tuple sorted and complete on its own."""

    api: tuple[str, ...]
    """Every path but /health and /metrics."""
    health: tuple[str, ...]
    """GET /health."""
    metrics: tuple[str, ...]
    """GET /metrics."""

    def __post_init__(self) -> None:
        # The names go into nginx map keys and comma-separated variables unescaped.
        for name in (*self.api, *self.health, *self.metrics):
            if not SERVICE_NAME.fullmatch(name):
                raise ValueError(f"client name {name!r} is not a DNS label")


def service_clients(service: Service, routed: bool) -> Clients:
    """The allow lists of `service`; `routed`: a public route leads to it, so Kong calls it."""
    api = {*service.callers, *((KONG.name,) if routed else ())}
    return Clients(
        api=tuple(sorted(api)),
        health=tuple(sorted({*api, OPERATOR, service.name})),
        metrics=(PROMETHEUS.name,),
    )


def clients_environment(clients: Clients) -> dict[str, str]:
    """The env contract that tells a real service image whom to accept (comma-separated common names)."""
    return {
        API_VARIABLE: ",".join(clients.api),
        HEALTH_VARIABLE: ",".join(clients.health),
        METRICS_VARIABLE: ",".join(clients.metrics),
    }
