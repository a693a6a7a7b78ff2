"""Stand-ins for the values providers compute (ids, generated passwords, keys, certificates).

`Placeholders` is what `python -m plan render` uses: every value is derived from the resource's URN, its
inputs and its replacement trigger, never from a clock or a random source, so a render is
byte-identical for the same commit and config, and a rotation (a changed keeper or trigger) changes the
value exactly where the real provider would. Simulated secret values carry the marker
`SIMULATED-SECRET`: the renderer never prints one, so a marker in its output means a value lost its
secret flag on the way. Certificates are public and carry `SIMULATED-CERTIFICATE` instead.

`tests.support.tlsmodel.Faithful` (used by tests only) replaces the TLS placeholders with real keys and certificates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from vocabulary import (
    CERT_REQUEST,
    CONTAINER,
    LOCALLY_SIGNED_CERT,
    NETWORK,
    PRIVATE_KEY,
    RANDOM_PASSWORD,
    REMOTE_IMAGE,
    SELF_SIGNED_CERT,
    VOLUME,
)

SECRET_MARKER = "SIMULATED-SECRET"
CERTIFICATE_MARKER = "SIMULATED-CERTIFICATE"

# A fixed clock for simulated validity windows: renders must not depend on when they run.
SIMULATED_NOW = "2026-01-01T00:00:00Z"

Simulator = Callable[["Request"], dict[str, Any]]


class Request:
    """One registration as a simulator sees it: plain inputs (secrets revealed) and identity."""

    def __init__(self, type_: str, urn: str, inputs: Mapping[str, Any], trigger: Any = None) -> None:
        self.type = type_
        self.urn = urn
        self.inputs = inputs
        self.trigger = trigger
        """The resource's `replacement_trigger`: a new value means a new resource, so new values."""

    def seed(self, purpose: str) -> str:
        """A digest unique to this resource, its inputs, its trigger and `purpose`."""
        return digest(purpose, self.urn, json.dumps([self.inputs, self.trigger], sort_keys=True, default=str))


def digest(*parts: str) -> str:
    """A stable hex digest of `parts`."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def resource_id(request: Request) -> str:
    """A 64-hex-digit id, the shape of a Docker object id.

    Derived from inputs and trigger as well as the URN: a replaced resource gets a new id, as it does
    from a real provider, so whatever keys off an id (a `replacement_trigger`) changes with it.
    """
    return request.seed("id")


def marked(seed: str, length: int, marker: str = SECRET_MARKER) -> str:
    """A value of exactly `length` characters (at least the marker's) that starts with `marker`."""
    body = f"{marker}-{seed}"
    while len(body) < length:
        body += digest(body)
    return body[: max(length, len(marker) + 9)]


def _pem(kind: str, seed: str, marker: str) -> str:
    return f"-----BEGIN {kind}-----\n{marked(seed, 64, marker)}\n-----END {kind}-----\n"


def _random_password(request: Request) -> dict[str, Any]:
    length = int(request.inputs.get("length", 32))
    return {
        "result": marked(request.seed("result"), length),
        "bcryptHash": "$2a$10$" + marked(request.seed("bcrypt"), 53),
    }


def _docker_named(request: Request) -> dict[str, Any]:
    # Docker names objects after their logical name when no name is given.
    return {"name": request.inputs.get("name") or request.urn.rsplit("::", 1)[-1]}


def image_id(reference: str) -> str:
    """The simulated id of a pulled image; derived from its name, so the table can name it again."""
    return f"sha256:{digest('image', reference)}"


def _remote_image(request: Request) -> dict[str, Any]:
    reference = str(request.inputs.get("name"))
    repository = reference.split(":", maxsplit=1)[0]
    return {"imageId": image_id(reference), "repoDigest": f"{repository}@{image_id(reference)}"}


def _private_key(request: Request) -> dict[str, Any]:
    seed = request.seed("key")
    return {
        "privateKeyPem": _pem("PRIVATE KEY", seed, SECRET_MARKER),
        "privateKeyPemPkcs8": _pem("PRIVATE KEY", seed, SECRET_MARKER),
        "privateKeyOpenssh": _pem("OPENSSH PRIVATE KEY", seed, SECRET_MARKER),
        "publicKeyPem": _pem("PUBLIC KEY", seed, "SIMULATED-PUBLIC-KEY"),
        "publicKeyFingerprintSha256": "SHA256:" + digest("fingerprint", seed)[:43],
    }


def _certificate(request: Request) -> dict[str, Any]:
    return {
        "certPem": _pem("CERTIFICATE", request.seed("certificate"), CERTIFICATE_MARKER),
        "validityStartTime": SIMULATED_NOW,
        "validityEndTime": _hours_after(SIMULATED_NOW, int(request.inputs.get("validityPeriodHours", 0))),
        "readyForRenewal": False,
    }


def _cert_request(request: Request) -> dict[str, Any]:
    return {"certRequestPem": _pem("CERTIFICATE REQUEST", request.seed("csr"), "SIMULATED-CSR")}


def _hours_after(start: str, hours: int) -> str:
    moment = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


PLACEHOLDERS: dict[str, Simulator] = {
    RANDOM_PASSWORD: _random_password,
    NETWORK: _docker_named,
    VOLUME: _docker_named,
    CONTAINER: _docker_named,
    REMOTE_IMAGE: _remote_image,
    PRIVATE_KEY: _private_key,
    SELF_SIGNED_CERT: _certificate,
    LOCALLY_SIGNED_CERT: _certificate,
    CERT_REQUEST: _cert_request,
}


class Placeholders:
    """Deterministic placeholders for every simulated type; other types just echo their inputs."""

    simulators: Mapping[str, Simulator] = PLACEHOLDERS

    def outputs(self, request: Request) -> dict[str, Any]:
        simulator = self.simulators.get(request.type)
        return simulator(request) if simulator else {}
