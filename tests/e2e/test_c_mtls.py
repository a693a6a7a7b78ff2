"""c. mTLS: `make health` passes for every published endpoint of the live stack; one service calls another
over mTLS; without a client certificate, or with one from another CA, the call fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.pki import CA_FILE, service_cert_paths
from tests.conftest import require_tool
from tests.e2e.live import Live, docker_exec

CALLER, CALLEE = "order-service", "channel-adapter"
"""order-service calls channel-adapter in the catalog's call graph (CHANNEL_ADAPTER_SERVICE_URL)."""
ROGUE = "/tmp/e2e-rogue.pem"


def test_make_health_passes_for_every_published_endpoint(deployed: Live) -> None:
    outputs = deployed.pulumi("stack", "output", "--json", "--show-secrets").stdout
    out = subprocess.run(
        [sys.executable, "-m", "scripts.health"],
        input=outputs,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    healthy = [line for line in out.stdout.splitlines() if "is healthy" in line]
    assert len(healthy) == len(json.loads(outputs)["endpoints"]) and "unhealthy" not in out.stdout
    deployed.results["healthEndpoints"] = len(healthy)


def _call(live: Live, *tls: str) -> subprocess.CompletedProcess[str]:
    outputs = live.outputs()
    port = outputs["services"][CALLEE]["port"]
    url = f"https://{CALLEE}.{outputs['network']['name']}:{port}/health"
    return docker_exec(f"payment-{CALLER}", "curl", "-fsS", "--max-time", "5", "--cacert", CA_FILE, *tls, url)


def test_a_service_calls_another_over_mtls(deployed: Live) -> None:
    cert, key = service_cert_paths(CALLER)
    out = _call(deployed, "--cert", cert, "--key", key)
    assert out.returncode == 0, out.stderr


def test_a_call_without_a_client_certificate_fails(deployed: Live) -> None:
    out = _call(deployed)
    assert out.returncode != 0, "the callee answered a caller that showed no certificate"


@pytest.fixture
def rogue_certificate(deployed: Live, tmp_path: Path) -> str:
    """A certificate for the caller's own name, from a CA of our own, copied into the caller's /tmp (tmpfs)."""
    openssl = require_tool("openssl", "openssl")
    ca_key, ca_cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    key, csr, cert = tmp_path / "leaf.key", tmp_path / "leaf.csr", tmp_path / "leaf.pem"

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], capture_output=True, check=True, timeout=60)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", "/CN=Rogue CA", "-keyout", str(ca_key), "-out", str(ca_cert))  # fmt: skip
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={CALLER}", "-keyout", str(key), "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-days", "1", "-out", str(cert))
    bundle = cert.read_text() + key.read_text()
    copied = subprocess.run(
        ["docker", "exec", "-i", f"payment-{CALLER}", "sh", "-c", f"umask 077 && cat > {ROGUE}"],
        input=bundle, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    return ROGUE


def test_a_call_with_a_certificate_from_another_ca_fails(deployed: Live, rogue_certificate: str) -> None:
    try:
        out = _call(deployed, "--cert", rogue_certificate)
        assert out.returncode != 0, "the callee accepted a client certificate from another CA"
    finally:
        docker_exec(f"payment-{CALLER}", "rm", "-f", rogue_certificate)
