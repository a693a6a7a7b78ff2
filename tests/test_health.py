"""`make health`: scripts.health against stack outputs, and against Debian's real nginx running the demo config.

What users rely on: one line per endpoint in the seed's ✅/❌ wording, exit 1 when anything is down (with
the reason), exit 2 naming the key when the outputs are unusable, a bounded wait per endpoint, and the
operator's key never printed nor left on disk.
"""

from __future__ import annotations

import io
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from plan import PROJECT_DIR
from scripts.health import (
    EXIT_HEALTHY,
    EXIT_MALFORMED,
    EXIT_UNHEALTHY,
    Endpoint,
    MalformedOutputsError,
    main,
    parse_outputs,
    private_files,
)
from tests.conftest import faithful, free_port
from tests.test_demo import DemoServer, demo_server, operator
from tests.test_pki_tls import bundle, leaf
from vocabulary import SECRET

STRANGER_STACK = ("staging", "profile=prod", "demo=true")
"""Another stack, so another CA (as in tests/test_pki_tls.py)."""


def outputs(endpoints: list[dict[str, str]], /, **overrides: Any) -> dict[str, Any]:
    """Stack outputs as `pulumi stack output --json --show-secrets` prints them, with the dev stack's PKI."""
    cert, key = operator()
    document: dict[str, Any] = {
        "profile": "dev",
        "endpoints": endpoints,
        "caBundle": bundle(faithful("dev")),
        "operatorCertificate": cert,
        "operatorKey": key,
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def run(document: dict[str, Any] | str, *argv: str) -> tuple[int, str, str]:
    """`main` with the document on stdin: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    text = document if isinstance(document, str) else json.dumps(document)
    code = main(list(argv), stdin=io.StringIO(text), stdout=out, stderr=err)
    assert_no_key_material(out.getvalue() + err.getvalue())
    return code, out.getvalue(), err.getvalue()


def assert_no_key_material(text: str) -> None:
    key = operator()[1]
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    assert "PRIVATE KEY" not in text
    assert not any(line in text for line in body), "a line of the operator key was printed"


def endpoint(name: str, port: int, scheme: str = "https", path: str = "/health") -> dict[str, str]:
    return {"name": name, "health": f"{scheme}://127.0.0.1:{port}{path}"}


# --- parsing the outputs ---------------------------------------------------------------------------------


def test_outputs_parse_into_endpoints_and_credentials() -> None:
    parsed = parse_outputs(json.dumps(outputs([endpoint("order-service", 40004)])))
    assert parsed.endpoints == (Endpoint("order-service", "https://127.0.0.1:40004/health"),)
    assert parsed.ca_bundle == bundle(faithful("dev"))
    assert parsed.operator_certificate == operator()[0]
    assert_no_key_material(repr(parsed))


@pytest.mark.parametrize("key", ["endpoints", "caBundle", "operatorCertificate", "operatorKey"])
def test_a_missing_key_exits_2_naming_it(key: str) -> None:
    code, out, err = run(outputs([endpoint("order-service", 40004)], **{key: None}))
    assert (code, out) == (EXIT_MALFORMED, "")
    assert f"`{key}`" in err


def test_a_hidden_secret_asks_for_show_secrets() -> None:
    code, _, err = run(outputs([endpoint("order-service", 40004)], operatorKey=SECRET))
    assert code == EXIT_MALFORMED
    assert "`operatorKey`" in err and "--show-secrets" in err


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("not json {", "not JSON"),
        ("[]", "not a JSON object"),
        (outputs([]), "`endpoints` is empty"),
        (outputs("x"), "`endpoints` is not a list"),  # type: ignore[arg-type]
        (outputs([endpoint("a", 1), {"name": "b"}]), "`endpoints[1].health`"),
        (outputs([{"name": "", "health": "https://127.0.0.1:1/health"}]), "`endpoints[0].name`"),
        (outputs([{"name": "a", "health": "ftp://127.0.0.1:1/health"}]), "`endpoints[0].health`"),
        (outputs([{"name": "a", "health": "https://127.0.0.1/health"}]), "`endpoints[0].health`"),
        (outputs([endpoint("a", 1)], caBundle="hello"), "`caBundle` is not a PEM certificate"),
        (outputs([endpoint("a", 1)], operatorKey=operator()[0]), "`operatorKey` is not a PEM private key"),
    ],
)
def test_malformed_outputs_exit_2_with_what_is_wrong(document: dict[str, Any] | str, named: str) -> None:
    code, out, err = run(document)
    assert (code, out) == (EXIT_MALFORMED, "")
    assert named in err


def test_a_key_that_does_not_match_the_certificate_exits_2() -> None:
    _, other_key = leaf(faithful("dev"), "order-service")
    code, _, err = run(outputs([endpoint("a", 1)], operatorKey=other_key))
    assert code == EXIT_MALFORMED
    assert "do not form a usable key pair" in err
    assert other_key.splitlines()[1] not in err


def test_an_unreadable_file_argument_exits_2(tmp_path: Path) -> None:
    code, _, err = run("", str(tmp_path / "missing.json"))
    assert code == EXIT_MALFORMED and "missing.json" in err


@pytest.mark.parametrize("timeout", ["0", "-1", "61", "soon"])
def test_an_unbounded_or_odd_timeout_is_refused(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--timeout", timeout], stdin=io.StringIO("{}"))
    assert exited.value.code == EXIT_MALFORMED
    assert "--timeout" in capsys.readouterr().err


def test_malformed_outputs_error_names_keys_not_values() -> None:
    with pytest.raises(MalformedOutputsError) as raised:
        parse_outputs(json.dumps(outputs([endpoint("a", 1)], operatorKey=operator()[0])))
    assert "BEGIN" not in str(raised.value)


# --- the key pair on disk -----------------------------------------------------------------------------------


def test_key_files_are_private_and_removed_afterwards() -> None:
    with private_files(cert="c", key="k") as files:
        folder = files["key"].parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in files.values()} == {0o600}
        assert files["key"].read_text() == "k"
    assert not folder.exists()


def test_a_check_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out, _ = run(outputs([endpoint("order-service", free_port())]))
    assert code == EXIT_UNHEALTHY and "order-service" in out
    assert list(tmp_path.iterdir()) == []


# --- probing ------------------------------------------------------------------------------------------------


def test_a_dead_port_is_unhealthy_and_exits_1() -> None:
    code, out, _ = run(outputs([endpoint("risk-service", free_port())]))
    assert code == EXIT_UNHEALTHY
    assert out.splitlines()[0] == "❌ risk-service is unhealthy (connection refused)"


def test_a_silent_server_is_cut_off_at_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the TCP handshake; nothing ever answers the TLS hello
        port = silent.getsockname()[1]
        started = time.monotonic()
        code, out, _ = run(outputs([endpoint("kyc-service", port)]), "--timeout", "0.5")
        elapsed = time.monotonic() - started
    assert code == EXIT_UNHEALTHY
    assert out.splitlines()[0] == "❌ kyc-service is unhealthy (no answer within 0.5 s)"
    assert elapsed < 3


class _Kong(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = (200, b'{"status":"UP"}') if self.path == "/up" else (503, b'{"status":"DOWN"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serving(server: ThreadingHTTPServer) -> Iterator[int]:
    """Serve `server` on a thread for one test; its port, then shut down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def kong() -> Iterator[int]:
    """A plain-HTTP endpoint on loopback, like Kong's published proxy."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Kong)
    yield from _serving(server)


def test_plain_http_endpoints_are_checked_too(kong: int) -> None:
    code, out, _ = run(outputs([endpoint("kong", kong, "http", "/up"), endpoint("kong-down", kong, "http", "/x")]))
    assert code == EXIT_UNHEALTHY
    assert out.splitlines()[:2] == ["✅ kong is healthy", "❌ kong-down is unhealthy (HTTP 503)"]


@pytest.fixture
def tls_gateway() -> Iterator[int]:
    """Kong's published proxy as it is now: TLS 1.2+ with the platform CA's `kong` certificate (valid for
    127.0.0.1), asking no client certificate, answering /health."""
    cert, key = leaf(faithful("dev"), "kong")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with private_files(cert=cert, key=key) as files:
        context.load_cert_chain(files["cert"], files["key"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Kong)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serving(server)


def test_the_https_gateway_is_verified_against_the_platform_ca(tls_gateway: int) -> None:
    code, out, _ = run(outputs([endpoint("kong", tls_gateway, "https", "/up")]))
    assert (code, out) == (EXIT_HEALTHY, "✅ kong is healthy\n")
    # Another stack's CA does not vouch for it.
    code, out, _ = run(
        outputs([endpoint("kong", tls_gateway, "https", "/up")], caBundle=bundle(faithful(*STRANGER_STACK)))
    )
    assert code == EXIT_UNHEALTHY and out.startswith("❌ kong is unhealthy (TLS: "), out
    # Marked as serving a public certificate: the system's CAs judge it, and they do not know the platform CA.
    public = {**endpoint("kong", tls_gateway, "https", "/up"), "trust": "public"}
    code, out, _ = run(outputs([public]))
    assert code == EXIT_UNHEALTHY and out.startswith("❌ kong is unhealthy (TLS: "), out


def test_an_unknown_trust_is_refused_naming_the_key() -> None:
    code, _, err = run(outputs([{**endpoint("kong", 40080), "trust": "anything"}]))
    assert code == EXIT_MALFORMED and "`endpoints[0].trust`" in err, err


# --- against the real demo nginx ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[DemoServer]:
    with demo_server() as server:
        yield server


@pytest.mark.tool("nginx")
def test_a_healthy_service_passes_and_exits_0(live: DemoServer) -> None:
    code, out, err = run(outputs([endpoint("payment-gateway", live.port)]))
    assert (code, out, err) == (EXIT_HEALTHY, "✅ payment-gateway is healthy\n", "")


@pytest.mark.tool("nginx")
def test_one_dead_endpoint_among_healthy_ones_exits_1_in_order(live: DemoServer) -> None:
    dead = free_port()
    code, out, _ = run(outputs([endpoint("payment-gateway", live.port), endpoint("order-service", dead)]))
    assert code == EXIT_UNHEALTHY
    assert out.splitlines() == [
        "✅ payment-gateway is healthy",
        "❌ order-service is unhealthy (connection refused)",
        "1 of 2 endpoints unhealthy",
    ]


@pytest.mark.tool("nginx")
def test_a_server_the_bundle_does_not_trust_is_unhealthy(live: DemoServer) -> None:
    other = bundle(faithful(*STRANGER_STACK))
    code, out, _ = run(outputs([endpoint("payment-gateway", live.port)], caBundle=other))
    assert code == EXIT_UNHEALTHY
    assert out.startswith("❌ payment-gateway is unhealthy (TLS: ")


@pytest.mark.tool("nginx")
def test_an_operator_certificate_from_another_ca_is_refused_by_the_service(live: DemoServer) -> None:
    cert, key = leaf(faithful(*STRANGER_STACK), "operator")
    code, out, _ = run(outputs([endpoint("payment-gateway", live.port)], operatorCertificate=cert, operatorKey=key))
    assert code == EXIT_UNHEALTHY
    assert out.splitlines()[0] == "❌ payment-gateway is unhealthy (HTTP 400)"
    assert key.splitlines()[1] not in out


@pytest.mark.tool("nginx")
def test_the_command_line_reads_stdin_and_a_file(live: DemoServer, tmp_path: Path) -> None:
    document = json.dumps(outputs([endpoint("payment-gateway", live.port)]))
    saved = tmp_path / "outputs.json"
    saved.write_text(document)
    env = {**os.environ, "PYTHONUTF8": "1"}
    for argv, stdin in (([], document), ([str(saved)], "")):
        result = subprocess.run(
            [sys.executable, "-m", "scripts.health", *argv],
            input=stdin,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            env=env,
            check=False,
        )
        assert (result.returncode, result.stdout) == (EXIT_HEALTHY, "✅ payment-gateway is healthy\n"), result.stderr
        assert_no_key_material(result.stdout + result.stderr)
