"""One way to declare a platform container, so every container gets the same baseline.

Every container the platform runs is built here: its fixed name, the platform network with its DNS
aliases, the profile's CPU and memory limits and reservations, json-file log rotation, a bounded restart
policy, a healthcheck with the profile's timing, `no-new-privileges`, all capabilities dropped, and a
published port only where the profile or stack config asks, on an explicit host address.

Containers have fixed Docker names (`payment-postgres`, as the seed's commands expect), so a
replacement must delete the old container before creating the new one (`delete_before_replace`);
otherwise Docker refuses the second container with the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.container_files import ContainerFiles
from components.labels import platform_labels
from components.network import Network
from stacks.models import HealthTiming, LogRotation, PlatformConfig, RestartPolicy, Workload


@dataclass(frozen=True)
class ContainerSpec:
    container_name: str
    """Docker name, e.g. `payment-postgres`."""
    alias: str
    """Short DNS name on the platform network, e.g. `postgres` (`postgres.payment-network` is added)."""
    image: pulumi.Input[str]
    network: Network
    workload: Workload
    logging: LogRotation
    restart: RestartPolicy
    health: HealthTiming
    healthcheck: Sequence[str]
    """Docker healthcheck test, e.g. `["CMD", "pg_isready", ...]`. Never carries a secret."""
    internal_port: int
    published_port: int | None = None
    """Host port when the workload is published; None for containers the host never reaches."""
    files: ContainerFiles = field(default_factory=ContainerFiles)
    user: str | None = None
    """`uid:gid` to run as; the image's non-root user."""
    command: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    volumes: Sequence[docker.ContainerVolumeArgs] = ()
    labels: dict[str, str] = field(default_factory=dict)
    wait: bool = True
    """Wait for `healthy` during `pulumi up`, so dependants start against a ready container."""


def image(name: str, reference: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Pull `reference` once and return its image id (a container needs a local image to start from).

    `keep_locally`: a destroy or an image change leaves the old image for other stacks on the host.
    """
    pulled = docker.RemoteImage(name, name=reference, keep_locally=True, opts=pulumi.ResourceOptions(parent=parent))
    return pulled.image_id


def container(resource_name: str, spec: ContainerSpec, parent: pulumi.Resource) -> docker.Container:
    workload = spec.workload
    ports = []
    if spec.published_port is not None and workload.publish.enabled:
        ports.append(
            docker.ContainerPortArgs(
                internal=spec.internal_port,
                external=spec.published_port,
                ip=str(workload.publish.address),
                protocol="tcp",
            )
        )
    health = spec.health
    return docker.Container(
        resource_name,
        name=spec.container_name,
        image=spec.image,
        hostname=spec.alias,
        networks_advanced=[spec.network.attach(spec.alias)],
        envs=spec.files.envs(),
        uploads=list(spec.files.uploads),
        volumes=list(spec.volumes),
        ports=ports,
        user=spec.user,
        command=list(spec.command) if spec.command else None,
        entrypoints=list(spec.entrypoint) if spec.entrypoint else None,
        memory=workload.limits.memory.mebibytes,
        memory_reservation=workload.reservations.memory.mebibytes,
        cpus=str(workload.limits.cpus),
        cpu_shares=workload.reservations.cpus.shares,
        log_driver=spec.logging.driver,
        log_opts=spec.logging.docker_options(),
        restart=spec.restart.policy,
        max_retry_count=spec.restart.max_retries or None,
        security_opts=["no-new-privileges:true"],
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=list(spec.healthcheck),
            interval=f"{health.interval_seconds}s",
            timeout=f"{health.timeout_seconds}s",
            retries=health.retries,
            start_period=f"{health.start_period_seconds}s",
        ),
        wait=spec.wait,
        wait_timeout=health.wait_timeout_seconds if spec.wait else None,
        labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(spec.labels.items())],
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )


def data_volume(
    name: str, volume_name: str, labels: dict[str, str], protect: bool, parent: pulumi.Resource
) -> docker.Volume:
    """A named volume that holds payment data: kept on `pulumi destroy`, protected where the profile says.

    `retain_on_delete` in every stack: deleting the resource from state never deletes the data.
    `protect` (prod): `pulumi destroy` and replacements stop until an operator unprotects it.
    The logical `name` is fixed by the caller, not derived from a component name, so renaming a
    component never replaces a data volume (URNs hold the parents' types, not their names).
    """
    return docker.Volume(
        name,
        name=volume_name,
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, protect=protect),
    )


@dataclass(frozen=True)
class StoreSpec:
    """What differs between the data stores; `data_store` supplies everything they share."""

    healthcheck: Sequence[str]
    internal_port: int
    """Container port the published host port maps to."""
    user: str
    files: ContainerFiles
    data_path: str
    """Where the data volume is mounted."""
    command: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None


def data_store(
    name: str, store: str, config: PlatformConfig, network: Network, spec: StoreSpec, *, parent: pulumi.Resource
) -> docker.Container:
    """Image, data volume and container of the data store `store` (postgres, redis, kafka).

    The catalog entry gives the container name (`payment-<store>`), alias, image, published port and
    sizing; the data tier gives health timing and volume protection. Children: `<name>-image`,
    `<store>-data` (fixed, see `data_volume`) and `<name>-container`.
    """
    infra = config.infra(store)
    if infra.image is None:
        raise ValueError(f"the catalog gives {store} no image")
    labels = platform_labels(config)
    volume = data_volume(f"{store}-data", f"payment-{store}-data", labels, config.data.protect_data, parent)
    return container(
        f"{name}-container",
        ContainerSpec(
            container_name=infra.container_name,
            alias=store,
            image=image(f"{name}-image", infra.image, parent),
            network=network,
            workload=infra.workload,
            logging=config.logging,
            restart=config.restart,
            health=config.data.health,
            healthcheck=spec.healthcheck,
            internal_port=spec.internal_port,
            published_port=infra.published_port,
            files=spec.files,
            user=spec.user,
            command=spec.command,
            entrypoint=spec.entrypoint,
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=spec.data_path)],
            labels=labels,
        ),
        parent,
    )
