"""The local Kong STAND-IN runs the program's own gateway container and proxies a route to a service over mTLS.

The rendered dev stack (certificates issued for real: `tests.support.tlsmodel.Faithful`) gives `payment-kong` (user,
read-only root, prefix tmpfs, KONG_* environment, declarative file, client certificate and trust bundle
loaded by the local loader image, healthcheck) and `payment-payment-gateway` (the demo stand-in service:
nginx requiring a client certificate from the platform CA). Both run on a private network of their own with
the rendered container name as DNS alias, the local images in place of `kong:3.9.1` and the demo image.
Kong's proxy and Status API are published on 127.0.0.1 only; the test talks to nothing else. A malformed
declarative file must stop the node. Printed timings are shown with `pytest -s`.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.app.demo import IMAGE_CONTRACT as DEMO_CONTRACT
from components.gateway.kong import (
    CORRELATION_HEADER,
    HEALTH_ROUTE,
    KongPaths,
    upstream_name,
)
from stacks.catalog import KONG
from tests.conftest import faithful, free_port, unavailable
from tests.images.conftest import CONTRACTS, PREFIX, docker, local_ref, shown
from tests.images.harness import container_named, sandbox, wait_healthy

HEALTHY_WITHIN = 60
GATEWAY = "payment-gateway"
ABSENT = "admin-bff-service"
"""A routed service whose container is not started: Kong's active checks must mark it unhealthy."""


def needs(*names: str) -> None:
    for name in names:
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        if docker("image", "inspect", local_ref(CONTRACTS[name])).returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """GET from the host (a port published on 127.0.0.1); any status is returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def gateway(engine: str) -> Iterator[tuple[int, int]]:
    """Kong and the payment-gateway service running; (published proxy port, published status port)."""
    needs(KONG.name, "demo", "loader")
    dev = faithful("dev")
    kong = container_named(dev, f"payment-{KONG.name}")
    service = container_named(dev, f"payment-{GATEWAY}")
    network = f"{PREFIX}-kong-net"
    proc = docker("network", "create", network)
    assert proc.returncode == 0, shown(proc)
    try:
        with sandbox("kong") as box:
            box.run_rendered(
                dev,
                service,
                local_ref(DEMO_CONTRACT),
                local_ref(CONTRACTS["loader"]),
                f"--network={network}",
                f"--network-alias={service.revealed_inputs['name']}",
            )
            proxy, status = free_port(), free_port()
            name = box.run_rendered(
                dev,
                kong,
                local_ref(CONTRACTS[KONG.name]),
                local_ref(CONTRACTS["loader"]),
                f"--network={network}",
                f"--publish=127.0.0.1:{proxy}:{KONG.port}",
                f"--publish=127.0.0.1:{status}:{KONG.ports['status']}",
            )
            seconds = wait_healthy(name, kong.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
            print(f"kong stand-in: healthy (`kong health`) after {seconds:.1f} s")
            yield proxy, status
    finally:
        docker("network", "rm", network)


def test_a_public_route_reaches_the_service_over_mutual_tls(gateway: tuple[int, int]) -> None:
    """`/api/v1/payments/...` is proxied to payment-gateway over mTLS: the answer is nginx's, not Kong's, and
    carries the correlation id Kong added."""
    proxy, _ = gateway
    status, headers, body = get(f"http://127.0.0.1:{proxy}/api/v1/payments/does-not-exist")
    # The demo service answers 404 to every path but /health and /metrics; Kong would answer 502 (JSON) if
    # the TLS handshake failed either way, and 404 JSON if no route matched.
    assert status == 404 and "nginx" in body and "no Route matched" not in body, (status, headers, body)
    assert headers.get(CORRELATION_HEADER), f"no {CORRELATION_HEADER} echoed: {headers}"
    sent = {CORRELATION_HEADER: "merchant-ticket-42"}
    assert get(f"http://127.0.0.1:{proxy}/api/v1/payments/x", sent)[1].get(CORRELATION_HEADER) == "merchant-ticket-42"


def test_kong_answers_health_itself_and_refuses_unknown_paths(gateway: tuple[int, int]) -> None:
    """The declarative health route is answered by Kong; a path with no route gets Kong's 404."""
    proxy, _ = gateway
    status, _, body = get(f"http://127.0.0.1:{proxy}/health")
    assert status == 200, body
    assert json.loads(body) == json.loads(HEALTH_ROUTE["plugins"][0]["config"]["body"]), body
    status, _, body = get(f"http://127.0.0.1:{proxy}/not-routed")
    assert status == 404 and json.loads(body)["message"] == "no Route matched with those values", body


def test_status_api_reports_requests_and_target_health(gateway: tuple[int, int]) -> None:
    """/metrics on the Status API: requests by service and code, and active health checks that keep the
    live service healthy (mTLS probe of /health) and mark the absent one unhealthy."""
    proxy, status_port = gateway
    get(f"http://127.0.0.1:{proxy}/api/v1/payments/counted")
    gateway_healthy = (
        f'kong_upstream_target_health{{upstream="{upstream_name(GATEWAY)}",target="payment-{GATEWAY}:40003",'
        f'address="payment-{GATEWAY}:40003",state="healthy",subsystem="http"}} 1'
    )
    absent_unhealthy = f'upstream="{upstream_name(ABSENT)}",target="payment-{ABSENT}:40001",'
    started = time.monotonic()
    text = ""
    while time.monotonic() - started < 60:
        code, _, text = get(f"http://127.0.0.1:{status_port}/metrics")
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
