"""The container hardening baseline, and every exception to it, in one place.

Every container the platform runs gets, from `components.docker.containers`: a non-root user, a read-only root
filesystem with tmpfs where writes are needed, `no-new-privileges`, all capabilities dropped, no
privileged mode, no host network, PID or IPC namespace, no host paths mounted, ports published only on
an explicit host address, a restart policy that survives a reboot, memory and CPU limits, json-file log rotation and a
healthcheck. `EXCEPTIONS` lists, with the reason, each place a container departs from that; the tests
and the policy pack read this table, so an exception that is not written here fails them.
"""

from __future__ import annotations

from types import MappingProxyType

DEFAULT_TMPFS = MappingProxyType({"/tmp": "rw,noexec,nosuid,size=64m"})
"""Scratch space for a read-only container; noexec: nothing written at run time can be executed."""

SECURITY_OPTS = ("no-new-privileges:true",)

LOADER = "file loader"
"""The one-shot containers that put a container's files into its files volume (see containers.py)."""

EXCEPTIONS: MappingProxyType[tuple[str, str], str] = MappingProxyType(
    {
        ("payment-kafka", "read_only"): (
            "the apache/kafka image renders server.properties into /opt/kafka/config on every start; "
            "a tmpfs there would hide the log4j and tools configuration the image ships"
        ),
        ("payment-cadvisor", "host_mounts"): (
            "reads container statistics from the host, read-only and as a non-root user with no capabilities "
            "(components.observability.exporters.cadvisor_host_mounts): the host's cgroup tree, the host's /proc "
            "at /rootfs/proc (each container's /proc/<pid>/net/dev) and the engine's layer-id folder "
            "(<data root>/image/overlay2/layerdb/mounts); never /, /var/run or the Docker socket"
        ),
        ("payment-docker-api-proxy", "docker_socket"): (
            "the one container with the Docker socket (the socket file, not its folder): it serves cAdvisor only "
            "GET/HEAD of /_ping, /version, /info and /containers/<id>/json (Config.Env removed), on a unix "
            "socket in a volume only cAdvisor mounts, and refuses every other call; no TCP port, non-root in the "
            "socket's group, no capabilities"
        ),
        (LOADER, "user"): (
            "runs as root to copy files owned by each container's own user (cp -a keeps owner and mode)"
        ),
        (LOADER, "capabilities"): "CHOWN, DAC_OVERRIDE and FOWNER only, to read and re-own those files",
        (LOADER, "read_only"): "its root filesystem holds the staged uploads (the Docker API refuses uploads "
        "into a read-only root filesystem); it has no network and exits after copying",
        (LOADER, "healthcheck"): "a one-shot job: `pulumi up` waits for it to exit instead",
        (LOADER, "restart"): "a one-shot job: restarting it would only copy the same files again",
    }
)


DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
"""Where the engine's socket lies on the host (/var/run is a link to /run): mounting it needs a `docker_socket`
exception, any other host path a `host_mounts` one."""


def exposes_docker_socket(path: str) -> bool:
    """`path` is the socket, or a folder holding it (`/`, `/var/run`)."""
    clean = "/" + path.strip("/")
    return any(sock == clean or sock.startswith(clean.rstrip("/") + "/") for sock in DOCKER_SOCKETS)


def host_mount_item(source: str) -> str:
    """The baseline item that must be excepted for a container to bind the host path `source`."""
    return "docker_socket" if exposes_docker_socket(source) else "host_mounts"


def exception(container: str, item: str) -> str | None:
    """The documented reason `container` departs from `item` of the baseline, or None."""
    return EXCEPTIONS.get((container, item))
