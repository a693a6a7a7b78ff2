"""The human-readable render: one row per resource with the facts a reviewer looks for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from plan.engine import Render, Resource
from plan.simulate import image_id
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


def _network(inputs: Mapping[str, Any]) -> list[str]:
    subnets = [c.get("subnet") for c in inputs.get("ipamConfigs", [])]
    return [f"name={inputs.get('name')}", f"driver={inputs.get('driver')}", *(f"subnet={s}" for s in subnets)]


def _container(inputs: Mapping[str, Any]) -> list[str]:
    facts = [f"image={inputs.get('image')}"]
    for port in inputs.get("ports", []):
        facts.append(f"port={port.get('ip', '')}:{port.get('external')}->{port.get('internal')}")
    if "memory" in inputs:
        facts.append(f"memory={inputs['memory']}M")
    if inputs.get("user"):
        facts.append(f"user={inputs['user']}")
    if "cpus" in inputs:
        facts.append(f"cpus={inputs['cpus']}")
    return facts


def _volume(inputs: Mapping[str, Any]) -> list[str]:
    return [f"name={inputs.get('name')}"]


def _remote_image(inputs: Mapping[str, Any]) -> list[str]:
    return [f"ref={inputs.get('name')}"]


def _password(inputs: Mapping[str, Any]) -> list[str]:
    keepers = inputs.get("keepers") or {}
    return [f"length={inputs.get('length')}", *(f"{k}={v}" for k, v in sorted(keepers.items()))]


def _private_key(inputs: Mapping[str, Any]) -> list[str]:
    return [f"{inputs.get('algorithm')}/{inputs.get('ecdsaCurve') or inputs.get('rsaBits') or ''}".rstrip("/")]


def _cert_request(inputs: Mapping[str, Any]) -> list[str]:
    return [f"cn={inputs.get('subject', {}).get('commonName')}", f"dns={','.join(inputs.get('dnsNames', []))}"]


def _certificate(inputs: Mapping[str, Any]) -> list[str]:
    facts = [f"valid={inputs.get('validityPeriodHours')}h", f"renew={inputs.get('earlyRenewalHours')}h"]
    if inputs.get("isCaCertificate"):
        facts.insert(0, f"CA cn={inputs.get('subject', {}).get('commonName')}")
    return facts


_FACTS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    NETWORK: _network,
    CONTAINER: _container,
    VOLUME: _volume,
    REMOTE_IMAGE: _remote_image,
    RANDOM_PASSWORD: _password,
    PRIVATE_KEY: _private_key,
    CERT_REQUEST: _cert_request,
    SELF_SIGNED_CERT: _certificate,
    LOCALLY_SIGNED_CERT: _certificate,
}


def _short_type(type_: str) -> str:
    """`docker:index/container:Container` -> `docker:Container`."""
    package, _, rest = type_.partition(":")
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if "/" in rest else type_


def _flags(resource: Resource) -> list[str]:
    flags = [flag for flag, on in (("protect", resource.protect), ("retain", resource.retain_on_delete)) if on]
    if resource.replacement_trigger not in (None, 0):
        trigger = str(resource.replacement_trigger)
        flags.append(f"trigger={trigger[:12] if len(trigger) > 16 else trigger}")
    return flags


def format_table(render: Render) -> str:
    names = {r.urn: r.name for r in render.resources}
    # Containers run pulled image ids; show the reference each id was pulled from.
    images = {image_id(str(r.inputs.get("name"))): str(r.inputs.get("name")) for r in render.by_type(REMOTE_IMAGE)}
    rows = [("TYPE", "NAME", "PARENT", "DETAILS")]
    for resource in render.resources:
        describe = _FACTS.get(resource.type)
        facts = (describe(resource.inputs) if describe else []) + _flags(resource)
        facts = [f"image={images.get(f[6:], f[6:])}" if f.startswith("image=") else f for f in facts]
        parent = names.get(resource.parent or "", "")
        rows.append((_short_type(resource.type), resource.name, parent, " ".join(facts)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + ("  " + row[3] if row[3] else "")
        for row in rows
    ]
    summary = f"{render.project}/{render.stack}: {len(render.resources)} resources"
    return "\n".join([*(line.rstrip() for line in lines), "", summary]) + "\n"
