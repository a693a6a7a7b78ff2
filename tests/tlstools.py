"""TLS helpers for tests: PEM files, a real in-memory mutual-TLS handshake, and the `openssl` command line."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import IN_CI


def write_pem(tmp_path: Path, name: str, text: str) -> Path:
    """`text` written to `tmp_path/name`, for tools that only read files."""
    path = tmp_path / name
    path.write_text(text, encoding="ascii")
    return path


def _context(cert_pem: str | None, key_pem: str | None, ca_pem: str, *, server: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED  # the server side too: every service presents a certificate
    context.load_verify_locations(cadata=ca_pem)
    if cert_pem and key_pem:
        # The ssl module loads a certificate and key from files only.
        with tempfile.TemporaryDirectory() as folder:
            cert, key = write_pem(Path(folder), "cert.pem", cert_pem), write_pem(Path(folder), "key.pem", key_pem)
            context.load_cert_chain(cert, key)
    return context


def handshake(
    server_cert_pem: str,
    server_key_pem: str,
    ca_bundle_pem: str,
    hostname: str,
    *,
    client_cert_pem: str | None = None,
    client_key_pem: str | None = None,
    client_ca_bundle_pem: str | None = None,
) -> None:
    """A mutual-TLS handshake and one message each way, in memory; raises `ssl.SSLError` when it fails.

    The server trusts `ca_bundle_pem` and requires a client certificate; the client trusts
    `client_ca_bundle_pem` (default: the same bundle) and checks the server's certificate names `hostname`.
    """
    server_context = _context(server_cert_pem, server_key_pem, ca_bundle_pem, server=True)
    client_context = _context(client_cert_pem, client_key_pem, client_ca_bundle_pem or ca_bundle_pem, server=False)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(to_server, from_server, server_side=True)
    client = client_context.wrap_bio(to_client, from_client, server_hostname=hostname)

    def finished(end: ssl.SSLObject) -> bool:
        try:
            end.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def deliver() -> bool:
        moved = False
        for source, target in ((from_client, to_server), (from_server, to_client)):
            if data := source.read():
                target.write(data)
                moved = True
        return moved

    # Stepping both ends until neither has anything left to say; an end that rejects its peer raises here.
    # The server checks the client certificate only after the client believes it is done (TLS 1.3).
    while True:
        client_done, server_done = finished(client), finished(server)
        if client_done and server_done:
            break
        if not deliver():
            raise ssl.SSLError("TLS handshake stalled with nothing left to send")
    client.write(b"ping")
    deliver()
    server_heard = server.read(4)
    server.write(b"pong")
    deliver()
    if (server_heard, client.read(4)) != (b"ping", b"pong"):
        raise ssl.SSLError("TLS session did not carry application data")


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    """`openssl *args` (never raising on a non-zero exit); skips the test loudly where openssl is missing."""
    if shutil.which("openssl") is None:
        message = "the openssl command is missing: install Debian's openssl package (apt-get install openssl)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(f"SKIPPED, NOT PASSED: {message}")
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=False)


def self_signed(
    common_name: str, *, days: int = 90, start: datetime | None = None, ca: bool = False
) -> tuple[str, str, ec.EllipticCurvePrivateKey]:
    """A self-signed P-256 certificate for `common_name` (PEM), its PKCS#8 key (PEM) and the key, valid from
    `start` (default an hour ago) for `days`; with `ca`, marked as a CA (to stand where nginx wants one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    begin = start or datetime.now(UTC) - timedelta(hours=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + timedelta(days=days))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem, key
