"""The demo image (nginx 1.26, what the stack runs) enforces each service's caller allow lists by certificate CN.

The rendered dev stack (certificates issued for real: `tests.support.tlsmodel.Faithful`) gives
`payment-payment-gateway` with its generated nginx.conf, key pair and trust bundle, loaded by the local loader
image; it runs with the local demo image on Docker's default bridge, its port published on 127.0.0.1 only, and
the test calls it from the host with the stack's own certificates of other subjects. The host's nginx (tests/
test_demo.py) may be another version: this is the server the containers run. Printed timings: `pytest -s`.
"""

from __future__ import annotations

import http.client
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.app.demo import IMAGE_CONTRACT as DEMO_CONTRACT
from stacks.catalog import CALLS, KONG, OPERATOR, PROMETHEUS, REDIS
from tests.conftest import faithful, free_port, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import container_named, sandbox, wait_healthy
from tests.test_pki_tls import bundle, leaf

HEALTHY_WITHIN = 60
GATEWAY = "payment-gateway"
CALLER = "cashier-service"
"""Calls payment-gateway in the catalog's call graph."""
STRANGER = "risk-service"
"""payment-gateway calls it; it does not call payment-gateway."""
API = "/api/v1/payments/x"


def needs(*names: str) -> None:
    for name in names:
        if docker("image", "inspect", local_ref(CONTRACTS[name])).returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def answer(port: int, path: str, subject: str) -> tuple[int, bytes]:
    """GET `path` over mTLS as `subject` (the dev stack's certificate of that name), server verified."""
    dev = faithful("dev")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=bundle(dev))
    cert, key = leaf(dev, subject)
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_text(cert)
        key_file.touch(mode=0o600)
        key_file.write_text(key)
        context.load_cert_chain(cert_file, key_file)
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def gateway(engine: str) -> Iterator[int]:
    """payment-gateway's demo stand-in running as rendered; the 127.0.0.1 port its mTLS port is published on."""
    needs("demo", "loader")
    dev = faithful("dev")
    service = container_named(dev, f"payment-{GATEWAY}")
    port = free_port()
    published = [p["internal"] for p in service.inputs["ports"]]
    assert len(published) == 1, service.inputs["ports"]
    with sandbox("callers") as box:
        name = box.run_rendered(
            dev,
            service,
            local_ref(DEMO_CONTRACT),
            local_ref(CONTRACTS["loader"]),
            "--network=bridge",
            f"--publish=127.0.0.1:{port}:{published[0]}",
        )
        # Its own Docker healthcheck: GET /health with the container's own certificate, allowed on /health.
        seconds = wait_healthy(name, service.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"{name}: healthy after {seconds:.1f} s")
        deadline = time.monotonic() + 30
        while True:
            try:
                answer(port, "/health", OPERATOR)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"127.0.0.1:{port} answers no TLS: {shown(docker('logs', name))}") from None
                time.sleep(0.5)
        yield port


@pytest.mark.parametrize(
    ("subject", "path", "status"),
    [
        (CALLER, "/health", 200),
        (CALLER, API, 404),  # allowed; the stand-in has no API
        (CALLER, "/metrics", 403),
        (KONG.name, API, 404),  # a public route leads to payment-gateway
        (STRANGER, "/health", 403),
        (STRANGER, API, 403),
        (PROMETHEUS.name, "/metrics", 200),
        (PROMETHEUS.name, "/health", 403),
        (OPERATOR, "/health", 200),
        (OPERATOR, "/metrics", 403),
        (REDIS.name, "/health", 403),
    ],
)
def test_the_stand_in_admits_each_endpoints_list_only(gateway: int, subject: str, path: str, status: int) -> None:
    """Callers and Kong reach the API, Prometheus /metrics, the operator /health; any other certificate of the
    platform CA gets 403 after a completed handshake."""
    assert GATEWAY in CALLS[CALLER] and GATEWAY not in CALLS[STRANGER]
    code, body = answer(gateway, path, subject)
    assert code == status, (subject, path, code, body[:200])
    if status == 403:
        assert b"UP" not in body and b"http_requests_total" not in body, body[:200]
    if (subject, status) == (PROMETHEUS.name, 200):
        assert b'payment_demo_info{service="payment-gateway"} 1' in body
