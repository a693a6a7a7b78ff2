"""The container hardening baseline, and every exception to it, in one place.

Every container the platform runs gets, from `components.docker.containers`: a non-root user, a read-only root
filesystem with tmpfs where writes are needed, `no-new-privileges`, all capabilities dropped, no
privileged mode, no host network, PID, IPC or UTS namespace, no host device, no seccomp or AppArmor profile switched
off, no host paths mounted, ports published only on an explicit host address, a restart policy that survives a
reboot, memory and CPU limits, json-file log rotation and a healthcheck. `EXCEPTIONS` lists, with the reason, each
place a container departs from that: keyed by the container's identity (its Docker name, which the catalog entry
gives it, or `LOADER` for the loader the program builds beside a container) and the baseline item, and naming the
exact values it allows. A departure with any other value is a violation (issue 15: a loader that adds SYS_ADMIN is
not covered by the loader's CHOWN). The tests and the policy pack read this table, so an exception that is not
written here fails them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from stacks.catalog import CADVISOR, DOCKER_API_PROXY, KAFKA, LOADER_SUFFIX, container_name

DEFAULT_TMPFS = MappingProxyType({"/tmp": "rw,noexec,nosuid,size=64m"})
"""Scratch space for a read-only container; noexec: nothing written at run time can be executed."""

SECURITY_OPTS = ("no-new-privileges:true",)

LOADER = "file loader"
"""The one-shot containers that put a container's files into its files volume (see containers.py)."""

ROOT = "root"
"""The value a root user departs with, however it is spelled (`0`, `root:root`, `00:0`: see `runs_as_root`)."""
WRITABLE = "writable"
"""The value a writable root filesystem departs with."""
NO_HEALTHCHECK = "none"
MEMORY, CPUS = "memory", "cpus"
"""The values a missing memory or CPU limit departs with."""


def loader_name(container: str) -> str:
    """The Docker name of the loader the program builds for `container` (components.docker.containers)."""
    return f"{container}{LOADER_SUFFIX}"


def runs_as_root(user: str) -> bool:
    """`user` (Docker's `user[:group]`) runs as uid 0: unset, `root`, or a uid of zeros in any spelling (` 0`, `00`,
    `0:0`, `root:root`, `ROOT`)."""
    uid = user.split(":", maxsplit=1)[0].strip()
    return uid == "" or uid.lower() == ROOT or (uid.isdigit() and int(uid) == 0)


def capability(name: str) -> str:
    """A capability as the engine reports it (`CAP_CHOWN`), whichever spelling Docker was given (`chown`)."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") or upper == "ALL" else f"CAP_{upper}"


DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
"""Where the engine's socket lies on the host (/var/run is a link to /run): mounting it needs a `docker_socket`
exception, any other host path a `host_mounts` one."""

CADVISOR_HOST_MOUNTS: tuple[tuple[str, str], ...] = (
    # The host's cgroup tree. Without this mount Docker puts the container's own cgroup view here (cgroup v1
    # binds its own cgroup; v2 hosts default to private cgroup namespaces) and cAdvisor sees no other container.
    ("/sys/fs/cgroup", "/sys/fs/cgroup"),
    # Each container's /proc/<pid>/net/dev (network metrics): cAdvisor reads /rootfs/proc/<pid> when /rootfs/proc
    # exists, with the host pid the inspect answer gives.
    ("/proc", "/rootfs/proc"),
)
"""cAdvisor's (host path, container path) pairs besides the layer-id folder, all read-only. Not `/` (cAdvisor's
documented `docker run` mounts it at /rootfs), /var/run (the Docker socket), /sys (machine facts come from the
container's own read-only /sys) or /dev/disk (device names for disk metrics, not collected)."""

DOCKER_STORAGE_DRIVER = "overlay2"
"""The engine's storage driver (`docker info`: Driver), part of the layer-id folder's path."""
LAYER_IDS = posixpath.join("image", DOCKER_STORAGE_DRIVER, "layerdb", "mounts")


def layer_ids(docker_data_root: str) -> str:
    """The folder of each container's read-write layer id (`<id>/mount-id`, world-readable) in the data root."""
    return posixpath.join(docker_data_root, LAYER_IDS)


def _cadvisor_path(value: str) -> bool:
    """cAdvisor's host paths, read-only (a writable bind departs with `<path> (writable)`, never allowed):
    `CADVISOR_HOST_MOUNTS` and a data root's layer-id folder, which `dockerDataRoot` places (any absolute,
    normalised path ending in it)."""
    if value in {host for host, _ in CADVISOR_HOST_MOUNTS}:
        return True
    clean = posixpath.normpath(value) == value and ".." not in value.split("/")
    return clean and value.startswith("/") and value.endswith("/" + LAYER_IDS)


@dataclass(frozen=True)
class Documented:
    """One documented departure: why, and exactly which values of the item it allows."""

    reason: str
    allows: Callable[[str], bool]
    """Whether a departing value (a capability, a host path, `root`, ...) is the documented one."""


def _only(*values: str) -> Callable[[str], bool]:
    allowed = frozenset(values)
    return allowed.__contains__


LOADER_CAPABILITIES = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
"""All the loader keeps, spelled as the engine reports them: read the staged files whatever their owner, and give
them their owners and modes (components.docker.containers adds exactly these)."""

EXCEPTIONS: MappingProxyType[tuple[str, str], Documented] = MappingProxyType(
    {
        (container_name(KAFKA.name), "read_only"): Documented(
            "the apache/kafka image renders server.properties into /opt/kafka/config on every start; "
            "a tmpfs there would hide the log4j and tools configuration the image ships",
            _only(WRITABLE),
        ),
        (container_name(CADVISOR.name), "host_mounts"): Documented(
            "reads container statistics from the host, read-only and as a non-root user with no capabilities "
            "(components.observability.exporters.cadvisor_host_mounts): the host's cgroup tree, the host's /proc "
            "at /rootfs/proc (each container's /proc/<pid>/net/dev) and the engine's layer-id folder "
            "(<data root>/image/overlay2/layerdb/mounts); never /, /var/run or the Docker socket",
            _cadvisor_path,
        ),
        (container_name(DOCKER_API_PROXY), "docker_socket"): Documented(
            "the one container with the Docker socket (the socket file, not its folder): it serves cAdvisor only "
            "GET/HEAD of /_ping, /version, /info and /containers/<id>/json (Config.Env removed), on a unix "
            "socket in a volume only cAdvisor mounts, and refuses every other call; no TCP port, non-root in the "
            "socket's group, no capabilities",
            _only(*DOCKER_SOCKETS),
        ),
        (LOADER, "user"): Documented(
            "runs as root to copy files owned by each container's own user (cp -a keeps owner and mode)", _only(ROOT)
        ),
        (LOADER, "capabilities"): Documented(
            "CHOWN, DAC_OVERRIDE and FOWNER only, to read and re-own those files", _only(*LOADER_CAPABILITIES)
        ),
        (LOADER, "read_only"): Documented(
            "its root filesystem holds the staged uploads (the Docker API refuses uploads into a read-only root "
            "filesystem); it has no network and exits after copying",
            _only(WRITABLE),
        ),
        (LOADER, "healthcheck"): Documented(
            "a one-shot job: `pulumi up` waits for it to exit instead", _only(NO_HEALTHCHECK)
        ),
        (LOADER, "restart"): Documented(
            "a one-shot job: restarting it would only copy the same files again", _only("no")
        ),
    }
)


def exposes_docker_socket(path: str) -> bool:
    """`path` is the socket, or a folder holding it (`/`, `/var/run`)."""
    clean = "/" + path.strip("/")
    return any(sock == clean or sock.startswith(clean.rstrip("/") + "/") for sock in DOCKER_SOCKETS)


def host_mount_item(source: str) -> str:
    """The baseline item that must be excepted for a container to bind the host path `source`."""
    return "docker_socket" if exposes_docker_socket(source) else "host_mounts"


def exception(container: str, item: str) -> str | None:
    """The documented reason `container` departs from `item` of the baseline, or None."""
    found = EXCEPTIONS.get((container, item))
    return None if found is None else found.reason
