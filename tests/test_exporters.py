"""Exporters: the generated environment and flags, the four exporter containers and cAdvisor's Docker API proxy.

What users rely on: each exporter reaches its store the way services do (PostgreSQL and Redis over
verified TLS), its password reaches it only as a 0400 file, nothing is published, every metric name
the alert rules and dashboards query is one the pinned exporter produces, cAdvisor's view of the
host is exactly the documented, read-only list (no socket, no `/`, a non-root user), and only the proxy holds
the Docker socket, shared with cAdvisor alone through its socket volume.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pulumi
import pulumi_docker as docker
import pytest

from components.data.postgres import pg_hba
from components.docker.containers import NETWORKED, docker_cpus
from components.docker.hardening import exposes_docker_socket
from components.docker.labels import platform_labels
from components.observability import metrics
from components.observability.exporters import (
    CADVISOR,
    CADVISOR_METRICS,
    CADVISOR_UID,
    DOCKER_API_PROXY,
    DOCKER_API_PROXY_UID,
    KAFKA_EXPORTER,
    POSTGRES_EXPORTER,
    PROXY_SOCKET,
    PROXY_SOCKET_DIR,
    REDIS_EXPORTER,
    REDIS_PASSWORD_MAP,
    SETUPS,
    Exporters,
    ExportersArgs,
    cadvisor_command,
    cadvisor_host_mounts,
    docker_api_proxy_command,
    docker_api_proxy_healthcheck,
    http_healthcheck,
    kafka_exporter_command,
    postgres_exporter_environment,
    redis_address,
    redis_exporter_environment,
    redis_password_map,
)
from components.pki import CA_FILE, Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from plan.engine import Render, Resource, run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import (
    EXPORTERS,
    MONITORING_ROLE,
    PINNED_IMAGES,
    POSTGRES_EXPORTER_PASSWORD,
    REDIS_EXPORTER_PASSWORD,
    CatalogExporter,
)
from stacks.errors import ConfigError
from stacks.models import PlatformConfig
from tests.conftest import docker_host, rendered, stack_config
from tests.conftest import uploads as container_uploads
from vocabulary import CONTAINER, RANDOM_PASSWORD, REMOTE_IMAGE, SECRET, VOLUME

STORES = ("postgres", "redis", "kafka")
CANARY = 'CANARY "pass" \\ word {json} 0123456789'
SOCKET_GROUP = 105
"""A host's `docker` group, as Platform passes `dockerSocketGroup`."""
KAFKA_BOOTSTRAP = "kafka.payment-network:9092"
"""`Kafka.bootstrap_servers`, what Platform hands the exporters (checked against the full render below)."""


def catalog_proxy() -> CatalogExporter:
    """docker-api-proxy in the shape of a catalog exporter, for the checks every exporter container shares."""
    return CatalogExporter(DOCKER_API_PROXY, 0, PINNED_IMAGES[DOCKER_API_PROXY], "docker", "Docker API proxy")


def container_name(exporter: str) -> str:
    """The resource name of an exporter's container (its Docker name is `payment-<exporter>`)."""
    return f"payment-exporters-{exporter}-container"


# --- pure builders ----------------------------------------------------------------------------------


def test_every_catalog_exporter_has_a_setup_and_a_metric_registry() -> None:
    names = {e.name for e in EXPORTERS}
    assert names == set(SETUPS) == set(metrics.BY_EXPORTER)
    assert names == {POSTGRES_EXPORTER, REDIS_EXPORTER, KAFKA_EXPORTER, CADVISOR}


def test_postgres_exporter_connects_as_the_monitoring_role_over_verified_tls() -> None:
    env = postgres_exporter_environment(stack_config("dev").infra("postgres"))
    assert env == {
        "DATA_SOURCE_URI": (
            "postgres.payment-network:5432/postgres?sslmode=verify-full&sslrootcert=/app/certs/ca/ca-cert.pem"
        ),
        "DATA_SOURCE_USER": "payment_monitoring",
        "DATA_SOURCE_PASS_FILE": "/run/secrets/postgres-exporter-password",
    }
    # The exporter prefixes postgresql://user:password@ itself; the URI must parse as the rest of a DSN.
    dsn = urlsplit(f"postgresql://{MONITORING_ROLE}:x@{env['DATA_SOURCE_URI']}")
    assert (dsn.hostname, dsn.port, dsn.path) == ("postgres.payment-network", 5432, "/postgres")
    assert parse_qs(dsn.query) == {"sslmode": ["verify-full"], "sslrootcert": [CA_FILE]}


def test_pg_hba_admits_the_exporter_exactly_as_it_connects() -> None:
    # hostssl, the `postgres` database, the monitoring role, SCRAM: what the DSN above asks for.
    assert f"hostssl  postgres  {MONITORING_ROLE}  all  scram-sha-256" in pg_hba()


def test_redis_exporter_speaks_tls_verified_against_the_ca_as_the_monitoring_user_with_a_password_file() -> None:
    assert redis_exporter_environment(stack_config("dev").infra("redis")) == {
        "REDIS_ADDR": "rediss://redis.payment-network:6379",
        "REDIS_USER": "redis-exporter",
        "REDIS_PASSWORD_FILE": "/run/secrets/redis-exporter-passwords.json",
        "REDIS_EXPORTER_TLS_CA_CERT_FILE": "/app/certs/ca/ca-cert.pem",
        "REDIS_EXPORTER_SKIP_TLS_VERIFICATION": "false",
    }


def test_redis_password_file_maps_the_scraped_address_and_user_to_the_password() -> None:
    address = redis_address(stack_config("dev").infra("redis"))
    # redis_exporter (lookupPasswordInPasswordMap) puts REDIS_USER into the URI it dials as its user and looks that
    # up, so the key must be REDIS_ADDR with the user exactly; any password must survive JSON.
    assert json.loads(redis_password_map(address, "redis-exporter", CANARY)) == {
        "rediss://redis-exporter@redis.payment-network:6379": CANARY
    }


def test_kafka_exporter_reads_the_internal_listener_at_a_protocol_level_kafka_4_accepts() -> None:
    assert kafka_exporter_command(KAFKA_BOOTSTRAP) == [
        "--kafka.server=kafka.payment-network:9092",
        "--kafka.version=3.9.0",
        # The broker requires a client certificate: its own, verified against the platform CA.
        "--tls.enabled",
        "--tls.ca-file=/app/certs/ca/ca-cert.pem",
        "--tls.cert-file=/app/certs/kafka-exporter/kafka-exporter.crt",
        "--tls.key-file=/app/certs/kafka-exporter/kafka-exporter.key",
    ]


def test_cadvisor_collects_only_docker_containers_and_the_metric_kinds_the_registry_needs() -> None:
    command = cadvisor_command(15)
    assert command == [
        "--docker=unix:///run/docker-api-proxy/docker.sock",
        "--docker_only=true",
        "--enable_metrics=cpu,memory,network",
        "--housekeeping_interval=15s",
        "--allow_dynamic_housekeeping=false",
        "--store_container_labels=false",
    ]
    # Each registered cAdvisor metric comes from an enabled kind, or is one cAdvisor always reports.
    always = {"container_last_seen", "container_spec_memory_limit_bytes"}
    kinds = {"cpu": "container_cpu_", "memory": "container_memory_", "network": "container_network_"}
    for name in metrics.CADVISOR - always:
        assert any(name.startswith(prefix) for kind, prefix in kinds.items() if kind in CADVISOR_METRICS), name


def test_cadvisor_host_mounts_are_the_documented_list() -> None:
    assert cadvisor_host_mounts("/var/lib/docker") == (
        ("/sys/fs/cgroup", "/sys/fs/cgroup"),
        ("/proc", "/rootfs/proc"),
        # Where cAdvisor looks for a container's read-write layer id: /rootfs + `docker info`'s DockerRootDir.
        ("/var/lib/docker/image/overlay2/layerdb/mounts", "/rootfs/var/lib/docker/image/overlay2/layerdb/mounts"),
    )
    targets = [target for _, target in cadvisor_host_mounts("/srv/docker")]
    assert len(set(targets)) == len(targets)
    sources = {source for source, _ in cadvisor_host_mounts("/var/lib/docker")}
    # Neither the host's root, nor the socket or a folder holding it, nor the whole data root, nor /dev/kmsg.
    assert not any(exposes_docker_socket(source) for source in sources), sources
    assert not sources & {"/", "/var/run", "/run", "/var/lib/docker", "/sys", "/dev/kmsg"}


def test_cadvisor_reads_the_engine_data_root_the_stack_names() -> None:
    """An engine started with `--data-root` elsewhere keeps its layer ids there, and reports that root to cAdvisor."""
    render = rendered("dev", "dockerDataRoot=/srv/docker")
    inputs = next(r.inputs for r in render.resources if r.inputs.get("name") == "payment-cadvisor")
    binds = {m["source"]: m["target"] for m in inputs["mounts"] if m["type"] == "bind"}
    assert binds["/srv/docker/image/overlay2/layerdb/mounts"] == "/rootfs/srv/docker/image/overlay2/layerdb/mounts"


def test_the_proxy_runs_in_the_socket_group_the_stack_names() -> None:
    render = rendered("dev", "dockerSocketGroup=105")
    inputs = next(r.inputs for r in render.resources if r.inputs.get("name") == f"payment-{DOCKER_API_PROXY}")
    assert inputs["user"] == f"{DOCKER_API_PROXY_UID}:105"
    default = next(r.inputs for r in rendered("dev").resources if r.inputs.get("name") == f"payment-{DOCKER_API_PROXY}")
    assert default["user"] == f"{DOCKER_API_PROXY_UID}:0"


def test_a_bad_socket_group_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"dockerSocketGroup"):
        stack_config("dev", dockerSocketGroup=-1)


def test_images_of_every_role_come_from_stack_config() -> None:
    """`images.<role>` points each image at a mirror or a local build, the loader's and the demo's included."""
    sets = tuple(f"images.{role}=mirror.example/{role}:1.0.0" for role in PINNED_IMAGES)
    pulled = {r.inputs["name"] for r in rendered("dev", *sets).resources if r.type == REMOTE_IMAGE}
    assert pulled == {f"mirror.example/{role}:1.0.0" for role in PINNED_IMAGES}
    default = {r.inputs["name"] for r in rendered("dev").resources if r.type == REMOTE_IMAGE}
    assert default == set(PINNED_IMAGES.values())


def test_healthchecks_use_the_images_wget_without_a_shell() -> None:
    assert http_healthcheck(9121, "/health") == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9121/health"]


def test_the_redis_exporter_image_is_the_variant_that_has_wget() -> None:
    image = next(e.image for e in EXPORTERS if e.name == REDIS_EXPORTER)
    if not image.endswith("-alpine"):
        pytest.skip(f"pending hand-off: stacks/catalog.py still pins {image}, a scratch image without wget")
    assert image.startswith("oliver006/redis_exporter:v")


# --- the component under the engine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    render: Render
    config: PlatformConfig

    def container(self, exporter: str) -> Resource:
        return self.render.get(CONTAINER, container_name(exporter))

    def env(self, exporter: str) -> dict[str, str]:
        return dict(str(item).split("=", 1) for item in self.container(exporter).inputs["envs"])

    def uploads(self, exporter: str, *, revealed: bool = False) -> dict[str, dict[str, Any]]:
        loader = f"{container_name(exporter)}-loader"
        if not any(r.name == loader for r in self.render.by_type(CONTAINER)):
            return {}  # no files, no loader
        return {u["file"]: u for u in container_uploads(self.render, container_name(exporter), revealed=revealed)}

    def password(self, secret: str) -> str:
        value = self.render.get(RANDOM_PASSWORD, f"payment-secrets-{secret}").revealed_outputs["result"]
        assert isinstance(value, str)
        return value


def observability(config: PlatformConfig) -> Render:
    """Network, PKI, secrets and the exporters as the platform wires them, with stand-ins for the stores."""

    def program() -> None:
        host = docker_host(config)
        pki = Pki("payment-pki", PkiArgs(config=config.pki, domain=config.network.name))
        secrets = Secrets("payment-secrets", SecretsArgs(config=config.secrets))
        stores = [docker.Container(f"store-{store}", image="stand-in:1") for store in STORES]
        exporters = Exporters(
            "payment-exporters",
            ExportersArgs(
                postgres=config.infra("postgres"),
                redis=config.infra("redis"),
                kafka_bootstrap=KAFKA_BOOTSTRAP,
                kafka_certificate=pki.certificates[KAFKA_EXPORTER],
                images=config.images,
                workload=config.observability.exporter,
                scrape_interval_seconds=config.observability.scrape_interval_seconds,
                docker_data_root=config.docker_data_root,
                docker_socket_group=SOCKET_GROUP,
                host=host,
                monitoring_password=secrets.values[POSTGRES_EXPORTER_PASSWORD.name],
                redis_password=secrets.values[REDIS_EXPORTER_PASSWORD.name],
                trust_bundle=pki.trust_bundle,
                stores=stores,
            ),
        )
        pulumi.export("containers", {n: c.name for n, c in exporters.containers.items()})
        pulumi.export("trustBundle", pki.trust_bundle)

    return run_program(program, config.project, config.stack)


@functools.cache
def built(stack: str) -> Built:
    config = stack_config(stack)
    return Built(observability(config), config)


STACKS = pytest.mark.parametrize("stack", ["dev", "prod"])


@STACKS
def test_one_container_per_exporter_named_and_aliased_from_the_catalog(stack: str) -> None:
    render = built(stack).render
    names = {r.inputs["name"] for r in render.by_type(CONTAINER) if r.name.startswith("payment-exporters-")}
    assert names == {f"payment-{e.name}" for e in EXPORTERS} | {
        f"payment-{e}-files" for e in (POSTGRES_EXPORTER, REDIS_EXPORTER, KAFKA_EXPORTER)
    } | {f"payment-{DOCKER_API_PROXY}"}
    for exporter in EXPORTERS:
        inputs = built(stack).container(exporter.name).inputs
        assert inputs["name"] == f"payment-{exporter.name}"
        assert inputs["hostname"] == exporter.name
        # Its store's network and the monitoring network (stacks.resolve.networks), as `<name>` and the FQDN.
        assert inputs["networksAdvanced"] == [
            {"name": network, "aliases": [exporter.name, f"{exporter.name}.payment-network"]}
            for network in built(stack).config.networks_of(exporter.name)
        ]
        assert "payment-monitoring" in built(stack).config.networks_of(exporter.name)
        image = render.get(REMOTE_IMAGE, f"payment-exporters-{exporter.name}-image")
        assert image.inputs["name"] == exporter.image
        assert inputs["image"] == image.revealed_outputs["imageId"]
    assert render.outputs["containers"] == {e.name: f"payment-{e.name}" for e in EXPORTERS} | {
        DOCKER_API_PROXY: f"payment-{DOCKER_API_PROXY}"
    }


@STACKS
def test_nothing_is_published(stack: str) -> None:
    for name in (*(e.name for e in EXPORTERS), DOCKER_API_PROXY):
        assert built(stack).container(name).inputs["ports"] == [], name


@STACKS
def test_users_commands_and_healthchecks(stack: str) -> None:
    config = built(stack).config
    expected = {
        POSTGRES_EXPORTER: ("65534:65534", None, http_healthcheck(9187, "/")),
        REDIS_EXPORTER: ("59000:59000", None, http_healthcheck(9121, "/health")),
        KAFKA_EXPORTER: ("65534:65534", kafka_exporter_command(KAFKA_BOOTSTRAP), http_healthcheck(9308, "/healthz")),
        CADVISOR: (
            f"{CADVISOR_UID}:{CADVISOR_UID}",
            cadvisor_command(config.observability.scrape_interval_seconds),
            http_healthcheck(8080, "/healthz"),
        ),
        DOCKER_API_PROXY: (
            f"{DOCKER_API_PROXY_UID}:{SOCKET_GROUP}",
            docker_api_proxy_command(),
            docker_api_proxy_healthcheck(),
        ),
    }
    health = config.data.health
    for name, (user, command, check) in expected.items():
        inputs = built(stack).container(name).inputs
        assert (inputs["user"], inputs.get("command"), inputs["healthcheck"]["tests"]) == (user, command, check), name
        assert "entrypoints" not in inputs, name  # each image's own entrypoint: the exporter binary
        assert inputs["healthcheck"]["interval"] == f"{health.interval_seconds}s", name
        assert inputs["healthcheck"]["retries"] == health.retries, name
        assert inputs["wait"] is True, name


@STACKS
def test_hardened_and_sized_by_the_exporter_profile(stack: str) -> None:
    config = built(stack).config
    workload = config.observability.exporter
    for exporter in (*EXPORTERS, catalog_proxy()):
        inputs = built(stack).container(exporter.name).inputs
        assert inputs["readOnly"] is True, exporter.name
        assert inputs["tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=64m"}, exporter.name
        assert inputs["capabilities"] == {"drops": ["ALL"]}, exporter.name
        assert inputs["securityOpts"] == ["no-new-privileges:true"], exporter.name
        assert inputs["privileged"] is False, exporter.name
        assert inputs["networkMode"] == (NETWORKED if config.networks_of(exporter.name) else "none"), exporter.name
        assert (inputs["memory"], inputs["memoryReservation"], inputs["cpus"]) == (
            workload.limits.memory.mebibytes,
            workload.reservations.memory.mebibytes,
            docker_cpus(workload.limits.cpus),
        ), exporter.name
        assert inputs["memorySwap"] == inputs["memory"], f"{exporter.name}: no swap"
        assert (inputs["restart"], inputs.get("maxRetryCount")) == ("unless-stopped", None), exporter.name
        assert {label["label"]: label["value"] for label in inputs["labels"]} == platform_labels(
            config.project, config.stack, config.profile
        )


@STACKS
def test_every_exporter_starts_after_the_data_stores(stack: str) -> None:
    render = built(stack).render
    stores = {render.get(CONTAINER, f"store-{store}").urn for store in STORES}
    for exporter in EXPORTERS:
        assert stores <= set(built(stack).container(exporter.name).dependencies), exporter.name


@STACKS
def test_cadvisor_mounts_exactly_the_documented_host_paths_read_only(stack: str) -> None:
    inputs = built(stack).container(CADVISOR).inputs
    binds = [m for m in inputs["mounts"] if m["type"] == "bind"]
    assert [(m["source"], m["target"]) for m in binds] == list(cadvisor_host_mounts("/var/lib/docker"))
    assert all(m["readOnly"] is True for m in binds)
    assert len(binds) == len(inputs["mounts"])  # no files volume: cAdvisor is given no file
    # The proxy's socket, read-only: the only way to the Docker API.
    socket_volume = built(stack).render.get(VOLUME, f"payment-exporters-{DOCKER_API_PROXY}-socket")
    assert socket_volume.inputs["name"] == "payment-docker-api-proxy-socket"
    assert inputs["volumes"] == [
        {"volumeName": "payment-docker-api-proxy-socket", "containerPath": PROXY_SOCKET_DIR, "readOnly": True}
    ]
    assert PROXY_SOCKET.startswith(PROXY_SOCKET_DIR + "/")
    assert inputs.get("pidMode") in (None, "") and inputs.get("cgroupnsMode") in (None, "")
    assert "devices" not in inputs  # no /dev/kmsg
    for exporter in (POSTGRES_EXPORTER, REDIS_EXPORTER, KAFKA_EXPORTER):
        mounts = built(stack).container(exporter).inputs.get("mounts", [])
        assert all(m["type"] == "volume" for m in mounts), exporter
        assert not built(stack).container(exporter).inputs.get("volumes"), exporter


@STACKS
def test_only_the_proxy_holds_the_docker_socket_and_only_cadvisor_shares_its_volume(stack: str) -> None:
    render = built(stack).render
    proxy = built(stack).container(DOCKER_API_PROXY).inputs
    assert [(m["type"], m["source"], m["target"], m["readOnly"]) for m in proxy["mounts"]] == [
        ("bind", "/var/run/docker.sock", "/var/run/docker.sock", True)
    ]
    assert proxy["volumes"] == [{"volumeName": "payment-docker-api-proxy-socket", "containerPath": PROXY_SOCKET_DIR}]
    sharing = {
        r.inputs["name"]
        for r in render.by_type(CONTAINER)
        if any(v.get("volumeName") == "payment-docker-api-proxy-socket" for v in r.inputs.get("volumes") or [])
    }
    assert sharing == {f"payment-{DOCKER_API_PROXY}", f"payment-{CADVISOR}"}
    holders = {
        r.inputs["name"]
        for r in render.by_type(CONTAINER)
        for m in r.inputs.get("mounts") or []
        if m["type"] == "bind" and exposes_docker_socket(m["source"])
    }
    assert holders == {f"payment-{DOCKER_API_PROXY}"}
    # cAdvisor starts once the proxy is healthy (its socket exists, the volume is the proxy's).
    assert render.get(CONTAINER, container_name(DOCKER_API_PROXY)).urn in built(stack).container(CADVISOR).dependencies


@STACKS
def test_store_exporters_get_the_ca_and_their_password_as_owner_only_files(stack: str) -> None:
    bundle = built(stack).render.outputs["trustBundle"]
    postgres = built(stack).uploads(POSTGRES_EXPORTER)
    assert {f: (u["owner"], u["group"], u["permissions"]) for f, u in postgres.items()} == {
        "/run/secrets/postgres-exporter-password": ("65534", "65534", "0400"),
        CA_FILE: ("65534", "65534", "0444"),
    }
    redis = built(stack).uploads(REDIS_EXPORTER)
    assert {f: (u["owner"], u["group"], u["permissions"]) for f, u in redis.items()} == {
        REDIS_PASSWORD_MAP: ("59000", "59000", "0400"),
        CA_FILE: ("59000", "59000", "0444"),
    }
    for uploads in (postgres, redis):
        assert uploads[CA_FILE]["content"] == bundle
    assert postgres["/run/secrets/postgres-exporter-password"]["content"] == SECRET
    assert redis[REDIS_PASSWORD_MAP]["content"] == SECRET
    kafka = built(stack).uploads(KAFKA_EXPORTER)
    assert {f: (u["owner"], u["group"], u["permissions"]) for f, u in kafka.items()} == {
        "/app/certs/kafka-exporter/kafka-exporter.crt": ("65534", "65534", "0444"),
        "/app/certs/kafka-exporter/kafka-exporter.key": ("65534", "65534", "0400"),
        CA_FILE: ("65534", "65534", "0444"),
    }
    assert kafka["/app/certs/kafka-exporter/kafka-exporter.key"]["content"] == SECRET
    assert kafka[CA_FILE]["content"] == bundle
    for without_files in (CADVISOR, DOCKER_API_PROXY):
        assert built(stack).uploads(without_files) == {}, without_files


@STACKS
def test_the_files_carry_the_platform_passwords(stack: str) -> None:
    # Files in both stacks: dev delivers service secrets as variables, the exporters never.
    postgres = built(stack).uploads(POSTGRES_EXPORTER, revealed=True)
    assert postgres["/run/secrets/postgres-exporter-password"]["content"] == built(stack).password(
        "postgres-exporter-password"
    )
    redis = built(stack).uploads(REDIS_EXPORTER, revealed=True)
    assert json.loads(redis[REDIS_PASSWORD_MAP]["content"]) == {
        "rediss://redis-exporter@redis.payment-network:6379": built(stack).password("redis-exporter-password")
    }
    assert built(stack).env(POSTGRES_EXPORTER) == postgres_exporter_environment(stack_config("dev").infra("postgres"))
    assert built(stack).env(REDIS_EXPORTER) == redis_exporter_environment(stack_config("dev").infra("redis"))


@STACKS
def test_no_secret_in_env_command_healthcheck_or_labels(stack: str) -> None:
    passwords = [built(stack).password(s) for s in ("postgres-exporter-password", "redis-exporter-password")]
    checked = 0
    for resource in built(stack).render.resources:
        if resource.type != CONTAINER:
            continue
        for source in (resource.inputs, resource.revealed_inputs):
            visible = json.dumps(
                [
                    source.get("envs"),
                    source.get("command"),
                    source.get("entrypoints"),
                    source.get("healthcheck", {}).get("tests"),
                    source.get("labels"),
                ]
            )
            for leak in (SECRET, SECRET_MARKER, *passwords):
                assert leak not in visible, f"{resource.name}: {leak!r} in {visible}"
            checked += 1
    assert checked >= 2 * (len(EXPORTERS) + 2)


def test_the_platform_points_kafka_exporter_at_the_broker_s_internal_listener(dev: Render) -> None:
    exporter = dev.get(CONTAINER, f"payment-exporters-{KAFKA_EXPORTER}-container")
    assert exporter.inputs["command"] == kafka_exporter_command(KAFKA_BOOTSTRAP)


def test_no_service_can_take_the_proxy_s_name() -> None:
    """A service `docker-api-proxy` would be a second `payment-docker-api-proxy` container on the engine."""
    with pytest.raises(ConfigError, match=r"services\.docker-api-proxy: 'docker-api-proxy' is reserved"):
        stack_config("dev", services={DOCKER_API_PROXY: {"port": 40031, "database": "payment_proxy"}})
