"""The local Kong STAND-IN runs the program's own gateway container: TLS at the edge, mTLS to the services.

The rendered dev stack (certificates issued for real: `tests.support.tlsmodel.Faithful`) gives `payment-kong` (user,
read-only root, prefix tmpfs, KONG_* environment, declarative file with the operator consumer, client and server
certificate and trust bundle loaded by the local loader image, healthcheck), `payment-payment-gateway` and
`payment-admin-bff-service` (the demo stand-in service: nginx requiring a client certificate from the platform CA).
They run on a private network of their own with the rendered container names as DNS aliases, the local images in
place of `kong:3.9.1` and the demo image. Kong's TLS proxy and Status API are published on 127.0.0.1 only; the test
talks to nothing else, with Python's ssl and http.client, verifying Kong against the rendered CA. A second Kong,
rendered with `gateway.adminAllow` and `gateway.trustedProxies` set, shows the allow-list and the real-IP rules. A
malformed declarative file must stop the node. Printed timings are shown with `pytest -s`.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.app.demo import IMAGE_CONTRACT as DEMO_CONTRACT
from components.gateway.kong import (
    CORRELATION_HEADER,
    HEALTH_ROUTE,
    HSTS_HEADER,
    HSTS_VALUE,
    OPERATOR_KEY_HEADER,
    KongPaths,
    upstream_name,
)
from plan.engine import Render
from stacks.catalog import GATEWAY_OPERATOR_KEY, KONG, SERVICES
from tests.conftest import faithful, free_port, unavailable
from tests.images.conftest import CONTRACTS, PREFIX, docker, local_ref, shown
from tests.images.harness import Sandbox, container_named, sandbox, wait_healthy
from vocabulary import RANDOM_PASSWORD

HEALTHY_WITHIN = 60
GATEWAY = "payment-gateway"
ADMIN = "admin-bff-service"
ABSENT = "merchant-bff-service"
"""A routed service whose container is not started: Kong's active checks must mark it unhealthy."""
ABSENT_PORT = next(s.port for s in SERVICES if s.name == ABSENT)
RESTRICTED = (
    "gateway.adminAllow[0]=192.0.2.0/24",
    "gateway.trustedProxies[0]=10.0.0.0/8",
    "gateway.trustedProxies[1]=172.16.0.0/12",
    "gateway.trustedProxies[2]=192.168.0.0/16",
)
"""The second Kong: operators only from 192.0.2.0/24 (TEST-NET-1), and every private peer a trusted proxy, so the
Docker port proxy (a private address) stands for a load balancer that sends X-Forwarded-For."""


def needs(*names: str) -> None:
    for name in names:
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        if docker("image", "inspect", local_ref(CONTRACTS[name])).returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


@dataclass(frozen=True)
class Edge:
    """A running Kong of a rendered stack: its published ports, the CA that verifies it, the operator key."""

    proxy: int
    status: int
    ca: str
    operator_key: str

    def context(self, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A client that trusts the platform CA alone and checks the name (127.0.0.1 is in Kong's certificate)."""
        context = ssl.create_default_context(cadata=self.ca)
        if maximum is not None:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = maximum
        return context

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """GET over TLS from the host (the proxy published on 127.0.0.1); any status is returned."""
        connection = http.client.HTTPSConnection("127.0.0.1", self.proxy, timeout=10, context=self.context())
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            connection.close()

    def metrics(self) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.status, timeout=10)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


def start_kong(box: Sandbox, render: Render, network: str) -> Edge:
    kong = container_named(render, f"payment-{KONG.name}")
    proxy, status = free_port(), free_port()
    name = box.run_rendered(
        render,
        kong,
        local_ref(CONTRACTS[KONG.name]),
        local_ref(CONTRACTS["loader"]),
        f"--network={network}",
        f"--publish=127.0.0.1:{proxy}:{KONG.port}",
        f"--publish=127.0.0.1:{status}:{KONG.ports['status']}",
    )
    seconds = wait_healthy(name, kong.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
    print(f"kong stand-in: healthy (`kong health`) after {seconds:.1f} s")
    password = render.get(RANDOM_PASSWORD, f"payment-secrets-{GATEWAY_OPERATOR_KEY.name}")
    return Edge(proxy, status, str(render.outputs["caBundle"]), str(password.revealed_outputs["result"]))


@pytest.fixture(scope="module")
def edges(engine: str) -> Iterator[tuple[Edge, Edge]]:
    """The dev stack's Kong, and one with the operator allow-list and trusted proxies set, in front of the
    payment-gateway and admin-bff-service containers."""
    needs(KONG.name, "demo", "loader")
    dev = faithful("dev")
    restricted = faithful("dev", *RESTRICTED)
    network = f"{PREFIX}-kong-net"
    proc = docker("network", "create", network)
    assert proc.returncode == 0, shown(proc)
    try:
        with sandbox("kong") as box:
            for service_name in (GATEWAY, ADMIN):
                service = container_named(dev, f"payment-{service_name}")
                box.run_rendered(
                    dev,
                    service,
                    local_ref(DEMO_CONTRACT),
                    local_ref(CONTRACTS["loader"]),
                    f"--network={network}",
                    f"--network-alias={service.revealed_inputs['name']}",
                )
            first = start_kong(box, dev, network)
            # The same CA and service certificates (one faithful PKI per process): the second Kong reaches the same
            # services. Its container name differs only in the sandbox, so both run side by side.
            with sandbox("kong2") as second:
                yield first, start_kong(second, restricted, network)
    finally:
        docker("network", "rm", network)


@pytest.fixture(scope="module")
def gateway(edges: tuple[Edge, Edge]) -> Edge:
    return edges[0]


def test_a_public_route_reaches_the_service_over_mutual_tls(gateway: Edge) -> None:
    """`/api/v1/payments/...` is proxied to payment-gateway over mTLS: the answer is nginx's, not Kong's, and
    carries the correlation id Kong added."""
    status, headers, body = gateway.get("/api/v1/payments/does-not-exist")
    # The demo service answers 404 to every path but /health and /metrics; Kong would answer 502 (JSON) if
    # the TLS handshake failed either way, and 404 JSON if no route matched.
    assert status == 404 and "nginx" in body and "no Route matched" not in body, (status, headers, body)
    assert headers.get(CORRELATION_HEADER), f"no {CORRELATION_HEADER} echoed: {headers}"
    sent = {CORRELATION_HEADER: "merchant-ticket-42"}
    assert gateway.get("/api/v1/payments/x", sent)[1].get(CORRELATION_HEADER) == "merchant-ticket-42"


def test_kong_answers_health_itself_and_refuses_unknown_paths(gateway: Edge) -> None:
    """The declarative health route is answered by Kong; a path with no route gets Kong's 404."""
    status, _, body = gateway.get("/health")
    assert status == 200, body
    assert json.loads(body) == json.loads(HEALTH_ROUTE["plugins"][0]["config"]["body"]), body
    status, _, body = gateway.get("/not-routed")
    assert status == 404 and json.loads(body)["message"] == "no Route matched with those values", body


def test_status_api_reports_requests_and_target_health(gateway: Edge) -> None:
    """/metrics on the Status API: requests by service and code, and active health checks that keep the
    live service healthy (mTLS probe of /health) and mark the absent one unhealthy."""
    gateway.get("/api/v1/payments/counted")
    gateway_healthy = (
        f'kong_upstream_target_health{{upstream="{upstream_name(GATEWAY)}",target="payment-{GATEWAY}:40003",'
        f'address="payment-{GATEWAY}:40003",state="healthy",subsystem="http"}} 1'
    )
    absent_unhealthy = f'upstream="{upstream_name(ABSENT)}",target="payment-{ABSENT}:{ABSENT_PORT}",'
    started = time.monotonic()
    text = ""
    while time.monotonic() - started < 60:
        code, text = gateway.metrics()
        assert code == 200, text
        lines = text.splitlines()
        if any(absent_unhealthy in line and 'state="unhealthy"' in line and line.endswith(" 1") for line in lines):
            break
        time.sleep(2)
    else:
        pytest.fail(f"the absent service's target was not marked unhealthy within 60 s:\n{text[-3000:]}")
    print(f"kong stand-in: active checks marked the absent target unhealthy after {time.monotonic() - started:.1f} s")
    assert gateway_healthy in text, f"the live service's target is not healthy:\n{text[-3000:]}"
    assert f'kong_http_requests_total{{service="{GATEWAY}"' in text and 'code="404",source="service"' in text, text
    assert "kong_request_latency_ms_bucket{" in text, text[-2000:]


def test_malformed_declarative_config_stops_the_node(engine: str) -> None:
    """A declarative file Kong would reject (an unknown field) stops the node with an error naming it."""
    needs(KONG.name)
    declarative = KongPaths().declarative
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "kong.yml"
        bad.write_text('_format_version: "3.0"\nservices:\n  - name: a\n    host: a\n    prot: http\n')
        bad.chmod(0o644)
        proc = docker(
            "run", "--rm", "--name", f"{PREFIX}-kong-malformed", "--network", "none", "--read-only",
            "--tmpfs", "/tmp", "--cap-drop", "ALL", "--env", "KONG_DATABASE=off",
            "--env", f"KONG_DECLARATIVE_CONFIG={declarative}", "--env", f"KONG_PREFIX={KongPaths().prefix}",
            "--volume", f"{bad}:{declarative}:ro", local_ref(CONTRACTS[KONG.name]),
            timeout=60,
        )  # fmt: skip
    assert proc.returncode != 0, f"the node started with a malformed declarative file: {shown(proc)}"
    assert "'prot': unknown field" in proc.stderr, shown(proc)


# --- the public edge ---------------------------------------------------------------------------------------------


def test_tls_1_2_and_1_3_are_served_with_the_platform_ca_s_certificate(gateway: Edge) -> None:
    """A client that trusts only the platform CA completes a handshake for 127.0.0.1 (TLS 1.3 by default, 1.2
    when the client goes no higher)."""
    for maximum, expected in ((None, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        with (
            socket.create_connection(("127.0.0.1", gateway.proxy), timeout=10) as raw,
            gateway.context(maximum).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() == expected


def test_tls_1_1_is_refused(gateway: Edge) -> None:
    """A client that offers TLS 1.1 at most gets no session (skipped where the local OpenSSL cannot offer 1.1)."""
    try:
        context = gateway.context(ssl.TLSVersion.TLSv1_1)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as error:
        pytest.skip(f"the local OpenSSL cannot offer TLS 1.1: {error}")
    with (
        socket.create_connection(("127.0.0.1", gateway.proxy), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_plain_http_on_the_proxy_port_is_refused(gateway: Edge) -> None:
    """Plain HTTP to the published port gets nginx's 400 (a TLS port), never a page."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.proxy, timeout=10)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        status, body = response.status, response.read().decode()
    finally:
        connection.close()
    assert status == 400 and "plain HTTP request was sent to HTTPS port" in body, (status, body)


def test_every_answer_carries_hsts(gateway: Edge) -> None:
    """Kong's own answers (200 /health, 404, 401) and a service's answer carry exactly Kong's HSTS header."""
    for path in ("/health", "/not-routed", "/admin/x", "/api/v1/payments/x"):
        status, headers, _ = gateway.get(path)
        found = [value for name, value in headers.items() if name.lower() == HSTS_HEADER.lower()]
        assert found == [HSTS_VALUE], (path, status, headers)


def test_the_admin_route_needs_the_operator_key(gateway: Edge) -> None:
    """Without a key or with a wrong one: Kong's 401. With the operator's key: proxied to admin-bff-service (the demo
    service's nginx answers), the key itself not passed on."""
    status, headers, body = gateway.get("/admin/orders")
    assert status == 401 and json.loads(body) == {"message": "No API key found in request"}, (status, body)
    assert headers.get("WWW-Authenticate") == 'Key realm="kong"'
    status, _, body = gateway.get("/admin/orders", {OPERATOR_KEY_HEADER: "not-" + gateway.operator_key})
    assert status == 401 and json.loads(body) == {"message": "Unauthorized"}, (status, body)
    # In the query string: refused (key_in_query is off), so a key never has to appear in a URL.
    status, _, _ = gateway.get(f"/admin/orders?{OPERATOR_KEY_HEADER}={gateway.operator_key}")
    assert status == 401
    status, _, body = gateway.get("/admin/orders", {OPERATOR_KEY_HEADER: gateway.operator_key})
    assert status == 404 and "nginx" in body, (status, body)  # the service's own answer, not Kong's
    # Public routes need no key.
    assert gateway.get("/api/v1/payments/x")[0] == 404


def test_the_allow_list_and_trusted_proxies_decide_the_operator_source(edges: tuple[Edge, Edge]) -> None:
    """With `gateway.adminAllow` 192.0.2.0/24: the operator key from anywhere else gets 403. Through a trusted proxy
    (the Docker port proxy's private address stands for one) X-Forwarded-For names the client: 192.0.2.9 passes; an
    address the proxy itself forwards for outside the list does not."""
    _, restricted = edges
    key = {OPERATOR_KEY_HEADER: restricted.operator_key}
    status, _, body = restricted.get("/admin/orders", key)
    assert status == 403 and json.loads(body) == {"message": "IP address not allowed"}, (status, body)
    status, _, body = restricted.get("/admin/orders", {**key, "X-Forwarded-For": "192.0.2.9"})
    assert status == 404 and "nginx" in body, (status, body)
    # Recursive: the right-most untrusted address is the client, whatever a client wrote to the left of it.
    status, _, _ = restricted.get("/admin/orders", {**key, "X-Forwarded-For": "192.0.2.9, 198.51.100.4"})
    assert status == 403
    # Without the key the allow-listed source still gets 401: both are required.
    assert restricted.get("/admin/orders", {"X-Forwarded-For": "192.0.2.9"})[0] == 401
