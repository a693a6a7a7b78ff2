"""Deterministic stand-ins for the values providers compute (ids, generated passwords, keys).

Every value is derived from the resource's URN and inputs, never from a clock or a random source, so a
render is byte-identical for the same commit and config. Simulated secret values carry the marker
`SIMULATED-SECRET`: the renderer never prints one, so a marker in its output means a value lost its
secret flag on the way (a test greps every render for it).

Add a simulator when a resource type's computed output is read by the program; types without one just
echo their inputs, as the real engine does for inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

SECRET_MARKER = "SIMULATED-SECRET"

Simulator = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def digest(*parts: str) -> str:
    """A stable hex digest of `parts`."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def resource_id(urn: str) -> str:
    """A 64-hex-digit id, the shape of a Docker object id, stable per URN."""
    return digest("id", urn)


def simulated_secret(urn: str, purpose: str, length: int = 48) -> str:
    """A marked secret value of at least `length` characters, stable per URN and purpose."""
    body = f"{SECRET_MARKER}-{digest(purpose, urn)}"
    while len(body) < length:
        body += digest(body)
    return body[: max(length, len(SECRET_MARKER) + 9)]


def _random_password(urn: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    length = int(inputs.get("length", 32))
    return {
        "result": simulated_secret(urn, "result", length),
        "bcryptHash": "$2a$10$" + simulated_secret(urn, "bcrypt", 53),
    }


def _docker_named(urn: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    # Docker names objects after their logical name when no name is given.
    return {"name": inputs.get("name") or urn.rsplit("::", 1)[-1]}


_SIMULATORS: dict[str, Simulator] = {
    "random:index/randomPassword:RandomPassword": _random_password,
    "docker:index/network:Network": _docker_named,
    "docker:index/volume:Volume": _docker_named,
    "docker:index/container:Container": _docker_named,
}


def outputs(type_: str, urn: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Provider-computed outputs for one resource; the engine merges them under the inputs."""
    simulator = _SIMULATORS.get(type_)
    return simulator(urn, inputs) if simulator else {}
