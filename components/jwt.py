"""Token signing keys: the seed's shared HS256 secret, or ES256 key pairs, one per generation, with overlap.

* `HS256` (the default, the seed's contract): every service gets the signing generation's secret as `JWT_SECRET`
  (or `JWT_SECRET_FILE`, per `secretDelivery`) and, during an overlap, the other accepted generation as
  `JWT_PREVIOUS_SECRET` or `JWT_NEXT_SECRET`. Each secret is a `RandomPassword` of its own.
* `ES256`: one ECDSA P-256 key pair (pulumi-tls `PrivateKey`) per generation. The catalog's issuers get the signing
  generation's private key as a 0400 file (`JWT_PRIVATE_KEY_FILE`, always a file, like the TLS keys: no image reads
  it from a variable); every service gets the public keys of every accepted generation (`JWT_PUBLIC_KEYS_FILE`, 0444).
  No other service receives a private key or an HMAC secret, so a compromised verifier cannot mint tokens.

Each generation is its own resource, named by its number (`<name>-secret-<n>`, `<name>-key-<n>`), like the CA
generations in `components.pki`: when a rotation moves the signing generation on, the previous one is kept, not
replaced, for as long as `jwt.overlap` names it. Every token carries a `kid` (`hs256-3`, `es256-3`) that names its
generation, so a verifier picks the key without trying each; the ids are deterministic, so the offline plan, the
real preview and a re-run all agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.secrets import generated_password, secret_files
from stacks.catalog import (
    JWT_ALGORITHM_VARIABLE,
    JWT_KID_VARIABLE,
    JWT_NEXT_SECRET,
    JWT_PREVIOUS_SECRET,
    JWT_PRIVATE_KEY,
    JWT_PUBLIC_KEYS,
    JWT_SECRET,
    CatalogJwtKey,
)
from stacks.models import Jwt as JwtConfig
from stacks.models import SecretDelivery

JWT_DIR = "/app/jwt"
"""Public verification keys: not secret, so beside the certificates' folders rather than in /run/secrets."""
PUBLIC_KEYS_PATH = f"{JWT_DIR}/{JWT_PUBLIC_KEYS.name}"


def public_key_bundle(keys: Sequence[tuple[str, str]]) -> str:
    """`(kid, PEM)` pairs as one file: each PEM block preceded by a `kid: <kid>` line.

    RFC 7468 (section 5.2) lets text stand outside the encapsulation boundaries and PEM readers skip it, so the file
    is a plain PEM bundle to any tool, and a verifier that reads the lines finds each key's id next to it."""
    return "".join(f"kid: {kid}\n{pem.rstrip()}\n" for kid, pem in keys)


def _overlap_key(config: JwtConfig, generation: int) -> CatalogJwtKey:
    """The variable family an accepted, non-signing HS256 generation is given under."""
    return JWT_NEXT_SECRET if generation > config.generation else JWT_PREVIOUS_SECRET


@dataclass(frozen=True)
class JwtArgs:
    config: JwtConfig
    delivery: SecretDelivery
    """How secret values reach services (`secretDelivery`); ES256 keys are files whatever it says."""


class SigningKeys(pulumi.ComponentResource):
    """Every accepted generation of the token signing key, and what each service is given of them."""

    secrets: dict[int, pulumi.Output[str]]
    """HS256: generation -> its secret (secret)."""
    private_keys: dict[int, pulumi.Output[str]]
    """ES256: generation -> its private key, PKCS#8 PEM (secret)."""
    public_keys: pulumi.Output[str] | None
    """ES256: the bundle every service verifies with (`public_key_bundle`, public); None under HS256."""

    def __init__(self, name: str, args: JwtArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:jwt:SigningKeys", name, None, opts)
        self.config = args.config
        self.delivery = args.delivery
        child = pulumi.ResourceOptions(parent=self)
        self.secrets, self.private_keys = {}, {}
        public_keys: list[pulumi.Output[str]] = []
        for generation in self.config.generations:
            if self.config.algorithm == "ES256":
                key = tls.PrivateKey(f"{name}-key-{generation}", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
                self.private_keys[generation] = key.private_key_pem_pkcs8
                public_keys.append(key.public_key_pem)
            elif self.config.value is not None:
                # Set in config: one generation only (stacks.resolve.jwt refuses an overlap with it).
                self.secrets[generation] = pulumi.Output.secret(self.config.value.get_secret_value())
            else:
                # Fixed per generation: a generation's value never changes while any service accepts it.
                self.secrets[generation] = generated_password(
                    f"{name}-secret-{generation}", self.config.length, {"generation": str(generation)}, self
                )
        kids = [self.config.kid(g) for g in self.config.generations]
        self.public_keys = (
            pulumi.Output.all(*public_keys).apply(lambda pems: public_key_bundle(list(zip(kids, pems, strict=True))))
            if public_keys
            else None
        )
        self.register_outputs({})

    def files(self, service: str, uid: int) -> ContainerFiles:
        """What `service` is given: the algorithm, and the key material its role (issuer or verifier) needs."""
        config = self.config
        signing = config.generation
        files = ContainerFiles(env={JWT_ALGORITHM_VARIABLE: config.algorithm})
        if config.algorithm == "HS256":
            # Everyone signs and verifies with a shared secret: the seed's contract, plus the overlap's generation.
            files += ContainerFiles(env={JWT_KID_VARIABLE: config.kid(signing)})
            assert JWT_SECRET.variable is not None
            files += secret_files(JWT_SECRET.variable, JWT_SECRET.name, self.secrets[signing], self.delivery, uid)
            for generation in config.generations[1:]:
                key = _overlap_key(config, generation)
                assert key.kid_variable is not None
                files += ContainerFiles(env={key.kid_variable: config.kid(generation)})
                files += secret_files(key.variable, key.name, self.secrets[generation], self.delivery, uid)
            return files
        assert self.public_keys is not None
        files += ContainerFiles(
            env={f"{JWT_PUBLIC_KEYS.variable}_FILE": PUBLIC_KEYS_PATH},
            uploads=(upload(PUBLIC_KEYS_PATH, self.public_keys, uid, PUBLIC_READ),),
        )
        if service in config.issuers:
            # Always a file: a PEM key in a variable is no contract any image has.
            files += ContainerFiles(env={JWT_KID_VARIABLE: config.kid(signing)})
            files += secret_files(
                JWT_PRIVATE_KEY.variable, JWT_PRIVATE_KEY.name, self.private_keys[signing], "files", uid
            )
        return files
