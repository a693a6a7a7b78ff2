"""o. JWT keys for real: a token signed with the stack's shared secret is accepted; after a rotation with
`jwt.overlap: previous` that same token (signed before the rotation) and one signed with the new secret are both
accepted, and tokens with an unknown key are refused; after `jwt.algorithm: ES256` with the overlap closed, the old
tokens are refused, a token the issuer signs with the private key it was given is accepted, and a verifier holds no
private key and no shared secret.

Two `pulumi up`s (every service is replaced by each). Tokens are checked by `tests/support/jwt_verify.sh`, run inside
a service container by `docker exec` with that container's own variables and files: the keys the platform gave it,
nothing from the host. The stack is left in ES256 mode, its stack file and state in agreement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from stacks.catalog import JWT_ISSUERS, JWT_SECRET
from tests.e2e.conftest import service_containers
from tests.e2e.live import Live, inspect, wait_until_healthy
from tests.support.jwts import es256, hs256, new_es256_key, sign_in, verify_in

ISSUER, VERIFIER = "payment-merchant-auth-service", "payment-order-service"
"""merchant-auth-service signs merchant tokens (`JWT_ISSUERS`); order-service only verifies."""
GENERATIONS = "payment-jwt-secret-"
"""`components.jwt.SigningKeys` (`payment-jwt`) names each generated HS256 secret `payment-jwt-secret-<n>`."""


def _verdict(container: str, token: str) -> str:
    out = verify_in(container, token)
    assert out.returncode in (0, 1), f"the verifier failed to run in {container}: {out.stderr.strip()}"
    return out.stdout.strip()


def _generation(live: Live) -> int:
    rotation = live.stack_document()["config"].get("payment-platform:rotation") or {}
    return int(rotation.get(JWT_SECRET.name, 0)) + int(rotation.get("all", 0))


def _variables(container: str) -> set[str]:
    """Names only: under `secretDelivery: env` (dev) the values are secrets."""
    return {item.split("=", 1)[0] for item in inspect([container])[0]["Config"]["Env"]}


def _up(live: Live, label: str) -> None:
    live.pulumi("up", "--yes", "--skip-preview", label=label)
    live.results.setdefault("jwtHealthySeconds", []).append(round(wait_until_healthy(service_containers(live), 180), 1))


@dataclass
class Tokens:
    """Tokens made along the way, by the step that made them."""

    generation: int
    """The HS256 generation deployed before the rotation."""
    before: str
    """HS256, signed with that generation's secret."""
    after: str = ""
    """HS256, signed with the secret of the generation after it (set by the rotation)."""


@pytest.fixture(scope="module")
def tokens(deployed: Live) -> Tokens:
    """The default mode as deployed (no `up`): a token signed with the live shared secret."""
    generation = _generation(deployed)
    secret = deployed.generated_secrets()[f"{GENERATIONS}{generation}"]
    return Tokens(generation=generation, before=hs256(secret, f"hs256-{generation}"))


@pytest.fixture(scope="module")
def rotated(deployed: Live, tokens: Tokens) -> Iterator[Live]:
    """Up 1: `rotation.jwt-secret` n+1 with `jwt.overlap: previous`."""
    deployed.config_set(f"rotation.{JWT_SECRET.name}", str(tokens.generation + 1))
    deployed.config_set("jwt.overlap", "previous")
    _up(deployed, "jwt rotation with overlap (every service)")
    tokens.after = hs256(deployed.generated_secrets()[f"{GENERATIONS}{tokens.generation + 1}"], _kid(tokens, 1))
    yield deployed


@pytest.fixture(scope="module")
def switched(rotated: Live) -> Iterator[Live]:
    """Up 2: `jwt.algorithm: ES256`, `jwt.overlap: none`."""
    rotated.config_set("jwt.algorithm", "ES256")
    rotated.config_set("jwt.overlap", "none")
    _up(rotated, "jwt ES256 (every service)")
    yield rotated


def _kid(tokens: Tokens, ahead: int, algorithm: str = "hs256") -> str:
    return f"{algorithm}-{tokens.generation + ahead}"


def test_a_token_signed_with_the_shared_secret_is_accepted(tokens: Tokens) -> None:
    assert _verdict(VERIFIER, tokens.before) == f"valid {_kid(tokens, 0)}"


def test_during_the_overlap_tokens_of_both_generations_are_accepted(rotated: Live, tokens: Tokens) -> None:
    assert _verdict(VERIFIER, tokens.before) == f"valid {_kid(tokens, 0)}", "the token from before the rotation"
    assert _verdict(VERIFIER, tokens.after) == f"valid {_kid(tokens, 1)}"
    assert _verdict(ISSUER, tokens.before) == f"valid {_kid(tokens, 0)}"


def test_during_the_overlap_unknown_keys_are_refused(rotated: Live, tokens: Tokens) -> None:
    forged = hs256("not-the-platform-secret-" + "x" * 40, _kid(tokens, 1))
    assert _verdict(VERIFIER, forged) == f"invalid: bad signature for kid '{_kid(tokens, 1)}'"
    older = hs256("not-the-platform-secret-" + "x" * 40, _kid(tokens, -1))
    assert _verdict(VERIFIER, older) == f"invalid: unknown kid '{_kid(tokens, -1)}'"


def test_es256_an_issuers_token_is_accepted_and_the_old_tokens_refused(switched: Live, tokens: Tokens) -> None:
    token = sign_in(ISSUER)
    assert _verdict(VERIFIER, token) == f"valid {_kid(tokens, 1, 'es256')}"
    for old in (tokens.before, tokens.after):
        assert _verdict(VERIFIER, old).startswith("invalid: algorithm 'HS256'"), "a shared-secret token after ES256"
    assert _verdict(VERIFIER, es256(new_es256_key(), _kid(tokens, 1, "es256"))).startswith("invalid: bad signature")


def test_es256_only_issuers_hold_a_private_key_and_nobody_a_shared_secret(switched: Live) -> None:
    issuer, verifier = _variables(ISSUER), _variables(VERIFIER)
    assert ISSUER.removeprefix("payment-") in JWT_ISSUERS
    assert {"JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEYS_FILE"} <= issuer
    assert "JWT_PUBLIC_KEYS_FILE" in verifier
    assert not {v for v in verifier if v.startswith(("JWT_SECRET", "JWT_PREVIOUS", "JWT_PRIVATE"))}, verifier
    assert not {v for v in issuer if v.startswith(("JWT_SECRET", "JWT_PREVIOUS"))}, issuer
