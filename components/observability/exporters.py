"""The metrics exporters Prometheus scrapes: one hardened container per `stacks.catalog.EXPORTERS` entry.

Creates `payment-<name>` (alias `<name>`) for the PostgreSQL, Redis and Kafka exporters and cAdvisor, and
cAdvisor's `payment-docker-api-proxy` with its socket volume, sized by `config.observability.exporter`, never
published (only Prometheus, on the platform network, reaches the exporters), started after the data stores are
healthy. Shaped this way:

* Secrets are always files (0400, owned by the exporter's user), whatever the stack's `secretDelivery`:
  an exporter is configured here, not by an image that only reads the seed's variables, so nothing
  forces a password into `docker inspect`. postgres_exporter reads `DATA_SOURCE_PASS_FILE` and builds
  `postgresql://<user>:<password>@<DATA_SOURCE_URI>` itself; redis_exporter's `REDIS_PASSWORD_FILE` is
  a JSON object from Redis URI to password (its `LoadPwdFile`), looked up by `REDIS_ADDR` with `REDIS_USER`
  put in as the URI's user (`lookupPasswordInPasswordMap`): `rediss://<user>@<host>:<port>`.
* Both stores are reached the way services reach them: PostgreSQL as `payment_monitoring` (statistics and
  settings, never another session's query text: components.data.postgres; the `postgres` database only, TLS
  with SCRAM per pg_hba.conf) with `sslmode=verify-full` against the platform CA; Redis over TLS (`rediss://`)
  verified against the same CA, as its monitoring user (`REDIS_USER`, statistics only:
  `components.data.redis.MONITORING_RULES`) with `redis-exporter-password`. The CA file sits at
  `components.pki.CA_FILE`, the path services use.
* Kafka's listeners are TLS with required client certificates (components/data/kafka.py): kafka_exporter
  connects with its own certificate (`kafka-exporter`, so `User:kafka-exporter`, whose ACLs only describe
  topics, groups and the cluster) through kafka_exporter's `--tls.*` flags, verified against the platform
  CA and the broker's name. `--kafka.version` pins the protocol
  level kafka_exporter's client (IBM sarama) speaks: 3.9.0, the newest it knows. Its default (2.0.0)
  predates the request versions Kafka 4 still accepts (KIP-896 removed the pre-2.1 ones).
* Healthchecks are `CMD` probes of each exporter's own HTTP endpoint with the image's busybox `wget`
  (no shell): postgres_exporter and kafka_exporter ship on quay.io/prometheus/busybox, cAdvisor on
  Alpine, and redis_exporter's `-alpine` variant is pinned because its default image is `scratch`.
* cAdvisor reads the host without root, the host's root filesystem or the Docker socket (issue 14). It runs as
  its own uid (`CADVISOR_UID`) with every capability dropped and reads, read-only, only what its cgroup
  handler needs (`cadvisor_host_mounts`): the host's cgroup tree, the host's /proc at /rootfs/proc (each
  container's /proc/<pid>/net/dev, world-readable; its own uid means the kernel's ptrace checks refuse it the
  environ, fds and memory of every other process) and the engine's layer-id folder (cAdvisor's Docker handler
  refuses a container whose read-write layer id it cannot read, even with disk metrics off). The names the
  dashboards and alerts group by (`name="payment-..."`) come from the Docker API (a cgroup path only holds
  the container id), so `payment-docker-api-proxy` alone mounts the socket (the file, not /var/run), runs as a
  non-root user in the socket's group (`dockerSocketGroup`), and serves cAdvisor GET/HEAD of /_ping, /version,
  /info and /containers/<id>/json with Config.Env removed, nothing else (images/docker-api-proxy/src/main.go),
  on a unix socket in the volume `payment-docker-api-proxy-socket` that only cAdvisor mounts besides it (no
  TCP port anywhere, so no other container can call it). Needs the overlay2 storage driver (Docker's default
  up to 28; with the containerd image store cAdvisor's Docker handler asks containerd's socket instead). Not
  privileged, no /dev/kmsg (that only feeds OOM events, not collected); `--enable_metrics=cpu,memory,network`
  keeps collection to what `components.observability.metrics.CADVISOR` needs, and housekeeping runs once per
  scrape interval instead of every second.

Metric names were checked against the pinned versions' sources: every name `components.observability.metrics` lists
for an exporter is one it exports by default (cAdvisor: with the metric kinds enabled here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

import pulumi
import pulumi_docker as docker

from components.docker.containers import ContainerSpec, Host, container, image
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.hardening import CADVISOR_HOST_MOUNTS, DOCKER_SOCKETS, layer_ids
from components.docker.image_contract import ImageContract, PathContract
from components.pki import CA_FILE, CERTS_DIR, LeafCertificate
from components.secrets import SECRETS_DIR, secret_path
from stacks import catalog
from stacks.catalog import (
    EXPORTERS,
    MONITORING_ROLE,
    POSTGRES_EXPORTER_PASSWORD,
    REDIS_MONITORING_USER,
    CatalogExporter,
    container_name,
)
from stacks.models import Infrastructure, Workload

POSTGRES_EXPORTER = catalog.POSTGRES_EXPORTER.name
REDIS_EXPORTER = catalog.REDIS_EXPORTER.name
KAFKA_EXPORTER = catalog.KAFKA_EXPORTER.name
CADVISOR = catalog.CADVISOR.name
DOCKER_API_PROXY = catalog.DOCKER_API_PROXY
DOCKER_API_PROXY_SOCKET = catalog.DOCKER_API_PROXY_SOCKET

NOBODY = 65534
"""`nobody`: the user quay.io/prometheus/busybox images run as (postgres_exporter's Dockerfile: USER nobody)."""
REDIS_EXPORTER_UID = 59000
"""redis_exporter's Dockerfile: `USER 59000:59000`, in its scratch and alpine variants alike."""
ROOT = 0
"""The official cAdvisor image's default user; the component never runs it so."""
CADVISOR_UID = 59080
"""cAdvisor's uid and gid: no image's default and no other container's, so nothing of another process in the host's
/proc is readable to it beyond the world-readable files."""
DOCKER_API_PROXY_UID = 59081
"""docker-api-proxy's uid (images/docker-api-proxy); its group is the socket's (`ExportersArgs.docker_socket_group`)."""

POSTGRES_DATABASE = "postgres"
"""The maintenance database: the only one pg_hba.conf lets the monitoring role reach."""
REDIS_PASSWORD_MAP = f"{SECRETS_DIR}/redis-exporter-passwords.json"
"""redis_exporter's password file: `{"<REDIS_ADDR with REDIS_USER as its user>": "<password>"}` (0400)."""

KAFKA_PROTOCOL_VERSION = "3.9.0"
"""What `--kafka.version` tells sarama: the newest protocol level it knows, all of it accepted by Kafka 4."""

DOCKER_SOCKET = DOCKER_SOCKETS[0]
"""The engine's socket on the host, /var/run/docker.sock; only docker-api-proxy mounts it (the file: a folder would
bring the rest)."""
PROXY_SOCKET_DIR = "/run/docker-api-proxy"
"""Where the proxy's socket volume is mounted, in the proxy (read-write) and in cAdvisor (read-only: connecting
to a socket needs no write access to the mount)."""
PROXY_SOCKET = f"{PROXY_SOCKET_DIR}/docker.sock"


def cadvisor_host_mounts(docker_data_root: str) -> tuple[tuple[str, str], ...]:
    """Every read-only host mount of cAdvisor on a host whose engine keeps its data in `docker_data_root`.

    The layer-id folder alone, at the path cAdvisor derives from `docker info` (/rootfs + DockerRootDir): its
    parents are root's (0700), so a non-root cAdvisor can read it only when it is mounted by itself.
    """
    return (*CADVISOR_HOST_MOUNTS, (layer_ids(docker_data_root), "/rootfs" + layer_ids(docker_data_root)))


def docker_api_proxy_command() -> list[str]:
    """docker-api-proxy's flags: the socket it serves on (in the shared volume) and the engine's."""
    return [f"-listen={PROXY_SOCKET}", f"-docker={DOCKER_SOCKET}"]


def docker_api_proxy_healthcheck() -> list[str]:
    """Healthy while a GET /_ping through its own socket reaches the engine (the binary's own probe, no shell)."""
    return ["CMD", "/usr/bin/docker-api-proxy", "-probe", f"-listen={PROXY_SOCKET}"]


CADVISOR_METRICS = ("cpu", "memory", "network")
"""`--enable_metrics`: the kinds `components.observability.metrics.CADVISOR` needs (spec and last-seen series
come always)."""


def http_healthcheck(port: int, path: str) -> list[str]:
    """Healthy while the exporter answers `path` on its own port (busybox wget, no shell)."""
    return ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"]


def postgres_exporter_environment(postgres: Infrastructure) -> dict[str, str]:
    """postgres_exporter's data source: the monitoring role, its password file, TLS verified against the CA.

    No secret here: the exporter joins user, password and `DATA_SOURCE_URI` into a DSN itself.
    """
    return {
        "DATA_SOURCE_URI": f"{postgres.address()}/{POSTGRES_DATABASE}?sslmode=verify-full&sslrootcert={CA_FILE}",
        "DATA_SOURCE_USER": MONITORING_ROLE,
        "DATA_SOURCE_PASS_FILE": secret_path(POSTGRES_EXPORTER_PASSWORD.name),
    }


def redis_address(redis: Infrastructure) -> str:
    """The TLS URI redis_exporter scrapes; also the key of its password file."""
    return f"rediss://{redis.address()}"


def redis_exporter_environment(redis: Infrastructure) -> dict[str, str]:
    """redis_exporter over TLS as the monitoring user, with the password from its password file. No secret here."""
    return {
        "REDIS_ADDR": redis_address(redis),
        "REDIS_USER": REDIS_MONITORING_USER,
        "REDIS_PASSWORD_FILE": REDIS_PASSWORD_MAP,
        "REDIS_EXPORTER_TLS_CA_CERT_FILE": CA_FILE,
        "REDIS_EXPORTER_SKIP_TLS_VERIFICATION": "false",
    }


def redis_password_map(address: str, user: str, password: str) -> str:
    """The password file's content: redis_exporter looks the password up by the URI it connects to with its user
    (`REDIS_USER`) as the URI's user; without it in the key the exporter finds no password and logs in as nobody."""
    parts = urlsplit(address)
    return json.dumps({urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc}")): password}) + "\n"


KAFKA_EXPORTER_CERT = f"{CERTS_DIR}/{KAFKA_EXPORTER}/{KAFKA_EXPORTER}.crt"
"""kafka-exporter's client certificate (0444) and key (0400, SEC1 PEM as issued: Go reads it as is)."""
KAFKA_EXPORTER_KEY = f"{CERTS_DIR}/{KAFKA_EXPORTER}/{KAFKA_EXPORTER}.key"


def kafka_exporter_command(bootstrap_servers: str) -> list[str]:
    """kafka_exporter's flags: the INTERNAL listener over TLS with its own certificate, and the protocol level."""
    return [
        f"--kafka.server={bootstrap_servers}",
        f"--kafka.version={KAFKA_PROTOCOL_VERSION}",
        "--tls.enabled",
        f"--tls.ca-file={CA_FILE}",
        f"--tls.cert-file={KAFKA_EXPORTER_CERT}",
        f"--tls.key-file={KAFKA_EXPORTER_KEY}",
    ]


def cadvisor_command(scrape_interval_seconds: int) -> list[str]:
    """cAdvisor's flags (after the image's `-logtostderr`): the Docker API through the proxy's socket, Docker
    containers only, the needed metrics, one fixed-interval sample per scrape, no container labels copied onto
    every series."""
    return [
        f"--docker=unix://{PROXY_SOCKET}",
        "--docker_only=true",
        f"--enable_metrics={','.join(CADVISOR_METRICS)}",
        f"--housekeeping_interval={scrape_interval_seconds}s",
        "--allow_dynamic_housekeeping=false",
        "--store_container_labels=false",
    ]


@dataclass(frozen=True)
class ExporterSetup:
    """What differs between exporters; `Exporters` supplies everything they share."""

    user: str
    healthcheck: Sequence[str]
    files: ContainerFiles = field(default_factory=ContainerFiles)
    command: Sequence[str] | None = None
    host_mounts: Sequence[tuple[str, str]] = ()
    volumes: Sequence[docker.ContainerVolumeArgs] = ()
    depends_on: Sequence[pulumi.Resource] = ()
    """Started after these besides the data stores."""


@dataclass(frozen=True)
class ExportersArgs:
    postgres: Infrastructure
    """What postgres_exporter connects to (TLS, verified against the CA)."""
    redis: Infrastructure
    """What redis_exporter connects to (TLS, verified against the CA)."""
    kafka_bootstrap: str
    """`Kafka.bootstrap_servers`: what kafka-exporter connects to."""
    kafka_certificate: LeafCertificate
    """kafka-exporter's client certificate: its Kafka identity."""
    images: Mapping[str, str]
    """Exporter name -> image (the catalog's pinned one, or the stack's `images.<name>`)."""
    workload: Workload
    """Sizing of each exporter container (never published)."""
    scrape_interval_seconds: int
    """cAdvisor's housekeeping interval: one fresh sample per scrape."""
    docker_data_root: str
    """The engine's data root on the host, whose layer-id folder cAdvisor reads."""
    docker_socket_group: int
    """The gid owning the engine's socket: docker-api-proxy's group."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    monitoring_password: pulumi.Output[str]
    """`postgres-exporter-password` (secret): the monitoring role's."""
    redis_password: pulumi.Output[str]
    """`redis-exporter-password` (secret): Redis's monitoring user's."""
    trust_bundle: pulumi.Output[str]
    stores: Sequence[pulumi.Resource]
    """The data store containers: each exporter starts once they are healthy."""


def _ca(trust_bundle: pulumi.Output[str], uid: int) -> docker.ContainerUploadArgs:
    return upload(CA_FILE, trust_bundle, uid, PUBLIC_READ)


def _postgres(exporter: CatalogExporter, args: ExportersArgs, proxy: DockerApiProxy) -> ExporterSetup:
    return ExporterSetup(
        user=f"{NOBODY}:{NOBODY}",
        # The landing page: a probe of /metrics would open a database session every interval.
        healthcheck=http_healthcheck(exporter.port, "/"),
        files=ContainerFiles(
            env=postgres_exporter_environment(args.postgres),
            uploads=(
                upload(secret_path(POSTGRES_EXPORTER_PASSWORD.name), args.monitoring_password, NOBODY),
                _ca(args.trust_bundle, NOBODY),
            ),
        ),
    )


def _redis(exporter: CatalogExporter, args: ExportersArgs, proxy: DockerApiProxy) -> ExporterSetup:
    address = redis_address(args.redis)
    password_map = args.redis_password.apply(lambda value: redis_password_map(address, REDIS_MONITORING_USER, value))
    return ExporterSetup(
        user=f"{REDIS_EXPORTER_UID}:{REDIS_EXPORTER_UID}",
        healthcheck=http_healthcheck(exporter.port, "/health"),
        files=ContainerFiles(
            env=redis_exporter_environment(args.redis),
            uploads=(
                upload(REDIS_PASSWORD_MAP, password_map, REDIS_EXPORTER_UID),
                _ca(args.trust_bundle, REDIS_EXPORTER_UID),
            ),
        ),
    )


def _kafka(exporter: CatalogExporter, args: ExportersArgs, proxy: DockerApiProxy) -> ExporterSetup:
    return ExporterSetup(
        user=f"{NOBODY}:{NOBODY}",
        healthcheck=http_healthcheck(exporter.port, "/healthz"),
        command=kafka_exporter_command(args.kafka_bootstrap),
        files=ContainerFiles(
            uploads=(
                upload(KAFKA_EXPORTER_CERT, args.kafka_certificate.cert_pem, NOBODY, PUBLIC_READ),
                upload(KAFKA_EXPORTER_KEY, args.kafka_certificate.private_key_pem, NOBODY),
                _ca(args.trust_bundle, NOBODY),
            )
        ),
    )


def _cadvisor(exporter: CatalogExporter, args: ExportersArgs, proxy: DockerApiProxy) -> ExporterSetup:
    return ExporterSetup(
        user=f"{CADVISOR_UID}:{CADVISOR_UID}",
        healthcheck=http_healthcheck(exporter.port, "/healthz"),
        command=cadvisor_command(args.scrape_interval_seconds),
        host_mounts=cadvisor_host_mounts(args.docker_data_root),
        volumes=(
            docker.ContainerVolumeArgs(volume_name=proxy.volume.name, container_path=PROXY_SOCKET_DIR, read_only=True),
        ),
        # The proxy's socket must be there (and the volume owned by the proxy's user) before cAdvisor starts.
        depends_on=(proxy.container,),
    )


@dataclass(frozen=True)
class DockerApiProxy:
    volume: docker.Volume
    """`payment-docker-api-proxy-socket`: holds the proxy's socket; mounted by the proxy and cAdvisor only."""
    container: docker.Container


def docker_api_proxy(name: str, args: ExportersArgs, parent: pulumi.Resource) -> DockerApiProxy:
    """The proxy container and its socket volume (module docstring)."""
    volume = docker.Volume(
        f"{name}-{DOCKER_API_PROXY}-socket",
        name=container_name(DOCKER_API_PROXY_SOCKET),
        labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(args.host.labels.items())],
        opts=pulumi.ResourceOptions(parent=parent),
    )
    proxy = container(
        f"{name}-{DOCKER_API_PROXY}-container",
        ContainerSpec(
            container_name=container_name(DOCKER_API_PROXY),
            alias=DOCKER_API_PROXY,
            image=image(f"{name}-{DOCKER_API_PROXY}-image", args.images[DOCKER_API_PROXY], parent),
            host=args.host,
            workload=args.workload,
            healthcheck=docker_api_proxy_healthcheck(),
            # No port: it listens on its unix socket only.
            internal_port=0,
            user=f"{DOCKER_API_PROXY_UID}:{args.docker_socket_group}",
            command=docker_api_proxy_command(),
            host_mounts=((DOCKER_SOCKET, DOCKER_SOCKET),),
            # An empty volume takes the image folder's owner (the proxy's user) when first mounted here.
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=PROXY_SOCKET_DIR)],
        ),
        parent,
    )
    return DockerApiProxy(volume, proxy)


SETUPS: MappingProxyType[str, Callable[[CatalogExporter, ExportersArgs, DockerApiProxy], ExporterSetup]] = (
    MappingProxyType(
        {POSTGRES_EXPORTER: _postgres, REDIS_EXPORTER: _redis, KAFKA_EXPORTER: _kafka, CADVISOR: _cadvisor}
    )
)
"""How each catalog exporter is run. A catalog entry without one fails the program, not silently."""


class Exporters(pulumi.ComponentResource):
    """The exporters Prometheus scrapes: images and one `payment-<name>` container each."""

    containers: dict[str, docker.Container]
    """By exporter name (`postgres-exporter`, ..., `cadvisor`), and `docker-api-proxy`."""

    def __init__(self, name: str, args: ExportersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:observability:Exporters", name, None, opts)
        proxy = docker_api_proxy(name, args, self)
        self.containers = {DOCKER_API_PROXY: proxy.container}
        for exporter in EXPORTERS:
            if exporter.name not in SETUPS:
                raise ValueError(
                    f"catalog exporter {exporter.name!r} has no setup in components/observability/exporters.py"
                )
            setup = SETUPS[exporter.name](exporter, args, proxy)
            self.containers[exporter.name] = container(
                f"{name}-{exporter.name}-container",
                ContainerSpec(
                    container_name=container_name(exporter.name),
                    alias=exporter.name,
                    image=image(f"{name}-{exporter.name}-image", args.images[exporter.name], self),
                    host=args.host,
                    workload=args.workload,
                    healthcheck=setup.healthcheck,
                    internal_port=exporter.port,
                    user=setup.user,
                    published_port=None,
                    files=setup.files,
                    command=setup.command,
                    host_mounts=setup.host_mounts,
                    volumes=setup.volumes,
                    depends_on=[*args.stores, *setup.depends_on],
                ),
                self,
            )
        self.register_outputs({"containers": {n: c.name for n, c in self.containers.items()}})


IMAGE_CONTRACTS: MappingProxyType[str, ImageContract] = MappingProxyType(
    {
        POSTGRES_EXPORTER: ImageContract(
            stands_for=catalog.POSTGRES_EXPORTER.image,
            local=POSTGRES_EXPORTER,
            user=f"{NOBODY}:{NOBODY}",
            run_as=f"{NOBODY}:{NOBODY}",
            # No command: the image's entrypoint runs with its default flags and reads DATA_SOURCE_*.
            entrypoint=("/bin/postgres_exporter",),
            executables=("wget",),
            probe=("/bin/postgres_exporter", "--version"),
            ports=(catalog.POSTGRES_EXPORTER.port,),
        ),
        REDIS_EXPORTER: ImageContract(
            stands_for=catalog.REDIS_EXPORTER.image,
            local=REDIS_EXPORTER,
            user=f"{REDIS_EXPORTER_UID}:{REDIS_EXPORTER_UID}",
            run_as=f"{REDIS_EXPORTER_UID}:{REDIS_EXPORTER_UID}",
            # No command: the image's entrypoint runs with its default flags and reads REDIS_*.
            entrypoint=("/redis_exporter",),
            executables=("wget",),
            probe=("/redis_exporter", "--version"),
            ports=(catalog.REDIS_EXPORTER.port,),
        ),
        KAFKA_EXPORTER: ImageContract(
            stands_for=catalog.KAFKA_EXPORTER.image,
            local=KAFKA_EXPORTER,
            user=f"{NOBODY}:{NOBODY}",
            run_as=f"{NOBODY}:{NOBODY}",
            # `kafka_exporter_command()` is given to the image's entrypoint, the exporter.
            entrypoint=("/bin/kafka_exporter",),
            executables=("wget",),
            probe=("/bin/kafka_exporter", "--version"),
            # The local build is a stand-in (images/kafka-exporter): the kafka_exporter module is not served here.
            stand_in=True,
            ports=(catalog.KAFKA_EXPORTER.port,),
        ),
        CADVISOR: ImageContract(
            stands_for=catalog.CADVISOR.image,
            local=CADVISOR,
            user=f"{ROOT}:{ROOT}",
            run_as=f"{CADVISOR_UID}:{CADVISOR_UID}",
            # `cadvisor_command()` is appended to the image's entrypoint, `cadvisor -logtostderr "$@"` (v0.60.6).
            entrypoint=("/usr/bin/entrypoint.sh",),
            executables=("wget", "/usr/bin/cadvisor"),
            probe=("/usr/bin/cadvisor", "--version"),
            ports=(catalog.CADVISOR.port,),
        ),
        DOCKER_API_PROXY: ImageContract(
            stands_for=catalog.DOCKER_API_PROXY_IMAGE,
            local=DOCKER_API_PROXY,
            user=f"{DOCKER_API_PROXY_UID}:{DOCKER_API_PROXY_UID}",
            run_as=f"{DOCKER_API_PROXY_UID}:{DOCKER_API_PROXY_UID}",
            # `docker_api_proxy_command()` is given to the image's entrypoint, the proxy.
            entrypoint=("/usr/bin/docker-api-proxy",),
            executables=("/usr/bin/docker-api-proxy",),
            # The socket's folder: an empty volume mounted over it takes this owner, so the proxy can bind there.
            paths=(PathContract(PROXY_SOCKET_DIR, owner=f"{DOCKER_API_PROXY_UID}:{DOCKER_API_PROXY_UID}", mode=0o755),),
            # Its flag usage (exit 0): the binary runs in the image as its user.
            probe=("/usr/bin/docker-api-proxy", "-h"),
        ),
    }
)
"""What this module relies on from each exporter image it runs (checked against local builds by tests/images).
`wget` is `http_healthcheck`'s client."""
