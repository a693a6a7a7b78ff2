"""k. The public edge: Kong's published port speaks TLS 1.2+ only (verified against the platform CA), answers with
HSTS, gives plain HTTP no page, keeps the admin route for the operator's key, and publishes nothing but the proxy.

Everything goes from the host to the port Kong publishes on 127.0.0.1 (the stack output `gatewayUrl`), with
Python's ssl and http.client, as a client of the gateway would; the operator key comes from the secret stack output
`operatorApiKey` and is never printed.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import pytest

from stacks.catalog import KONG
from tests.e2e.live import Live, inspect

KEY_HEADER = "X-Operator-Key"
"""components.gateway.kong.OPERATOR_KEY_HEADER (not imported: the e2e speaks to the gateway as a client would)."""
HOST = "127.0.0.1"


@pytest.fixture
def edge(deployed: Live) -> dict[str, Any]:
    """The published port, the CA bundle and the operator key of the deployed stack."""
    outputs = deployed.outputs(show_secrets=True)
    url = urlsplit(outputs["gatewayUrl"])
    assert url.scheme == "https" and url.hostname == HOST and url.port, f"gatewayUrl: {outputs['gatewayUrl']}"
    return {"port": url.port, "ca": outputs["caBundle"], "key": outputs["operatorApiKey"]}


def _context(edge: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=edge["ca"])  # the platform CA alone; 127.0.0.1 is in the certificate


def _get(edge: dict[str, Any], path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPSConnection(HOST, edge["port"], timeout=10, context=_context(edge))
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def test_tls_handshake_with_tls_1_2_or_later_verified_against_the_platform_ca(
    deployed: Live, edge: dict[str, Any]
) -> None:
    versions = []
    for maximum in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED):
        context = _context(edge)
        context.maximum_version = maximum
        with (
            socket.create_connection((HOST, edge["port"]), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=HOST) as tls,
        ):
            versions.append(tls.version())
    assert versions[0] == "TLSv1.2" and versions[1] in ("TLSv1.2", "TLSv1.3"), versions
    deployed.results["edgeTlsVersions"] = versions


def test_tls_1_1_is_refused(edge: dict[str, Any]) -> None:
    context = _context(edge)
    try:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as error:
        pytest.skip(f"the local OpenSSL cannot offer TLS 1.1: {error}")
    with (
        socket.create_connection((HOST, edge["port"]), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
    ):
        context.wrap_socket(raw, server_hostname=HOST)


def test_answers_carry_hsts(edge: dict[str, Any]) -> None:
    for path in ("/health", "/admin/e2e"):  # Kong's own 200, and its 401
        status, headers, _ = _get(edge, path)
        assert "max-age=" in headers.get("strict-transport-security", ""), (path, status, headers)


def test_plain_http_on_the_published_port_gets_no_page(edge: dict[str, Any]) -> None:
    connection = http.client.HTTPConnection(HOST, edge["port"], timeout=10)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        status = response.status
    except (OSError, http.client.HTTPException):
        return  # refused or cut: no plaintext service
    finally:
        connection.close()
    assert not 200 <= status < 300, f"plain HTTP got {status}: a plaintext service on the public port"


def test_the_admin_route_is_refused_without_the_operator_key_and_passes_with_it(edge: dict[str, Any]) -> None:
    for headers in ({}, {KEY_HEADER: "not-the-operator-key"}):
        status, _, body = _get(edge, "/admin/e2e", headers)
        assert status in (401, 403), f"/admin answered {status} to {'a wrong key' if headers else 'no key'}: {body}"
    status, _, body = _get(edge, "/admin/e2e", {KEY_HEADER: edge["key"]})
    # Past Kong's checks: the admin back end answers (the demo service: 404 for a path it does not serve).
    assert status not in (401, 403, 429) and status < 500, f"/admin with the operator key: {status} {body[:300]}"
    assert "No API key" not in body and "not allowed" not in body


def test_only_the_tls_proxy_is_published(deployed: Live) -> None:
    (kong,) = inspect([f"payment-{KONG.name}"])
    bindings = kong["HostConfig"]["PortBindings"] or {}
    assert set(bindings) == {f"{KONG.port}/tcp"}, json.dumps(bindings)
    assert [b["HostIp"] for b in bindings[f"{KONG.port}/tcp"]] == [HOST]
    # The image EXPOSEs the Admin API's port; exposed is not published (Docker lists it with no host binding).
    live = kong["NetworkSettings"]["Ports"] or {}
    assert not live.get(f"{KONG.ports['admin']}/tcp"), json.dumps(live)
