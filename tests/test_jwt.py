"""JWT signing keys (`jwt.*`): the configuration, the key bundle, who is given what, and rotation with overlap."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components.docker.labels import SERVICE_LABEL
from components.jwt import PUBLIC_KEYS_PATH, public_key_bundle
from components.secrets import SECRETS_DIR
from plan import Render
from plan.simulate import SECRET_MARKER
from stacks.catalog import JWT_ISSUERS, JWT_KEYS, JWT_PUBLIC_KEYS, SECRET_VARIABLES, SERVICES, SERVICES_CONSUMER
from stacks.errors import ConfigError
from tests.conftest import changed, faithful, rendered, require_tool, stack_config, uploads
from tests.support.jwts import new_es256_key
from vocabulary import CONTAINER, RANDOM_PASSWORD, SECRET

ES256_OVERLAP = ("jwt.algorithm=ES256", "rotation.jwt-secret=1", "jwt.overlap=previous")
HS256_OVERLAP = ("rotation.jwt-secret=1", "jwt.overlap=previous")
VERIFIER = "order-service"
"""A service that calls others but issues no token."""


def containers_of(render: Render, service: str) -> list[str]:
    """Resource names of `service`'s containers (prod runs payment-gateway three times)."""
    prefix = f"payment-services-payment-{service}"
    return [r.name for r in render.by_type(CONTAINER) if r.name == prefix or r.name.removeprefix(prefix)[1:].isdigit()]


def env(render: Render, container: str) -> dict[str, str]:
    assignments = render.get(CONTAINER, container).revealed_inputs["envs"]
    return dict(str(item).split("=", 1) for item in assignments)


def files(render: Render, container: str, *, revealed: bool = False) -> dict[str, dict[str, Any]]:
    return {str(u["file"]): u for u in uploads(render, container, revealed=revealed)}


def problems(**values: Any) -> list[str]:
    with pytest.raises(ConfigError) as error:
        stack_config("dev", **values)
    return list(error.value.lines)


# --- configuration --------------------------------------------------------------------------------------------


def test_the_default_is_the_seeds_shared_secret_at_generation_zero() -> None:
    config = stack_config("prod").jwt
    assert (config.algorithm, config.generation, config.overlap, config.generations) == ("HS256", 0, "none", (0,))
    assert config.issuers == JWT_ISSUERS


def test_the_generation_counts_jwt_secret_and_all_rotations() -> None:
    config = stack_config("dev", rotation={"jwt-secret": 2, "all": 1}, jwt={"overlap": "previous"}).jwt
    assert (config.generation, config.generations, config.kid(2)) == (3, (3, 2), "hs256-2")
    assert stack_config("dev", jwt={"algorithm": "ES256", "overlap": "next"}).jwt.generations == (0, 1)


def test_an_unknown_algorithm_names_the_key_and_what_is_accepted() -> None:
    assert problems(jwt={"algorithm": "RS256"}) == [
        "payment-platform:jwt.algorithm = \"RS256\": expected 'HS256' or 'ES256'"
    ]


def test_no_previous_key_before_generation_zero() -> None:
    (line,) = problems(jwt={"overlap": "previous"})
    assert line.startswith('payment-platform:jwt.overlap = "previous": there is no key before generation 0')


def test_a_secret_set_in_config_has_no_key_pair_and_no_other_generation() -> None:
    secret = {"jwt-secret": "x" * 64}
    (line,) = problems(secrets=secret, jwt={"algorithm": "ES256"})
    assert line.startswith('payment-platform:jwt.algorithm = "ES256": ES256 signs with generated key pairs')
    (line,) = problems(secrets=secret, jwt={"overlap": "next"})
    assert line.startswith('payment-platform:jwt.overlap = "next": keeps a second generated key')
    assert "x" * 64 not in line


def test_every_variable_carrying_jwt_key_material_is_known_as_a_secret() -> None:
    """The prod policy (PAY-SECRET-ENV) tells secret variables by these names."""
    assert {"JWT_SECRET", "JWT_PREVIOUS_SECRET", "JWT_NEXT_SECRET", "JWT_PRIVATE_KEY"} <= SECRET_VARIABLES
    assert "JWT_PUBLIC_KEYS" not in SECRET_VARIABLES


# --- the public key bundle ------------------------------------------------------------------------------------


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def test_the_bundle_names_each_key_and_stays_a_pem_file_openssl_reads(tmp_path: Any) -> None:
    first, second = _public_pem(new_es256_key()), _public_pem(new_es256_key()).rstrip("\n")
    bundle = public_key_bundle([("es256-4", first), ("es256-3", second)])
    assert bundle == f"kid: es256-4\n{first}kid: es256-3\n{second}\n"
    path = tmp_path / "public-keys.pem"
    path.write_text(bundle)
    out = subprocess.run(
        [require_tool("openssl", "openssl"), "pkey", "-pubin", "-in", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == first  # the `kid:` lines are explanatory text to a PEM reader (RFC 7468, 5.2)


# --- what each service is given -------------------------------------------------------------------------------


def test_default_mode_gives_every_service_the_shared_secret_and_its_key_id() -> None:
    render = rendered("prod")
    for service in SERVICES:
        for container in containers_of(render, service.name):
            given = env(render, container)
            assert (given["JWT_ALGORITHM"], given["JWT_KID"]) == ("HS256", "hs256-0")
            assert given["JWT_SECRET_FILE"] == f"{SECRETS_DIR}/jwt-secret"
            assert not {k for k in given if k.startswith(("JWT_PREVIOUS", "JWT_NEXT", "JWT_PRIVATE", "JWT_PUBLIC"))}


def test_hs256_overlap_gives_the_previous_generation_beside_the_signing_one() -> None:
    render = rendered("prod", *HS256_OVERLAP)
    secrets = {r.name: r.revealed_outputs["result"] for r in render.by_type(RANDOM_PASSWORD)}
    container = containers_of(render, VERIFIER)[0]
    given = env(render, container)
    assert (given["JWT_KID"], given["JWT_PREVIOUS_KID"]) == ("hs256-1", "hs256-0")
    assert given["JWT_PREVIOUS_SECRET_FILE"] == f"{SECRETS_DIR}/jwt-previous-secret"
    held = files(render, container, revealed=True)
    assert held[f"{SECRETS_DIR}/jwt-secret"]["content"] == secrets["payment-jwt-secret-1"]
    assert held[f"{SECRETS_DIR}/jwt-previous-secret"]["content"] == secrets["payment-jwt-secret-0"]
    assert secrets["payment-jwt-secret-1"] != secrets["payment-jwt-secret-0"]
    for path in (f"{SECRETS_DIR}/jwt-secret", f"{SECRETS_DIR}/jwt-previous-secret"):
        assert (held[path]["permissions"], held[path]["owner"]) == ("0400", "10001")


def test_hs256_overlap_in_dev_passes_both_secrets_as_secret_variables() -> None:
    render = rendered("dev", "rotation.jwt-secret=1", "jwt.overlap=next")
    container = containers_of(render, VERIFIER)[0]
    given = env(render, container)
    assert (given["JWT_KID"], given["JWT_NEXT_KID"]) == ("hs256-1", "hs256-2")
    assert given["JWT_SECRET"].startswith(SECRET_MARKER) and given["JWT_NEXT_SECRET"].startswith(SECRET_MARKER)
    assert given["JWT_SECRET"] != given["JWT_NEXT_SECRET"]
    assert SECRET in render.get(CONTAINER, container).inputs["envs"]  # still flagged secret


def test_es256_gives_the_private_key_to_the_issuers_alone_and_public_keys_to_everyone() -> None:
    render = faithful("prod", *ES256_OVERLAP)
    private_keys: dict[str, str] = {}
    bundles: set[str] = set()
    for service in SERVICES:
        for container in containers_of(render, service.name):
            given, held = env(render, container), files(render, container, revealed=True)
            assert given["JWT_ALGORITHM"] == "ES256" and given["JWT_PUBLIC_KEYS_FILE"] == PUBLIC_KEYS_PATH
            assert (held[PUBLIC_KEYS_PATH]["permissions"], held[PUBLIC_KEYS_PATH]["owner"]) == ("0444", "10001")
            bundles.add(held[PUBLIC_KEYS_PATH]["content"])
            assert not {k for k in given if k.startswith("JWT_SECRET") or "PREVIOUS" in k or "NEXT" in k}
            secret_files = [path for path in held if path.startswith(f"{SECRETS_DIR}/jwt-")]
            assert secret_files == ([f"{SECRETS_DIR}/jwt-private-key"] if service.name in JWT_ISSUERS else [])
            if service.name in JWT_ISSUERS:
                private = f"{SECRETS_DIR}/jwt-private-key"
                assert (given["JWT_KID"], given["JWT_PRIVATE_KEY_FILE"]) == ("es256-1", private)
                key = held[private]
                assert (key["permissions"], key["owner"]) == ("0400", "10001")
                assert files(render, container)[private]["content"] == SECRET
                private_keys[service.name] = key["content"]
            else:
                assert "JWT_KID" not in given and "JWT_PRIVATE_KEY_FILE" not in given
    assert set(private_keys) == set(JWT_ISSUERS)
    (bundle,) = bundles  # one bundle, the same everywhere
    (signing,) = set(private_keys.values())
    # The bundle holds the signing key's public half under the signing kid, then the previous generation's.
    assert bundle.startswith(f"kid: es256-1\n{_public_pem(signing)}kid: es256-0\n-----BEGIN PUBLIC KEY-----")
    assert bundle.count("kid: ") == 2


def test_es256_keys_are_files_even_where_secrets_are_variables() -> None:
    render = rendered("dev", "jwt.algorithm=ES256")
    issuer = containers_of(render, JWT_ISSUERS[0])[0]
    given = env(render, issuer)
    assert given["JWT_PRIVATE_KEY_FILE"] == f"{SECRETS_DIR}/jwt-private-key" and "JWT_PRIVATE_KEY" not in given
    assert "JWT_SECRET" not in env(render, containers_of(render, VERIFIER)[0])


@pytest.mark.parametrize("sets", [(), ES256_OVERLAP, HS256_OVERLAP, ("jwt.algorithm=ES256", "jwt.overlap=next")])
def test_no_key_material_in_names_commands_or_labels(sets: tuple[str, ...]) -> None:
    render = rendered("prod", *sets)
    for resource in render.resources:
        assert SECRET_MARKER not in resource.name
        if resource.type == CONTAINER:
            inputs = resource.revealed_inputs
            visible = [inputs.get(k) for k in ("name", "command", "entrypoints", "healthcheck", "labels")]
            assert SECRET_MARKER not in str(visible) and "PRIVATE KEY" not in str(visible), resource.name
    assert not [k for k, v in render.outputs.items() if "jwt" in k.lower()]


# --- rotation with overlap: each generation is kept, not replaced ---------------------------------------------

STEPS = {
    "HS256": ("payment-jwt-secret", ()),
    "ES256": ("payment-jwt-key", ("jwt.algorithm=ES256",)),
}


@pytest.mark.parametrize("algorithm", sorted(STEPS))
def test_the_three_step_rotation_never_replaces_a_generation_still_accepted(algorithm: str) -> None:
    """The CA's runbook, for tokens: announce the next key, sign with it, retire the old one."""
    prefix, mode = STEPS[algorithm]
    start = rendered("prod", *mode)
    announce = rendered("prod", *mode, "jwt.overlap=next")
    switch = rendered("prod", *mode, "rotation.jwt-secret=1", "jwt.overlap=previous")
    retire = rendered("prod", *mode, "rotation.jwt-secret=1", "jwt.overlap=none")
    keys = {f"{prefix}-0", f"{prefix}-1"}

    first = changed(start, announce)
    assert (first["added"], first["removed"], first["changed"] & keys) == ({f"{prefix}-1"}, set(), set())
    second = changed(announce, switch)  # only who signs changes: the same two generations
    assert (second["added"], second["removed"], second["changed"] & keys) == (set(), set(), set())
    assert env(switch, containers_of(switch, JWT_ISSUERS[1])[0])["JWT_KID"] == f"{algorithm.lower()}-1"
    third = changed(switch, retire)
    assert (third["added"], third["removed"], third["changed"] & keys) == (set(), {f"{prefix}-0"}, set())
    assert changed(rendered("prod", *mode, "rotation.jwt-secret=1"), retire) == {
        "added": set(),
        "removed": set(),
        "changed": set(),
    }


@pytest.mark.parametrize("sets", [ES256_OVERLAP, HS256_OVERLAP, ("jwt.overlap=next",)])
def test_each_jwt_key_file_reaches_exactly_the_consumers_the_catalog_names(sets: tuple[str, ...]) -> None:
    """As `test_secrets` for the named secrets: every file of JWT key material in the prod render (files delivery)
    is held by the catalog's consumers of it (`CatalogJwtKey.consumers`), and by no other container."""
    render = rendered("prod", *sets)
    names = [s.name for s in SERVICES]
    paths = {f"{SECRETS_DIR}/{key.name}": key for key in JWT_KEYS if key.secret} | {PUBLIC_KEYS_PATH: JWT_PUBLIC_KEYS}
    loaded = {r.name.removesuffix("-loader") for r in render.by_type(CONTAINER) if r.name.endswith("-loader")}
    holders: dict[str, set[str]] = {}
    for resource in render.by_type(CONTAINER):
        if resource.name not in loaded:
            continue
        labels = {item["label"]: item["value"] for item in resource.inputs.get("labels") or []}
        consumer = labels.get(SERVICE_LABEL) or str(resource.inputs["name"]).removeprefix("payment-")
        for path in files(render, resource.name):
            if path in paths:
                holders.setdefault(path, set()).add(consumer)
    expected = {
        path: {c for consumer in key.consumers for c in (names if consumer == SERVICES_CONSUMER else [consumer])}
        for path, key in paths.items()
        if path in holders
    }
    assert holders and holders == expected
