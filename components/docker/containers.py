"""One way to declare a platform container, so every container gets the same hardened baseline.

Every container the platform runs is built here (`components.docker.hardening` lists the baseline and its
documented exceptions): its fixed name, the platform network with its DNS aliases, the profile's CPU and
memory limits and reservations, json-file log rotation, a restart policy that survives a reboot, a healthcheck with the
profile's timing, a non-root user, a read-only root filesystem, `no-new-privileges`, all capabilities
dropped, and a published port only where the profile or stack config asks, on an explicit host address.

Files (certificates, keys, secrets, generated configuration) reach a read-only container through files
volumes. The Docker API refuses to extract an upload into a read-only root filesystem, and the provider
extracts uploads at `/`; so a one-shot loader container (busybox, no network) receives the uploads, copies
each folder's files into that folder's volume (`payment-<container>-files-<folder>`), and exits; the container
mounts each volume read-only at its folder. One volume per folder, not sub-folders of one volume: volume
subpaths need Docker 26 (API 1.45), and the seed promises Docker 24; a 20.10 engine silently mounted the
volume's root instead.
The loader is replaced whenever a file changes, and the container is replaced with it (its
`replacement_trigger` is the loader's id), so a rotation restarts exactly the containers that hold the
rotated file.

The loader deletes its staged uploads once it has copied them (`loader_script`), so its writable layer keeps no
copy of a key or password; the exited container itself stays. Removing it instead (`rm`, or deleting it after the
copy) would undo the design above: the provider reads a container that is gone as deleted and creates it again on
the next `pulumi up`, with a new id, and that id is the trigger that replaces the container using the files, so
every `up` would restart every container with files. The loader is bounded like every other container
(`LOADER_LIMITS`).

Containers have fixed Docker names (`payment-postgres`, as the seed's commands expect), so a
replacement must delete the old container before creating the new one (`delete_before_replace`);
otherwise Docker refuses the second container with the same name.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import pulumi
import pulumi_docker as docker

from components.docker.files import ContainerFiles
from components.docker.hardening import (
    DEFAULT_TMPFS,
    LOADER_CAPABILITIES,
    SECURITY_OPTS,
    exception,
    host_mount_item,
    loader_name,
    runs_as_root,
)
from components.docker.image_contract import ImageContract
from stacks.catalog import DATA_VOLUME_SUFFIX, DOCKER_NAME_PREFIX, LOADER_IMAGE
from stacks.models import HealthTiming, Infrastructure, LogRotation, Resources, RestartPolicy, Workload, dns_name
from stacks.units import ByteSize, Cpus

L = TypeVar("L")
STAGE = "/stage"
FILES = "/files"


def loader_script(roots: Sequence[str], *, stage: str = STAGE, files: str = FILES) -> str:
    """The loader's `sh -c` script: replace each folder volume's whole content (mounted at `/files<folder>`) with
    the folder's staged files, so a file no longer uploaded does not linger; then delete the staged uploads.

    The staged copies go whether the copy worked or not (its exit status is kept): the provider uploads them into
    the container's writable layer, which outlives the run (`docker cp`, `docker export` and the engine's data
    root would show every key and password in it). A loader that cannot delete them exits 1. Started again by
    hand, it finds nothing staged and leaves the volumes as they are, rather than emptying them: the files are
    copied again by replacing the loader (`pulumi up --replace <its URN>`).

    `stage` and `files` move both folders elsewhere, for running the script outside a container (tests).
    """
    copy = " && ".join(
        f"find {shlex.quote(files + root)} -mindepth 1 -delete && cp -a {shlex.quote(stage + root)}/. "
        f"{shlex.quote(files + root)}/"
        for root in roots
    )
    staged = shlex.quote(stage)
    return (
        f"[ -d {staged} ] || {{ echo 'loader: nothing staged (copied and cleared by an earlier run)' >&2; exit 0; }}; "
        f"{copy}; copied=$?; rm -rf {staged} || exit 1; exit $copied"
    )


def files_volume_name(name: str, root: str) -> str:
    """`payment-postgres-files-etc-postgresql`: the volume (and, from the resource name, the resource) holding the
    files of folder `root` of the container `name`."""
    return f"{loader_name(name)}-{root.strip('/').replace('/', '-')}"


LOADER_LIMITS = Resources(memory=ByteSize.parse("32M"), cpus=Cpus.parse("0.25"))
"""Memory (no swap) and CPU limit of every loader, in every stack: it copies a few kilobytes (the largest set,
Grafana's dashboards, is about 90 KB) with `sh`, `find` and `cp`, a few MiB resident; 32M leaves room for the page
cache its copies are charged and for file sets many times today's, and a quarter of a CPU keeps the loaders that
start together in a cold `pulumi up` from crowding out the data stores starting beside them.

Processes: pulumi-docker's Container has no `pids_limit` (the engine's PidsLimit is not in its schema), and
`ulimits` `nproc` does not bind a root process, so what bounds the loader's processes is the memory limit (each
task's kernel stack and structures are charged to the container's memory cgroup: 3,000 `sleep`s started in a 32M
cgroup, on our cgroup v1 hosts' kernel 6.18, left 152 alive, the OOM killer ending the rest) and the script itself,
which runs `sh` and one `find` or `cp` at a time and reads no input."""
NETWORKED = "bridge"
"""`network_mode` of every container on a network: the provider's default, which it leaves before the first start
(`container` says why not the container's own network)."""
STOP_GRACE_SECONDS = 30
"""SIGTERM, then this long before SIGKILL: data stores flush and services drain on replacement."""


@dataclass(frozen=True)
class Host:
    """What every container on the Docker host shares: the platform network, the loader image, the stack's labels
    and the profile's log rotation, restart policy, health timing and data protection."""

    networks: Mapping[str, pulumi.Input[str]]
    """Docker name of each network (`Network.names`), by segment name."""
    memberships: Mapping[str, Sequence[str]]
    """The segments each container joins, by its alias (`PlatformConfig.networks_of`); it joins no other."""
    domain: str
    """The platform's DNS domain: each container answers to `<alias>` and `<alias>.<domain>` on each network."""
    loader_image: pulumi.Input[str]
    labels: Mapping[str, str]
    """Labels every resource of the stack carries (`components.docker.labels`)."""
    logging: LogRotation
    restart: RestartPolicy
    health: HealthTiming
    protect_data: bool
    """Data volumes are `protect`ed (prod)."""

    def joins(self, alias: str) -> list[pulumi.Input[str]]:
        """The Docker networks the container with DNS name `alias` joins (`PlatformConfig.placements`); none for a
        container placed on no network."""
        if alias not in self.memberships:
            raise ValueError(f"{alias}: not placed on any network; stacks.resolve.networks decides who joins which")
        return [self.networks[segment] for segment in self.memberships[alias]]

    def attach(self, alias: str) -> list[docker.ContainerNetworksAdvancedArgs]:
        """How a container with DNS name `alias` joins each of its networks: as `<alias>` and `<alias>.<domain>`.
        Given as it joins each network; never as its `network_mode`, whose aliases the engine drops (`container`)."""
        return [
            docker.ContainerNetworksAdvancedArgs(name=network, aliases=[alias, dns_name(alias, self.domain)])
            for network in self.joins(alias)
        ]


@dataclass(frozen=True)
class ContainerSpec:
    container_name: str
    """Docker name, e.g. `payment-postgres`."""
    alias: str
    """Short DNS name on the platform network, e.g. `postgres` (`postgres.payment-network` is added)."""
    image: pulumi.Input[str]
    host: Host
    workload: Workload
    healthcheck: Sequence[str]
    """Docker healthcheck test, e.g. `["CMD", "pg_isready", ...]`. Never carries a secret."""
    internal_port: int
    user: str
    """`uid:gid` to run as: never root (`components.docker.hardening`)."""
    published_port: int | None = None
    """Host port when the workload is published; None for containers the host never reaches."""
    files: ContainerFiles = field(default_factory=ContainerFiles)
    command: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    volumes: Sequence[docker.ContainerVolumeArgs] = ()
    """Named volumes (data); host paths are refused."""
    host_mounts: Sequence[tuple[str, str]] = ()
    """(host path, container path) pairs mounted read-only; only with a documented `host_mounts` exception (the
    Docker socket: `docker_socket`)."""
    tmpfs: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TMPFS))
    """Writable scratch mounts of the read-only container."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels on top of the host's (`Host.labels`)."""
    wait: bool = True
    """Wait for `healthy` during `pulumi up`, so dependants start against a ready container."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Containers that must be healthy first (they are created with `wait`)."""


def image(name: str, reference: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Pull `reference` once and return its image id (a container needs a local image to start from).

    `keep_locally`: a destroy or an image change leaves the old image for other stacks on the host.
    """
    pulled = docker.RemoteImage(name, name=reference, keep_locally=True, opts=pulumi.ResourceOptions(parent=parent))
    return pulled.image_id


def docker_cpus(cpus: Cpus) -> str:
    """`cpus` spelled as the Docker provider reads it back from the engine: "1.0" for one CPU, "0.5" for half.

    The provider stores NanoCPUs read from the engine as a decimal with trailing zeros cut, except that a whole
    number keeps one (`nanoInt64ToDecimalString`); `cpus` forces replacement, so "1" against a stored "1.0"
    replaced every such container on every `pulumi up` (seen on Docker 26.1.5).
    """
    text = str(cpus)
    return text if "." in text else f"{text}.0"


def mount_roots(paths: Sequence[str]) -> list[str]:
    """The folders that get a files volume: each file's folder, minus those inside another."""
    folders = sorted({posixpath.dirname(p) for p in paths})
    return [f for f in folders if not any(f.startswith(other + "/") for other in folders if other != f)]


def _check_user(name: str, user: str) -> None:
    if runs_as_root(user) and exception(name, "user") is None:
        raise ValueError(f"{name}: containers run as a non-root user unless documented, got {user!r}")


def _loader(
    resource_name: str, spec: ContainerSpec, volumes: Mapping[str, docker.Volume], parent: pulumi.Resource
) -> docker.Container:
    """The one-shot container that copies `spec.files.uploads` into the folder volumes (`volumes`: folder ->
    volume), then exits."""
    staged = [
        docker.ContainerUploadArgs(
            file=f"{STAGE}{u.file}",
            content=u.content,
            owner=u.owner,
            group=u.group,
            permissions=u.permissions,
        )
        for u in spec.files.uploads
    ]
    return docker.Container(
        resource_name,
        name=loader_name(spec.container_name),
        image=spec.host.loader_image,
        command=["sh", "-c", loader_script(list(volumes))],
        uploads=staged,
        volumes=[
            docker.ContainerVolumeArgs(volume_name=volume.name, container_path=f"{FILES}{root}")
            for root, volume in volumes.items()
        ],
        network_mode="none",
        memory=LOADER_LIMITS.memory.mebibytes,
        # No swap, as for every container: the staged keys never reach the swap device.
        memory_swap=LOADER_LIMITS.memory.mebibytes,
        cpus=docker_cpus(LOADER_LIMITS.cpus),
        # Spelled as the engine reports them (API 1.45 prefixes CAP_): "CHOWN" read back as "CAP_CHOWN" by a
        # refresh replaced every loader, and with it every container, on `pulumi up --refresh`.
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=list(LOADER_CAPABILITIES)),
        security_opts=list(SECURITY_OPTS),
        must_run=False,
        attach=True,
        restart="no",
        log_driver=spec.host.logging.driver,
        log_opts=spec.host.logging.docker_options(),
        labels=_labels(docker.ContainerLabelArgs, spec),
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )


def container(resource_name: str, spec: ContainerSpec, parent: pulumi.Resource) -> docker.Container:
    """The container described by `spec`, hardened, with its files volume and loader when it has files."""
    _check_user(spec.container_name, spec.user)
    if any(v.host_path is not None for v in spec.volumes):
        raise ValueError(f"{spec.container_name}: host paths are never mounted; use a named volume")
    for source, _ in spec.host_mounts:
        if exception(spec.container_name, host_mount_item(source)) is None:
            raise ValueError(
                f"{spec.container_name}: host mount {source} needs a documented {host_mount_item(source)!r} "
                "exception in components/docker/hardening.py"
            )
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
    mounts: list[docker.ContainerMountArgs] = [
        docker.ContainerMountArgs(type="bind", source=source, target=target, read_only=True)
        for source, target in spec.host_mounts
    ]
    depends_on = list(spec.depends_on)
    trigger: pulumi.Input[str] | None = None
    if spec.files.uploads:
        volumes = {
            root: docker.Volume(
                files_volume_name(resource_name, root),
                name=files_volume_name(spec.container_name, root),
                labels=_labels(docker.VolumeLabelArgs, spec),
                opts=pulumi.ResourceOptions(parent=parent),
            )
            for root in mount_roots([str(u.file) for u in spec.files.uploads])
        }
        loader = _loader(f"{resource_name}-loader", spec, volumes, parent)
        mounts += [
            docker.ContainerMountArgs(type="volume", source=volume.name, target=root, read_only=True)
            for root, volume in volumes.items()
        ]
        depends_on.append(loader)
        trigger = loader.id
    host = spec.host
    health = host.health
    read_only = exception(spec.container_name, "read_only") is None
    return docker.Container(
        resource_name,
        name=spec.container_name,
        image=spec.image,
        hostname=spec.alias,
        # Only its own networks, and a container placed on none gets no network at all. Not `network_mode=<its first
        # network>`: the engine drops the aliases of the network a container was created on (seen on 20.10 and 26.1;
        # `<name>` still resolved through the hostname and `<name>.payment-network` through the engine's
        # `<container>.<network>` rule only while there was one network). With `bridge`, the provider's default, the
        # container is created on Docker's default bridge, disconnected from it before it ever starts, and then
        # joins each of its networks with both aliases.
        network_mode=NETWORKED if host.joins(spec.alias) else "none",
        networks_advanced=host.attach(spec.alias) or None,
        envs=spec.files.envs(),
        mounts=mounts,
        volumes=list(spec.volumes),
        tmpfs=dict(spec.tmpfs) if read_only else None,
        read_only=read_only,
        ports=ports,
        user=spec.user,
        command=list(spec.command) if spec.command else None,
        entrypoints=list(spec.entrypoint) if spec.entrypoint else None,
        memory=workload.limits.memory.mebibytes,
        # No swap: memory + swap = memory. Unset, the engine doubles the limit and the provider reads that
        # back as a change on every run; swapped pages would also put keys and card data on disk.
        memory_swap=workload.limits.memory.mebibytes,
        memory_reservation=workload.reservations.memory.mebibytes,
        cpus=docker_cpus(workload.limits.cpus),
        cpu_shares=workload.reservations.cpus.shares,
        log_driver=host.logging.driver,
        log_opts=host.logging.docker_options(),
        restart=host.restart.policy,
        max_retry_count=host.restart.max_retries or None,
        security_opts=list(SECURITY_OPTS),
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        privileged=False,
        ipc_mode="private",
        init=True,
        destroy_grace_seconds=STOP_GRACE_SECONDS,
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=list(spec.healthcheck),
            interval=f"{health.interval_seconds}s",
            timeout=f"{health.timeout_seconds}s",
            retries=health.retries,
            start_period=f"{health.start_period_seconds}s",
        ),
        wait=spec.wait,
        wait_timeout=health.wait_timeout_seconds if spec.wait else None,
        labels=_labels(docker.ContainerLabelArgs, spec),
        opts=pulumi.ResourceOptions(
            parent=parent, delete_before_replace=True, depends_on=depends_on, replacement_trigger=trigger
        ),
    )


def _labels(kind: Callable[..., L], spec: ContainerSpec) -> list[L]:
    """The host's labels and the container's own, as the provider's label list of `kind`, in name order."""
    return [kind(label=k, value=v) for k, v in sorted({**spec.host.labels, **spec.labels}.items())]


def data_volume(name: str, volume_name: str, host: Host, parent: pulumi.Resource) -> docker.Volume:
    """A named volume that holds payment data: kept on `pulumi destroy`, protected where the profile says.

    `retain_on_delete` in every stack: deleting the resource from state never deletes the data.
    `protect` (prod): `pulumi destroy` and replacements stop until an operator unprotects it.
    The logical `name` is fixed by the caller, not derived from a component name, so renaming a
    component never replaces a data volume (URNs hold the parents' types, not their names).
    """
    return docker.Volume(
        name,
        name=volume_name,
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(host.labels.items())],
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, protect=host.protect_data),
    )


@dataclass(frozen=True)
class InfraSpec:
    """What differs between pieces of infrastructure; `infrastructure_container` supplies the rest."""

    healthcheck: Sequence[str]
    user: str
    files: ContainerFiles
    data_path: str | None = None
    """Where its retained data volume `payment-<item>-data` is mounted; None for no data volume."""
    command: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    tmpfs: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TMPFS))
    wait: bool = True
    """Wait for `healthy`: only where something depends on it (the data stores)."""
    depends_on: Sequence[pulumi.Resource] = ()


def infrastructure_container(
    name: str, infra: Infrastructure, host: Host, spec: InfraSpec, *, parent: pulumi.Resource
) -> docker.Container:
    """Image, data volume (if any) and container of the piece of infrastructure `infra`.

    `infra` gives the container name (`payment-<name>`), alias, image, published port and sizing; the host gives
    the profile's health timing, log rotation and volume protection. Children: `<name>-image`, `<infra>-data`
    (fixed, see `data_volume`) and `<name>-container` with its files volume and loader.
    """
    if infra.image is None:
        raise ValueError(f"the catalog gives {infra.name} no image")
    volumes = []
    if spec.data_path is not None:
        data = f"{infra.name}{DATA_VOLUME_SUFFIX}"
        volume = data_volume(data, f"{DOCKER_NAME_PREFIX}{data}", host, parent)
        volumes.append(docker.ContainerVolumeArgs(volume_name=volume.name, container_path=spec.data_path))
    return container(
        f"{name}-container",
        ContainerSpec(
            container_name=infra.container_name,
            alias=infra.name,
            image=image(f"{name}-image", infra.image, parent),
            host=host,
            workload=infra.workload,
            healthcheck=spec.healthcheck,
            internal_port=infra.published_target,
            published_port=infra.published_port,
            files=spec.files,
            user=spec.user,
            command=spec.command,
            entrypoint=spec.entrypoint,
            volumes=volumes,
            tmpfs=spec.tmpfs,
            wait=spec.wait,
            depends_on=spec.depends_on,
        ),
        parent,
    )


IMAGE_CONTRACT = ImageContract(
    stands_for=LOADER_IMAGE,
    local="loader",
    # The loader sets no user: it relies on the image's default, root (components.docker.hardening's exception).
    user="0:0",
    # Its command is the whole argv: `sh -c <loader_script>`.
    entrypoint=(),
    executables=("sh", "find", "cp", "rm"),
    # The script itself, on empty folders: fails where `find` lacks -delete (Debian's busybox) or `rm` cannot
    # clear the staging folder.
    probe=("sh", "-c", f"mkdir -p {STAGE}/probe {FILES}/probe || exit 1; {loader_script(['/probe'])}"),
    # Only `sh -c <loader_script>` matters, and Debian's busybox lacks `find -delete`: GNU tools stand in.
    stand_in=True,
)
"""What the loader relies on from `LOADER_IMAGE` (checked against local builds by tests/images)."""
