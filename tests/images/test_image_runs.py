"""The program's own containers, run on the real engine with the local images in place of the official ones.

Each test takes a container from the rendered dev stack (tests/images/harness.py) with everything the
program gives it (user, read-only root, tmpfs, environment, entrypoint, command, data volume, the files its
loader copies in) and checks what the program relies on: its own healthcheck passes, and what a user of
the store would do works. The files volumes are filled by the local loader image running the rendered
loader, so every test here also exercises the loader.
"""

from __future__ import annotations

import json
import posixpath
import subprocess
import tarfile
import time
from urllib.parse import urlsplit

import pytest

from components.data.postgres import PostgresPaths
from components.data.redis import RedisPaths
from components.docker.containers import FILES, STAGE
from components.observability.prometheus import PrometheusPaths
from components.secrets import secret_path
from plan.engine import Render, Resource
from stacks.catalog import REDIS, REDIS_EXPORTER, SERVICES, db_password_secret, redis_key_prefix, redis_password_secret
from tests.conftest import faithful, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import Sandbox, container_named, containers_running, loader_of, sandbox, wait_healthy
from vocabulary import RANDOM_PASSWORD

MIB = 1024 * 1024
HEALTHY_WITHIN = 120
"""Seconds a container may take to pass its healthcheck (PostgreSQL initialises and bootstraps 19 databases)."""

STANDALONE = ("postgres-exporter", "redis-exporter", "demo")
"""Images whose rendered container becomes healthy with no peer on the network; the stores have tests below.
Add an image here when its container needs nothing else to pass its healthcheck."""


@pytest.fixture(scope="module")
def dev(engine: str) -> Render:
    """The dev stack with certificates issued for real (servers present them, healthchecks verify them)."""
    return faithful("dev")


def needs(*names: str) -> None:
    """Skip (fail in CI) when a contract or its local image is missing; the loader fills every files volume."""
    for name in (*names, "loader"):
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        proc = docker("image", "inspect", "--format", "{{.Id}}", local_ref(CONTRACTS[name]))
        if proc.returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def start(box: Sandbox, dev: Render, container: Resource, local: str, *extra: str) -> tuple[str, float]:
    """Start the rendered `container` with the local image `local` (and `docker run` options `extra`); wait for its
    healthcheck to pass."""
    name = box.run_rendered(dev, container, local_ref(CONTRACTS[local]), local_ref(CONTRACTS["loader"]), *extra)
    return name, wait_healthy(name, container.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)


def exec_ok(name: str, script: str) -> str:
    proc = docker("exec", name, "sh", "-c", script, timeout=60)
    assert proc.returncode == 0, shown(proc)
    return proc.stdout.strip()


@pytest.mark.parametrize("local", STANDALONE)
def test_rendered_container_becomes_healthy(local: str, dev: Render) -> None:
    """The program's container for this image, read-only as its user with its files, passes its healthcheck."""
    needs(local)
    container = containers_running(dev, CONTRACTS[local].stands_for)[0]
    with sandbox(local) as box:
        _, elapsed = start(box, dev, container, local)
    print(f"{container.inputs['name']} with {local_ref(CONTRACTS[local])}: healthy after {elapsed:.1f} s")


def test_postgres_initialises_bootstraps_and_keeps_its_volume(dev: Render) -> None:
    """PostgreSQL initialises the empty volume (POSTGRES_PASSWORD_FILE), the wrapper applies the bootstrap, a
    service logs in over TLS with its own password, and a restart reuses the volume without initdb."""
    needs("postgres")
    container = container_named(dev, "payment-postgres")
    paths = PostgresPaths()
    service = SERVICES[0]
    with sandbox("postgres") as box:
        name, first = start(box, dev, container, "postgres")
        login = (
            f'PGPASSWORD="$(cat {secret_path(db_password_secret(service.name))})" psql -X -At '
            f'"host=127.0.0.1 port=5432 dbname={service.database} user={service.database} sslmode=verify-ca '
            f'sslrootcert={paths.ca_file}" -c "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"'
        )
        assert exec_ok(name, login) == f"{service.database}|t"
        superuser_over_tcp = docker(
            "exec", name, "sh", "-c", "psql -X -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' </dev/null"
        )
        assert superuser_over_tcp.returncode != 0, f"the superuser got in over TCP: {shown(superuser_over_tcp)}"

        started = time.monotonic()
        proc = docker("restart", name, timeout=90)
        assert proc.returncode == 0, shown(proc)
        again = wait_healthy(name, container.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
        logs = docker("logs", name)
        initialised = (logs.stdout + logs.stderr).count("initialising")
        assert initialised == 1, f"initdb ran {initialised} times over two starts:\n{shown(logs)}"
        assert exec_ok(name, login) == f"{service.database}|t"
    print(
        f"payment-postgres: healthy after {first:.1f} s, again {again:.1f} s after a restart "
        f"({time.monotonic() - started:.1f} s with the stop)"
    )


def generated(render: Render, secret: str) -> str:
    """The (simulated) value the render generated for `secret`: what the rendered containers were given."""
    value = render.get(RANDOM_PASSWORD, f"payment-secrets-{secret}").revealed_outputs["result"]
    assert isinstance(value, str)
    return value


def redis_cli(name: str, *lines: str) -> list[str]:
    """`lines` fed on stdin to redis-cli in the Redis container `name` (TLS, verified against the CA): AUTH lines never
    reach a command line. Its replies, one per line (redis-cli's exit code only reflects the last reply)."""
    paths = RedisPaths()
    cli = ["redis-cli", "--no-auth-warning", "--tls", "--cacert", paths.ca, "-h", "127.0.0.1", "-p", str(REDIS.port)]
    proc = docker("exec", "-i", name, *cli, stdin="".join(f"{line}\n" for line in lines).encode(), timeout=60)
    replies = [line for line in proc.stdout.splitlines() if line.strip()]
    assert replies, shown(proc)
    return replies


def test_redis_serves_tls_and_confines_each_service_user(dev: Render) -> None:
    """Redis answers the healthcheck's authenticated TLS PING; a service's user writes and reads under its prefix and
    is refused elsewhere and on admin commands; anonymous commands are refused; the write lands under /data."""
    needs("redis")
    container = containers_running(dev, CONTRACTS["redis"].stands_for)[0]
    paths = RedisPaths()
    service, other = SERVICES[0].name, SERVICES[1].name
    key = f"{redis_key_prefix(service)}image-test"
    with sandbox("redis") as box:
        name, elapsed = start(box, dev, container, "redis")
        auth = f"AUTH {service} {generated(dev, redis_password_secret(service))}"
        replies = redis_cli(name, auth, f"SET {key} ok", f"GET {key}")
        assert replies == ["OK", "OK", "ok"], replies
        refused = ("GET " + redis_key_prefix(other) + "k", "SET unprefixed v", "FLUSHALL", "CONFIG SET maxmemory 1")
        replies = redis_cli(name, auth, *refused)
        assert replies[0] == "OK" and len(replies) == 1 + len(refused), replies
        assert all(reply.startswith("NOPERM") for reply in replies[1:]), replies
        assert all(reply.startswith("NOAUTH") for reply in redis_cli(name, f"GET {key}", "PING"))
        assert exec_ok(name, f"ls {paths.data}/appendonlydir"), f"no append-only files in {paths.data}"
    print(f"payment-redis: healthy after {elapsed:.1f} s")


def test_redis_exporter_scrapes_redis_as_its_monitoring_user(dev: Render) -> None:
    """The rendered exporter reaches the rendered Redis over TLS as its statistics-only user: `redis_up 1`, no scrape
    error and no refused command (its log would name NOPERM)."""
    needs("redis", REDIS_EXPORTER.name)
    redis = containers_running(dev, CONTRACTS["redis"].stands_for)[0]
    exporter = containers_running(dev, CONTRACTS[REDIS_EXPORTER.name].stands_for)[0]
    env = dict(str(item).split("=", 1) for item in exporter.revealed_inputs["envs"])
    host = urlsplit(env["REDIS_ADDR"]).hostname
    assert host is not None
    with sandbox("redis-exporter") as box:
        network = box.name("net")
        created = docker("network", "create", "--internal", network)
        assert created.returncode == 0, shown(created)
        try:
            start(box, dev, redis, "redis", f"--network={network}", f"--network-alias={host}")
            exporter_name, _ = start(box, dev, exporter, REDIS_EXPORTER.name, f"--network={network}")
            port = CONTRACTS[REDIS_EXPORTER.name].ports[0]
            deadline, metrics = time.monotonic() + 30, ""
            while "redis_up 1" not in metrics.splitlines() and time.monotonic() < deadline:
                scrape = docker("exec", exporter_name, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics")
                metrics = scrape.stdout
                if "redis_up 1" not in metrics.splitlines():
                    time.sleep(1)
            assert "redis_up 1" in metrics.splitlines(), shown(docker("logs", exporter_name))
            assert 'redis_exporter_last_scrape_error{err=""} 0' in metrics.splitlines()
            logs = docker("logs", exporter_name)
            assert "NOPERM" not in logs.stdout + logs.stderr, shown(logs)
        finally:
            box.close()
            docker("network", "rm", network)


def test_prometheus_accepts_the_generated_configuration(dev: Render) -> None:
    """Prometheus starts on the generated configuration and the image's promtool accepts it and its rules."""
    needs("prometheus")
    container = containers_running(dev, CONTRACTS["prometheus"].stands_for)[0]
    with sandbox("prometheus") as box:
        name, elapsed = start(box, dev, container, "prometheus")
        checked = exec_ok(name, f"promtool check config {PrometheusPaths().config}")
        assert "SUCCESS" in checked, checked
    print(f"payment-prometheus: healthy after {elapsed:.1f} s")


def test_loader_replaces_the_whole_volume(dev: Render) -> None:
    """The loader fills one volume per folder, deletes what an earlier upload left there and copies the new files
    with their owner and mode."""
    needs()
    secrets = "payment-postgres-files-run-secrets"
    loader = dict(loader_of(dev, secrets).revealed_inputs)
    stale = {"file": "/stage/run/secrets/stale", "content": "old\n", "owner": "0", "group": "0", "permissions": "0644"}
    image = local_ref(CONTRACTS["loader"])
    with sandbox("loader") as box:
        volumes = box.files_volumes(loader)
        assert len(volumes) > 1, "PostgreSQL's files span several folders"
        box.load({**loader, "uploads": [*loader["uploads"], stale]}, volumes, image)
        box.load(loader, volumes, image)
        proc = docker(
            "run",
            "--rm",
            "--network",
            "none",
            "--volume",
            f"{volumes[secrets]}:/files",
            image,
            "find",
            "/files",
            "-mindepth",
            "1",
            "-printf",
            r"%P %U:%G %m\n",
        )
        assert proc.returncode == 0, shown(proc)
        listing = sorted(proc.stdout.splitlines())
    expected = sorted(
        f"{posixpath.basename(str(u['file']))} {u['owner']}:{u['group']} {int(str(u['permissions']), 8):o}"
        for u in loader["uploads"]
        if str(u["file"]).startswith("/stage/run/secrets/")
    )
    assert expected and listing == expected, listing


def _exported_names(container: str) -> list[str]:
    """The paths in `docker export` of `container` (its whole filesystem, volumes aside), read as a stream: names
    only, no file is read or kept."""
    with subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            names = [member.name.removeprefix("./") for member in tar]
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"docker export {container} exited {proc.returncode}: {err.decode(errors='replace')}"
    return names


def test_loader_leaves_no_staged_copy_and_fills_every_volume(dev: Render) -> None:
    """Issue 15: the rendered loader, run with its rendered limits, exits 0; its exited container keeps no staged file
    (`docker diff` of its writable layer, `docker cp` and `docker export` of its filesystem), and each volume got its
    folder's files with their owner and mode."""
    needs()
    loader = dict(loader_of(dev, "payment-postgres-files-run-secrets").revealed_inputs)
    image = local_ref(CONTRACTS["loader"])
    with sandbox("loader-staging") as box:
        volumes = box.files_volumes(loader)
        name = box.load(loader, volumes, image)

        inspected = docker("inspect", name)
        assert inspected.returncode == 0, shown(inspected)
        status, host = json.loads(inspected.stdout)[0]["State"], json.loads(inspected.stdout)[0]["HostConfig"]
        assert (status["Status"], status["ExitCode"], status["OOMKilled"]) == ("exited", 0, False), status
        limits = (host["Memory"], host["MemorySwap"], host["NanoCpus"])
        assert limits == (
            int(loader["memory"]) * MIB,
            int(loader["memorySwap"]) * MIB,
            round(float(loader["cpus"]) * 1e9),
        )

        diff = docker("diff", name)
        assert diff.returncode == 0, shown(diff)
        changed = [line.split(maxsplit=1)[1] for line in diff.stdout.splitlines() if line.strip()]
        assert not [p for p in changed if p == STAGE or p.startswith(f"{STAGE}/")], f"writable layer: {changed}"
        # Its stdout would be a tar of the staged files: never shown, only whether the engine found the folder.
        copied = docker("cp", f"{name}:{STAGE}", "-")
        said = copied.stderr.lower()
        assert copied.returncode != 0 and ("could not find" in said or "no such" in said), copied.stderr[-300:]
        exported = _exported_names(name)
        staged = STAGE.lstrip("/")
        assert exported and not [n for n in exported if n.rstrip("/") == staged or n.startswith(f"{staged}/")]

        for rendered_volume, volume in volumes.items():
            root = next(v["containerPath"] for v in loader["volumes"] if v["volumeName"] == rendered_volume)
            proc = docker(
                "run", "--rm", "--network", "none", "--volume", f"{volume}:/files", image,
                "find", "/files", "-type", "f", "-printf", r"%P %U:%G %m\n",
            )  # fmt: skip
            assert proc.returncode == 0, shown(proc)
            staged_root = f"{STAGE}{str(root).removeprefix(FILES)}/"
            expected = sorted(
                f"{path.removeprefix(staged_root)} {u['owner']}:{u['group']} {int(str(u['permissions']), 8):o}"
                for u in loader["uploads"]
                if (path := str(u["file"])).startswith(staged_root)
            )
            assert expected and sorted(proc.stdout.splitlines()) == expected, rendered_volume
