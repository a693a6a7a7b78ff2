"""n. Callers: a service accepts mTLS only from the certificates its allow lists name (components/app/callers.py).

A caller in the catalog's call graph gets through (200 on /health, the stand-in's 404 on an API path); a service
that does not call it gets 403 with its own valid certificate; Prometheus's certificate reads /metrics and is
refused /health; the operator's reads /health and is refused /metrics. 403 comes after a completed handshake,
so it is the service saying "not you", not a transport failure.

The stranger calls over the platform network from its own container. Where the network itself refuses that
connection (tier isolation), curl reports no HTTP status at all; the same certificate is then presented from
inside the callee's container (`localhost`), which the network cannot refuse, so the 403 is still shown. The
Prometheus and operator identities are presented that way too: their key pairs are copied into the callee's
/tmp (its tmpfs, mode 0600) through `docker exec` pipes, never printed or put on a command line, and removed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from components.observability.prometheus import PrometheusPaths
from components.pki import CA_FILE, service_cert_paths
from stacks.catalog import CALLS, OPERATOR, PROMETHEUS
from tests.e2e.live import Live, docker_exec

CALLEE = "channel-adapter"
CALLER = "order-service"
"""Calls channel-adapter in the catalog's call graph (CHANNEL_ADAPTER_SERVICE_URL)."""
STRANGER = "notification-service"
"""Calls no service, so in particular not channel-adapter."""
API = "/v1/charges"
"""A path of the API: the demo stand-in has none, so an allowed caller gets 404 and anybody else 403."""
COPIED = "/tmp/e2e-identity.pem"


def _container(service: str) -> str:
    return f"payment-{service}"


def _status(container: str, url: str, *tls: str) -> str:
    """The HTTP status curl got in `container` for GET `url` presenting `tls`; "000" when no HTTP answer came."""
    out = docker_exec(
        container, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
        "--cacert", CA_FILE, *tls, url,
    )  # fmt: skip
    return out.stdout.strip() or "000"


def _callee_url(outputs: dict[str, Any], path: str, host: str | None = None) -> str:
    """The callee's `path` at `host` (default: its name on the platform network, as its callers address it)."""
    network = outputs["network"]["name"]
    return f"https://{host or f'{CALLEE}.{network}'}:{outputs['services'][CALLEE]['port']}{path}"


def _read(container: str, *paths: str) -> str:
    """The files' text, read inside `container` as its own user (keys are 0400, owned by it)."""
    texts = []
    for path in paths:
        out = docker_exec(container, "cat", path)
        assert out.returncode == 0, f"cannot read {path} in {container}: {out.stderr.strip()}"
        texts.append(out.stdout.rstrip("\n") + "\n")
    return "".join(texts)


@pytest.fixture
def outputs(deployed: Live) -> dict[str, Any]:
    return deployed.outputs(show_secrets=True)


@pytest.fixture
def in_callee() -> Iterator[Any]:
    """Presents a key pair (PEM text) from inside the callee's container: GET https://localhost:<port><path>."""

    def present(pem: str, outputs: dict[str, Any], path: str) -> str:
        copied = subprocess.run(
            ["docker", "exec", "-i", _container(CALLEE), "sh", "-c", f"umask 077 && cat > {COPIED}"],
            input=pem, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        assert copied.returncode == 0, copied.stderr
        return _status(_container(CALLEE), _callee_url(outputs, path, "localhost"), "--cert", COPIED)

    try:
        yield present
    finally:
        docker_exec(_container(CALLEE), "rm", "-f", COPIED)


def test_a_caller_in_the_call_graph_gets_through(deployed: Live, outputs: dict[str, Any]) -> None:
    assert CALLEE in CALLS[CALLER]
    cert, key = service_cert_paths(CALLER)
    seen = {path: _status(_container(CALLER), _callee_url(outputs, path), "--cert", cert, "--key", key)
            for path in ("/health", API)}  # fmt: skip
    assert seen == {"/health": "200", API: "404"}, f"{CALLER} -> {CALLEE}: {seen}"
    deployed.results["callerAllowed"] = seen


def test_a_service_that_does_not_call_it_gets_403(deployed: Live, outputs: dict[str, Any], in_callee: Any) -> None:
    assert STRANGER not in CALLS and STRANGER != CALLEE
    cert, key = service_cert_paths(STRANGER)
    over_network = {path: _status(_container(STRANGER), _callee_url(outputs, path), "--cert", cert, "--key", key)
                    for path in ("/health", API)}  # fmt: skip
    assert set(over_network.values()) <= {"403", "000"}, f"{STRANGER} -> {CALLEE}: {over_network}"
    seen = dict(over_network)
    if "000" in over_network.values():  # the network refused the connection: show the service's own refusal
        pem = _read(_container(STRANGER), cert, key)
        seen = {path: in_callee(pem, outputs, path) for path in ("/health", API)}
    assert seen == {"/health": "403", API: "403"}, f"{STRANGER}'s certificate at {CALLEE}: {seen}"
    deployed.results["strangerRefused"] = {"overNetwork": over_network, "status": seen}


def test_prometheus_reads_metrics_only(deployed: Live, outputs: dict[str, Any], in_callee: Any) -> None:
    paths = PrometheusPaths()
    pem = _read(_container(PROMETHEUS.name), paths.cert, paths.key)
    seen = {path: in_callee(pem, outputs, path) for path in ("/metrics", "/health", API)}
    assert seen == {"/metrics": "200", "/health": "403", API: "403"}, f"{PROMETHEUS.name}'s certificate: {seen}"
    deployed.results["prometheusIdentity"] = seen


def test_the_operator_reads_health_only(deployed: Live, outputs: dict[str, Any], in_callee: Any) -> None:
    pem = str(outputs["operatorCertificate"]).rstrip("\n") + "\n" + str(outputs["operatorKey"])
    seen = {path: in_callee(pem, outputs, path) for path in ("/health", "/metrics", API)}
    assert seen == {"/health": "200", "/metrics": "403", API: "403"}, f"the {OPERATOR} certificate: {seen}"
    deployed.results["operatorIdentity"] = seen
