"""Redis: the generated configuration, the component under the engine, and a real redis-server running it.

What users rely on: services reach Redis only over TLS with the password, the password is in no command
line, healthcheck, label or public file, the data survives on a retained (in prod protected) volume, and
the container is sized and exposed as the profile says.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest

from components.data.redis import Redis, RedisArgs, RedisPaths, auth_conf, healthcheck, redis_conf
from components.docker.containers import docker_cpus
from components.docker.files import ContainerFiles
from components.docker.labels import platform_labels
from components.pki import Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from plan.engine import RecordingMonitor, Render, Resource, run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import APP_UID, REDIS_PASSWORD
from stacks.models import PlatformConfig, RedisTuning
from stacks.units import ByteSize
from tests.conftest import docker_host, free_port, require_tool, stack_config
from tests.conftest import uploads as container_uploads
from tests.support.tlsmodel import Faithful
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, PRIVATE_KEY, REMOTE_IMAGE, SECRET, VOLUME

CANARY = "CANARY-redis-password-0000000000000000000"
TUNING = RedisTuning(maxmemory=ByteSize.parse("192M"), maxmemory_policy="volatile-lru")


def directives(conf: str) -> dict[str, str]:
    """Directive -> its arguments, as Redis reads the file (comments and blank lines skipped)."""
    found: dict[str, str] = {}
    for line in conf.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, rest = line.strip().partition(" ")
            assert name not in found, f"{name} set twice"
            found[name] = rest
    return found


# --- pure builders ----------------------------------------------------------------------------------


def test_config_is_tls_only_append_only_and_bounded() -> None:
    paths = RedisPaths()
    assert directives(redis_conf(TUNING, paths)) == {
        "port": "0",
        "tls-port": "6379",
        "tls-cert-file": '"/usr/local/etc/redis/tls/redis.crt"',
        "tls-key-file": '"/usr/local/etc/redis/tls/redis.key"',
        "tls-ca-cert-file": '"/usr/local/etc/redis/tls/ca.crt"',
        "tls-auth-clients": "no",
        "tls-protocols": '"TLSv1.2 TLSv1.3"',
        "bind": "* -::*",
        "protected-mode": "yes",
        "include": '"/usr/local/etc/redis/auth.conf"',
        "appendonly": "yes",
        "appendfsync": "everysec",
        "dir": '"/data"',
        "maxmemory": str(192 * 1024 * 1024),
        "maxmemory-policy": "volatile-lru",
    }


def test_config_follows_paths_port_and_tuning() -> None:
    paths = RedisPaths(config="/t/r.conf", auth="/t/a.conf", cert="/t/c", key="/t/k", ca="/t/ca", data="/t/d")
    tuning = RedisTuning(maxmemory=ByteSize.parse("1536M"), maxmemory_policy="allkeys-lfu")
    found = directives(redis_conf(tuning, paths, port=16379))
    assert (found["tls-port"], found["port"]) == ("16379", "0")
    assert (found["include"], found["dir"]) == ('"/t/a.conf"', '"/t/d"')
    assert (found["tls-cert-file"], found["tls-key-file"], found["tls-ca-cert-file"]) == ('"/t/c"', '"/t/k"', '"/t/ca"')
    assert (found["maxmemory"], found["maxmemory-policy"]) == ("1610612736", "allkeys-lfu")


def test_protected_mode_is_at_the_start_of_a_line() -> None:
    # The official image compiles protected-mode off; older entrypoints also append `--protected-mode no`
    # unless the config file has a line starting with `protected-mode`.
    assert "\nprotected-mode yes\n" in redis_conf(TUNING, RedisPaths())


def test_the_password_is_only_in_the_auth_include() -> None:
    paths = RedisPaths()
    assert auth_conf(CANARY).splitlines()[-1] == f'requirepass "{CANARY}"'
    public = redis_conf(TUNING, paths) + json.dumps(healthcheck(paths))
    assert CANARY not in public
    assert "requirepass" not in directives(redis_conf(TUNING, paths))


def test_auth_include_quotes_any_password_for_the_config_parser() -> None:
    assert auth_conf('a "b" \\c #d').splitlines()[-1] == 'requirepass "a \\"b\\" \\\\c #d"'
    assert auth_conf("new\nline").splitlines()[-1] == 'requirepass "new\\x0aline"'


def test_healthcheck_reads_the_password_file_and_verifies_the_server() -> None:
    paths = RedisPaths()
    kind, script = healthcheck(paths)
    assert kind == "CMD-SHELL"
    assert script == (
        'REDISCLI_AUTH="$(cat /run/secrets/redis-password)" redis-cli --tls '
        "--cacert /usr/local/etc/redis/tls/ca.crt -h 127.0.0.1 -p 6379 ping | grep -qx PONG"
    )
    assert " -a " not in script and "--pass" not in script and "--user" not in script


# --- the component under the engine --------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    render: Render
    config: PlatformConfig

    def redis(self) -> Resource:
        return self.render.get(CONTAINER, "payment-redis-container")

    def uploads(self) -> dict[str, dict[str, Any]]:
        return {u["file"]: u for u in container_uploads(self.render, "payment-redis-container")}

    def revealed_uploads(self) -> list[dict[str, Any]]:
        return container_uploads(self.render, "payment-redis-container", revealed=True)

    def probe_env(self) -> Callable[[str], object]:
        env = dict(item.split("=", 1) for item in self.render.get(CONTAINER, "probe").revealed_inputs["envs"])
        return env.get


def platform(config: PlatformConfig, monitor: RecordingMonitor | None = None) -> Render:
    """Network, PKI, secrets and Redis, as the platform wires them, plus a service given what Platform gives one."""

    def program() -> None:
        host = docker_host(config)
        pki = Pki("payment-pki", PkiArgs(config=config.pki, domain=config.network.name))
        secrets = Secrets("payment-secrets", SecretsArgs(config=config.secrets))
        redis = Redis(
            "payment-redis",
            RedisArgs(
                infra=config.infra("redis"),
                tuning=config.data.redis,
                host=host,
                password=secrets.values[REDIS_PASSWORD.name],
                certificate=pki.certificates["redis"],
                trust_bundle=pki.trust_bundle,
            ),
        )
        # What Platform gives a service of Redis: the connection contract and the password.
        files = ContainerFiles(env=redis.client_env) + secrets.files(REDIS_PASSWORD.name, APP_UID)
        docker.Container(
            "probe",
            image="probe:1",
            envs=files.envs(),
            uploads=list(files.uploads),
            opts=pulumi.ResourceOptions(parent=redis),
        )
        pulumi.export("trustBundle", pki.trust_bundle)

    return run_program(program, config.project, config.stack, monitor=monitor)


@functools.cache
def built(stack: str) -> Built:
    config = stack_config(stack)
    return Built(platform(config), config)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_identity_user_and_command(stack: str) -> None:
    redis = built(stack).redis()
    inputs = redis.inputs
    assert inputs["name"] == "payment-redis"
    assert inputs["hostname"] == "redis"
    assert inputs["networksAdvanced"] == [{"name": "payment-network", "aliases": ["redis", "redis.payment-network"]}]
    assert inputs["user"] == "999:1000"
    assert inputs["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    assert "entrypoints" not in inputs  # the image's entrypoint, which execs the command as given
    assert redis.delete_before_replace  # fixed container name
    image = built(stack).render.get(REMOTE_IMAGE, "payment-redis-image")
    assert image.inputs["name"] == "redis:8.10.2-alpine"
    assert inputs["image"] == image.revealed_outputs["imageId"]


def test_dev_publishes_on_loopback_and_prod_publishes_nothing() -> None:
    assert built("dev").redis().inputs["ports"] == [
        {"internal": 6379, "external": 40379, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert built("prod").redis().inputs["ports"] == []


def test_data_volume_is_retained_everywhere_and_protected_in_prod() -> None:
    for stack, protected in (("dev", False), ("prod", True)):
        render = built(stack).render
        volume = render.get(VOLUME, "redis-data")
        assert volume.inputs["name"] == "payment-redis-data"
        assert volume.retain_on_delete
        assert volume.protect is protected
        assert render.get(CONTAINER, "payment-redis-container").inputs["volumes"] == [
            {"volumeName": "payment-redis-data", "containerPath": "/data"}
        ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_uploads_secret_where_secret_readable_where_public(stack: str) -> None:
    uploads = built(stack).uploads()
    assert {file: (u["permissions"], u["owner"]) for file, u in uploads.items()} == {
        "/usr/local/etc/redis/redis.conf": ("0444", "999"),
        "/usr/local/etc/redis/auth.conf": ("0400", "999"),
        "/run/secrets/redis-password": ("0400", "999"),
        "/usr/local/etc/redis/tls/redis.crt": ("0444", "999"),
        "/usr/local/etc/redis/tls/redis.key": ("0400", "999"),
        "/usr/local/etc/redis/tls/ca.crt": ("0444", "999"),
    }
    for secret in ("auth.conf", "redis-password", "redis.key"):
        assert next(u for f, u in uploads.items() if f.endswith(secret))["content"] == SECRET
    config = uploads["/usr/local/etc/redis/redis.conf"]["content"]
    assert config == redis_conf(built(stack).config.data.redis, RedisPaths())
    assert uploads["/usr/local/etc/redis/tls/ca.crt"]["content"].startswith("-----BEGIN CERTIFICATE-----")


def test_auth_include_and_password_file_carry_the_generated_password() -> None:
    revealed = {u["file"]: u["content"] for u in built("prod").revealed_uploads()}
    password = revealed["/run/secrets/redis-password"]
    assert password.startswith(SECRET_MARKER)
    assert revealed["/usr/local/etc/redis/auth.conf"] == auth_conf(password)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_in_commands_healthchecks_labels_or_the_public_config(stack: str) -> None:
    render = built(stack).render
    redis = built(stack).redis()
    password = next(u["content"] for u in built(stack).revealed_uploads() if u["file"].endswith("redis-password"))
    checked = 0
    for resource in render.resources:
        if not resource.type.startswith("docker:"):
            continue
        for source in (resource.inputs, resource.revealed_inputs):
            visible = json.dumps(
                [
                    source.get("command"),
                    source.get("entrypoints"),
                    source.get("healthcheck", {}).get("tests"),
                    source.get("labels"),
                ]
            )
            for leak in (SECRET, SECRET_MARKER, password):
                assert leak not in visible, f"{resource.name}: {leak!r} in {visible}"
            checked += 1
    assert checked >= 2 * 4  # the network, the image, the volume and the container at least
    public = next(u["content"] for u in built(stack).revealed_uploads() if u["file"].endswith("redis.conf"))
    assert password not in public and SECRET_MARKER not in public
    assert redis.inputs["envs"] == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_limits_logs_restart_and_health_timing(stack: str) -> None:
    config = built(stack).config
    workload, health = config.infra("redis").workload, config.data.health
    inputs = built(stack).redis().inputs
    assert (inputs["memory"], inputs["memoryReservation"]) == (
        workload.limits.memory.mebibytes,
        workload.reservations.memory.mebibytes,
    )
    assert inputs["memory"] == {"dev": 256, "prod": 2048}[stack]
    assert config.data.redis.maxmemory < workload.limits.memory  # headroom below the container limit
    assert inputs["cpus"] == docker_cpus(workload.limits.cpus)
    assert (inputs["logDriver"], inputs["logOpts"]) == ("json-file", {"max-size": "10m", "max-file": "3"})
    assert (inputs["restart"], inputs.get("maxRetryCount")) == ("unless-stopped", None)
    assert inputs["healthcheck"]["interval"] == f"{health.interval_seconds}s"
    assert inputs["wait"] is True
    assert inputs["capabilities"] == {"drops": ["ALL"]}
    assert {label["label"]: label["value"] for label in inputs["labels"]} == platform_labels(
        config.project, config.stack, config.profile
    )


def test_service_contract_with_files_delivery() -> None:
    built_prod = built("prod")
    env = built_prod.probe_env()
    assert (env("REDIS_HOST"), env("REDIS_PORT"), env("REDIS_TLS")) == ("redis.payment-network", "6379", "true")
    assert env("REDIS_CA_FILE") == "/app/certs/ca/ca-cert.pem"
    assert env("REDIS_PASSWORD_FILE") == "/run/secrets/redis-password"
    assert env("REDIS_PASSWORD") is None
    probe = built_prod.render.get(CONTAINER, "probe")
    assert probe.inputs["uploads"] == [
        {
            "file": "/run/secrets/redis-password",
            "content": SECRET,
            "owner": "10001",
            "group": "10001",
            "permissions": "0400",
        }
    ]
    redis_password = next(u["content"] for u in built_prod.revealed_uploads() if u["file"].endswith("redis-password"))
    assert probe.revealed_inputs["uploads"][0]["content"] == redis_password


def test_service_contract_with_env_delivery() -> None:
    built_dev = built("dev")
    env = built_dev.probe_env()
    assert (env("REDIS_HOST"), env("REDIS_PORT"), env("REDIS_TLS")) == ("redis.payment-network", "6379", "true")
    assert env("REDIS_PASSWORD_FILE") is None
    assert str(env("REDIS_PASSWORD")).startswith(SECRET_MARKER)
    probe = built_dev.render.get(CONTAINER, "probe")
    assert SECRET in probe.inputs["envs"] and probe.inputs["uploads"] == []


# --- a real redis-server running the generated configuration ------------------------------------------

WAIT_SECONDS = 20
TRICKY_PASSWORD = 'Tricky "pass" \\ word $HOME `id` #not-a-comment 0123456789'
"""Generated passwords are letters and digits; one set in config may hold anything the parser must survive."""


@functools.cache
def faithful_tls(stack: str) -> tuple[str, str, str]:
    """Redis's certificate and key and the trust bundle, issued for real by the faithful pulumi-tls model."""
    config = stack_config("prod")
    render = platform(config.model_copy(update={"stack": stack}), RecordingMonitor(Faithful()))
    cert = render.get(LOCALLY_SIGNED_CERT, "payment-pki-redis-cert").revealed_outputs["certPem"]
    key = render.get(PRIVATE_KEY, "payment-pki-redis-key").revealed_outputs["privateKeyPem"]
    return str(cert), str(key), str(render.outputs["trustBundle"])


@dataclass(frozen=True)
class Server:
    port: int
    paths: RedisPaths
    password: str
    folder: Path

    def cli(self, *args: str, password: str | None = None, tls: bool = True, ca: str | None = None) -> str:
        """`redis-cli` against the server (TLS, verifying it against `ca` or the bundle); stdout + stderr."""
        env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        if password is not None:
            env["REDISCLI_AUTH"] = password
        command = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if tls:
            command += ["--tls", "--cacert", ca or self.paths.ca]
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=10, env=env, check=False)
        return (result.stdout + result.stderr).strip()

    def health(self, paths: RedisPaths | None = None) -> subprocess.CompletedProcess[str]:
        """The container's healthcheck text, run by a shell exactly as Docker's CMD-SHELL runs it."""
        kind, script = healthcheck(paths or self.paths, port=self.port)
        assert kind == "CMD-SHELL"
        return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=10, check=False)


def tls_handshake_problem(port: int, ca: str) -> str | None:
    """None once a TLS client that verifies the server against `ca` completes a handshake on `port`."""
    context = ssl.create_default_context(cafile=ca)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return None
    except OSError as error:  # ssl.SSLError is an OSError
        return str(error)


def _write(path: str, text: str, mode: int) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    Path(path).chmod(mode)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Debian's redis-server package depends on redis-tools, which has redis-cli.
    require_tool("redis-server", "redis-server")
    require_tool("redis-cli", "redis-server")
    folder = tmp_path_factory.mktemp("redis")
    paths = RedisPaths(
        config=str(folder / "etc/redis.conf"),
        auth=str(folder / "etc/auth.conf"),
        cert=str(folder / "etc/tls/redis.crt"),
        key=str(folder / "etc/tls/redis.key"),
        ca=str(folder / "etc/tls/ca.crt"),
        password=str(folder / "secrets/redis-password"),
        data=str(folder / "data"),
    )
    cert, key, bundle = faithful_tls("prod")
    port = free_port()
    (folder / "data").mkdir()
    _write(paths.config, redis_conf(TUNING, paths, port=port), 0o444)
    _write(paths.auth, auth_conf(TRICKY_PASSWORD), 0o400)
    _write(paths.password, TRICKY_PASSWORD, 0o400)
    _write(paths.cert, cert, 0o444)
    _write(paths.key, key, 0o400)
    _write(paths.ca, bundle, 0o444)
    log = folder / "redis.log"
    # The generated `bind * -::*` is parsed from the file; the command-line `--bind` (applied after the file)
    # keeps this test server on loopback.
    with log.open("w") as output:
        process = subprocess.Popen(
            ["redis-server", paths.config, "--bind", "127.0.0.1"], stdout=output, stderr=subprocess.STDOUT
        )
    instance = Server(port=port, paths=paths, password=TRICKY_PASSWORD, folder=folder)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while (problem := tls_handshake_problem(port, paths.ca)) is not None:
            if process.poll() is not None:
                pytest.fail(f"redis-server exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"redis-server accepted no TLS connection within {WAIT_SECONDS}s ({problem}):\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield instance
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.mark.tool("redis-server")
def test_real_server_refuses_unauthenticated_commands(server: Server) -> None:
    assert "NOAUTH" in server.cli("ping")
    assert "NOAUTH" in server.cli("set", "payment:key", "value")


@pytest.mark.tool("redis-server")
def test_real_server_accepts_the_password_and_applies_the_config(server: Server) -> None:
    password = server.password
    assert server.cli("ping", password=password) == "PONG"
    assert server.cli("set", "payment:idempotency:1", "done", password=password) == "OK"
    assert server.cli("get", "payment:idempotency:1", password=password) == "done"
    settings = {
        name: server.cli("config", "get", name, password=password).splitlines()[-1]
        for name in (
            "maxmemory",
            "maxmemory-policy",
            "appendonly",
            "appendfsync",
            "port",
            "tls-auth-clients",
            "tls-protocols",
            "protected-mode",
        )
    }
    assert settings == {
        "maxmemory": str(int(TUNING.maxmemory)),
        "maxmemory-policy": "volatile-lru",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "port": "0",
        "tls-auth-clients": "no",
        "tls-protocols": "TLSv1.2 TLSv1.3",
        "protected-mode": "yes",
    }
    # The write is in the append-only file (Redis 7+ layout: appendonlydir/*.incr.aof) as soon as it is acknowledged.
    increments = list((server.folder / "data" / "appendonlydir").glob("*.incr.aof"))
    assert increments and b"payment:idempotency:1" in increments[0].read_bytes()


@pytest.mark.tool("redis-server")
def test_real_server_refuses_a_wrong_password(server: Server) -> None:
    answer = server.cli("ping", password="not-the-password-" + "0" * 20)
    assert "WRONGPASS" in answer or "invalid password" in answer
    assert "PONG" not in answer


@pytest.mark.tool("redis-server")
def test_generated_healthcheck_passes_and_fails_on_a_wrong_password(server: Server) -> None:
    result = server.health()
    assert result.returncode == 0, result.stdout + result.stderr
    wrong = server.folder / "secrets/wrong-password"
    _write(str(wrong), "not-the-password-" + "0" * 20, 0o400)
    assert server.health(replace(server.paths, password=str(wrong))).returncode != 0


@pytest.mark.tool("redis-server")
def test_real_server_speaks_only_tls(server: Server) -> None:
    answer = server.cli("ping", password=server.password, tls=False)
    assert "PONG" not in answer and "error" in answer.lower()


@pytest.mark.tool("redis-server")
def test_clients_verify_the_server_certificate(server: Server, tmp_path: Path) -> None:
    # The server presents Redis's certificate, valid for the name services use.
    context = ssl.create_default_context(cafile=server.paths.ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="redis.payment-network") as tls,
    ):
        tls.sendall(b"PING\r\n")
        assert tls.recv(256).startswith(b"-NOAUTH")
    # A client trusting another stack's CA refuses the server, password or not.
    other = tmp_path / "other-ca.crt"
    other.write_text(faithful_tls("staging")[2], encoding="ascii")
    answer = server.cli("ping", password=server.password, ca=str(other))
    assert "PONG" not in answer and "certificate verify failed" in answer
