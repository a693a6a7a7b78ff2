"""Typed, frozen configuration models.

Two families live here:

* `StackSettings` and its parts mirror what a user may write under the `payment-platform:` namespace
  (camelCase keys, every field optional). They only check shape and types; `extra="forbid"` turns a typo
  into an "unknown key" error instead of a silently ignored setting.
* `PlatformConfig` and its parts are the resolved result that components receive: catalog, profile
  defaults and stack overrides merged, cross-checked, nothing optional left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stacks.catalog import Tier
from stacks.units import ByteSize, Cpus

ProfileName = Literal["dev", "prod"]
RestartPolicyName = Literal["on-failure", "unless-stopped"]

MAX_RESTART_RETRIES = 5
"""Upper bound for `on-failure`: a container that fails more often needs a person, not a loop."""

MAX_REPLICAS = 20
"""Replicas are separate containers on one Docker host; more than this is a sizing mistake."""

SERVICE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
"""A DNS label short enough that `payment-<name>-<replica>` stays a readable container name."""

DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
"""An unquoted PostgreSQL identifier (63 bytes at most), so generated SQL never needs quoting tricks."""


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, use_enum_values=False
    )


# --- what a user may write in stack config ------------------------------------------------------


class ResourcesSettings(Model):
    cpus: Cpus | None = None
    """CPU count, e.g. `0.5` or `2`."""
    memory: ByteSize | None = None
    """Memory, e.g. `512M` or `1G`."""


class PublishSettings(Model):
    enabled: bool | None = None
    """Publish the port on the Docker host."""
    address: IPv4Address | None = None
    """Host address to bind the published port to."""


class WorkloadSettings(Model):
    """Overrides for one container group (a service or a piece of infrastructure)."""

    limits: ResourcesSettings | None = None
    reservations: ResourcesSettings | None = None
    publish: PublishSettings | None = None


class ServiceSettings(WorkloadSettings):
    """`services.<name>`: overrides for a catalog service, or the declaration of a new one."""

    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """New services only: listening port (also the published port)."""
    database: str | None = None
    """New services only: its PostgreSQL database."""
    tier: Tier | None = None
    """New services only: `core` (default) or `bff`."""
    title: str | None = None
    """New services only: human name (defaults to the service name)."""


class StackSettings(Model):
    """Everything under the `payment-platform:` config namespace."""

    profile: ProfileName | None = None
    network_subnet: IPv4Network | None = None
    log_max_size: ByteSize | None = None
    log_max_files: Annotated[int, Field(ge=1, le=20)] | None = None
    restart_policy: RestartPolicyName | None = None
    restart_max_retries: Annotated[int, Field(ge=1, le=MAX_RESTART_RETRIES)] | None = None
    services: dict[str, ServiceSettings] = Field(default_factory=dict)
    postgres: WorkloadSettings | None = None
    redis: WorkloadSettings | None = None
    kafka: WorkloadSettings | None = None
    prometheus: WorkloadSettings | None = None
    grafana: WorkloadSettings | None = None
    jaeger: WorkloadSettings | None = None
    kong: WorkloadSettings | None = None


# --- profiles and the resolved configuration ----------------------------------------------------


class Resources(Model):
    cpus: Cpus
    memory: ByteSize


class Publish(Model):
    enabled: bool
    address: IPv4Address


class Workload(Model):
    """Resolved sizing and exposure of one container group."""

    limits: Resources
    reservations: Resources
    """Soft guarantees: memory becomes Docker's memory reservation, CPUs its relative CPU shares."""
    publish: Publish


class LogRotation(Model):
    driver: Literal["json-file"] = "json-file"
    max_size: ByteSize
    max_files: int

    def docker_options(self) -> dict[str, str]:
        return {"max-size": self.max_size.docker(), "max-file": str(self.max_files)}


class RestartPolicy(Model):
    policy: RestartPolicyName
    max_retries: int = 0
    """Only for `on-failure`; 0 otherwise."""


class Profile(Model):
    """Defaults that differ per environment. `stacks/profiles.py` holds the two instances."""

    name: ProfileName
    service: Workload
    """Sizing and exposure of every application service unless overridden."""
    replicas: Mapping[str, int] = Field(default_factory=dict)
    """Replica counts that differ from 1, by service name."""
    infrastructure: Mapping[str, Workload]
    logging: LogRotation
    restart: RestartPolicy
    public_infrastructure: frozenset[str] | None = None
    """Infrastructure allowed to publish on a non-loopback address; None allows anything (dev)."""


class Network(Model):
    name: str
    """Docker network name; also the DNS domain services use (`<name>.payment-network`)."""
    subnet: IPv4Network
    gateway: IPv4Address


class Service(Model):
    """One application service, resolved: catalog identity plus its deployment settings."""

    name: str
    port: int
    database: str
    tier: Tier
    title: str
    builtin: bool
    """True for the seed's 19 services, false for services a stack adds through config."""
    replicas: int
    workload: Workload

    @property
    def container_names(self) -> tuple[str, ...]:
        """`payment-<name>` as in the seed, or `payment-<name>-<n>` for each of several replicas."""
        if self.replicas == 1:
            return (f"payment-{self.name}",)
        return tuple(f"payment-{self.name}-{n}" for n in range(1, self.replicas + 1))


class Infrastructure(Model):
    name: str
    port: int
    published_port: int
    title: str
    workload: Workload

    @property
    def container_name(self) -> str:
        return f"payment-{self.name}"


class PlatformConfig(Model):
    """The whole platform for one stack; the only thing components are given."""

    project: str
    stack: str
    profile: ProfileName
    network: Network
    services: tuple[Service, ...]
    infrastructure: tuple[Infrastructure, ...]
    logging: LogRotation
    restart: RestartPolicy

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def infra(self, name: str) -> Infrastructure:
        for item in self.infrastructure:
            if item.name == name:
                return item
        raise KeyError(name)
