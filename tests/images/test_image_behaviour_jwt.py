"""JWT keys in the program's own service containers: an issuer signs with the key it was given, a verifier accepts
exactly the generations the stack says, in both modes.

The rendered dev stack (keys and certificates issued for real: `tests.support.tlsmodel.Faithful`) gives
`payment-merchant-auth-service` (an issuer) and `payment-order-service` (a verifier), run with the demo image every
service runs, their files loaded by the local loader image, no network. `tests/support/jwt_verify.sh` runs inside
them by `docker exec` and reads only what the container was given. This is the same check `tests/e2e/test_o_jwt.py`
makes on the live stack, made here beforehand without a deployment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.app.demo import IMAGE_CONTRACT as DEMO_CONTRACT
from plan import Render
from stacks.catalog import JWT_ISSUERS
from tests.conftest import faithful, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref
from tests.images.harness import Sandbox, container_named, sandbox, wait_healthy
from tests.support.jwts import es256, hs256, new_es256_key, sign_in, verify_in
from vocabulary import RANDOM_PASSWORD

HEALTHY_WITHIN = 60
ISSUER, VERIFIER = "merchant-auth-service", "order-service"
ES256_OVERLAP = ("jwt.algorithm=ES256", "rotation.jwt-secret=1", "jwt.overlap=previous")
HS256_OVERLAP = ("rotation.jwt-secret=1", "jwt.overlap=previous")


def needs() -> None:
    for name in ("demo", "loader"):
        if docker("image", "inspect", local_ref(CONTRACTS[name])).returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def start(box: Sandbox, render: Render, service: str) -> str:
    container = container_named(render, f"payment-{service}")
    name = box.run_rendered(render, container, local_ref(DEMO_CONTRACT), local_ref(CONTRACTS["loader"]))
    wait_healthy(name, container.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
    return name


def verdict(container: str, token: str) -> str:
    out = verify_in(container, token)
    assert out.returncode in (0, 1), out.stderr
    return out.stdout.strip()


@pytest.fixture(scope="module")
def es256_stack(engine: str) -> Iterator[tuple[Render, str, str]]:
    """ES256 after a rotation with `jwt.overlap: previous`: (render, issuer container, verifier container)."""
    needs()
    assert ISSUER in JWT_ISSUERS and VERIFIER not in JWT_ISSUERS
    render = faithful("dev", *ES256_OVERLAP)
    with sandbox("jwt-es256") as box:
        yield render, start(box, render, ISSUER), start(box, render, VERIFIER)


def test_a_token_the_issuer_signs_is_accepted_by_a_verifier(es256_stack: tuple[Render, str, str]) -> None:
    _, issuer, verifier = es256_stack
    token = sign_in(issuer)
    assert verdict(verifier, token) == "valid es256-1"
    assert verdict(issuer, token) == "valid es256-1"  # issuers verify too


def test_the_previous_generation_is_accepted_during_the_overlap(es256_stack: tuple[Render, str, str]) -> None:
    render, _, verifier = es256_stack
    previous = render.get("tls:index/privateKey:PrivateKey", "payment-jwt-key-0").revealed_outputs
    assert verdict(verifier, es256(previous["privateKeyPemPkcs8"], "es256-0")) == "valid es256-0"


def test_unknown_keys_forged_kids_and_algorithm_confusion_are_refused(es256_stack: tuple[Render, str, str]) -> None:
    render, _, verifier = es256_stack
    rogue = new_es256_key()
    assert verdict(verifier, es256(rogue, "es256-1")) == "invalid: bad signature for kid 'es256-1'"
    assert verdict(verifier, es256(rogue, "es256-7")) == "invalid: unknown kid 'es256-7'"
    # HS256 "signed" with the public key every service holds: the classic confusion attack.
    public = render.get("tls:index/privateKey:PrivateKey", "payment-jwt-key-1").revealed_outputs["publicKeyPem"]
    assert verdict(verifier, hs256(public, "es256-1")).startswith("invalid: algorithm 'HS256'")


def test_a_verifier_holds_no_private_key(es256_stack: tuple[Render, str, str]) -> None:
    _, _, verifier = es256_stack
    out = docker("exec", verifier, "sh", "-c", 'env | grep -c "^JWT_PRIVATE\\|^JWT_SECRET" ; ls /run/secrets')
    assert out.stdout.split()[0] == "0", out.stdout
    assert "jwt-private-key" not in out.stdout


def test_the_issuers_key_is_readable_by_the_service_user_only(es256_stack: tuple[Render, str, str]) -> None:
    _, issuer, _ = es256_stack
    out = docker("exec", issuer, "sh", "-c", 'stat -c "%a %u" "$JWT_PRIVATE_KEY_FILE" "$JWT_PUBLIC_KEYS_FILE"')
    assert out.stdout.split("\n")[:2] == ["400 10001", "444 10001"], out.stdout + out.stderr
    # The PKCS#8 key loads as a P-256 key (what JWT libraries in any language read).
    pem = docker("exec", issuer, "sh", "-c", 'openssl pkey -in "$JWT_PRIVATE_KEY_FILE" -text_pub -noout')
    assert "prime256v1" in pem.stdout or "P-256" in pem.stdout, pem.stdout + pem.stderr


@pytest.fixture(scope="module")
def hs256_stack(engine: str) -> Iterator[tuple[Render, str]]:
    """HS256 (dev: secrets as variables) after a rotation with `jwt.overlap: previous`: (render, a service)."""
    needs()
    render = faithful("dev", *HS256_OVERLAP)
    with sandbox("jwt-hs256") as box:
        yield render, start(box, render, VERIFIER)


def test_hs256_accepts_the_signing_and_the_previous_secret_only(hs256_stack: tuple[Render, str]) -> None:
    render, service = hs256_stack
    secret = {r.name: str(r.revealed_outputs["result"]) for r in render.by_type(RANDOM_PASSWORD)}
    current, previous = secret["payment-jwt-secret-1"], secret["payment-jwt-secret-0"]
    assert verdict(service, hs256(current, "hs256-1")) == "valid hs256-1"
    assert verdict(service, hs256(previous, "hs256-0")) == "valid hs256-0"
    assert verdict(service, hs256(previous, "hs256-1")) == "invalid: bad signature for kid 'hs256-1'"
    assert verdict(service, hs256(current, "hs256-2")) == "invalid: unknown kid 'hs256-2'"
    assert verdict(service, es256(new_es256_key(), "hs256-1")).startswith("invalid: algorithm 'ES256'")
