"""Compact JWS tokens signed the way a token issuer of the platform signs them (RFC 7515, 7518), for the tests that
hand them to `tests/support/jwt_verify.sh` inside a service container. Test tooling only: no service uses it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

VERIFIER = Path(__file__).with_name("jwt_verify.sh")
"""The verifier script; run as `sh -c "$(cat VERIFIER)"` with the token on stdin."""
CLAIMS: dict[str, Any] = {"sub": "merchant-e2e", "iss": "payment-platform-tests"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signing_input(alg: str, kid: str | None, claims: dict[str, Any]) -> bytes:
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()


def hs256(secret: str | bytes, kid: str | None, claims: dict[str, Any] = CLAIMS) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    data = _signing_input("HS256", kid, claims)
    return f"{data.decode()}.{b64url(hmac.new(key, data, hashlib.sha256).digest())}"


def es256(private_key_pem: str, kid: str | None, claims: dict[str, Any] = CLAIMS) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    data = _signing_input("ES256", kid, claims)
    return f"{data.decode()}.{b64url(raw_signature(key.sign(data, ec.ECDSA(hashes.SHA256()))))}"


def raw_signature(der: bytes) -> bytes:
    """A DER ECDSA signature (what openssl and `cryptography` produce) as JWS's fixed 64-byte r||s."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def new_es256_key() -> str:
    """A P-256 private key of nobody's (PKCS#8 PEM): an attacker's key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def verify_in(container: str, token: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """`jwt_verify.sh` run inside `container` by `docker exec`, with the container's own environment and files; the
    token goes in on stdin. Exit 0 and `valid <kid>`, or exit 1 and `invalid: <why>`."""
    return subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", VERIFIER.read_text()],
        input=token,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sign_in(container: str, claims: dict[str, Any] = CLAIMS, timeout: int = 60) -> str:
    """An ES256 token signed inside the issuer `container` with the key it was given (`JWT_PRIVATE_KEY_FILE`) under
    the kid it was given (`JWT_KID`): what the issuing service itself would hand out. The key never leaves."""
    printenv = ["docker", "exec", container, "printenv", "JWT_KID"]
    kid = subprocess.run(printenv, capture_output=True, text=True, timeout=timeout, check=True).stdout.strip()
    data = _signing_input("ES256", kid, claims)
    out = subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", 'openssl dgst -sha256 -sign "$JWT_PRIVATE_KEY_FILE" | base64'],
        input=data.decode(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"{container} could not sign with its JWT_PRIVATE_KEY_FILE: {out.stderr.strip()}"
    return f"{data.decode()}.{b64url(raw_signature(base64.b64decode(out.stdout)))}"
