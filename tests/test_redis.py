"""Redis: the generated configuration and ACL file, the component under the engine, and a real redis-server running
them.

What users rely on: services reach Redis only over TLS, each as its own user confined to its own key prefix and to
data commands; the exporter reads statistics and no key; the default user answers PING and nothing else; no password
is in a command line, healthcheck, label or public file (the ACL file holds hashes); the data survives on a retained
(in prod protected) volume; the container is sized and exposed as the profile says.
"""

from __future__ import annotations

import functools
import hashlib
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

from components.data.redis import (
    MONITORING_RULES,
    SERVICE_RULES,
    Redis,
    RedisArgs,
    RedisPaths,
    acl_file,
    acl_line,
    healthcheck,
    redis_conf,
    service_environment,
)
from components.docker.containers import docker_cpus
from components.docker.files import ContainerFiles
from components.docker.labels import platform_labels
from components.pki import Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from plan.engine import RecordingMonitor, Render, Resource, run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import APP_UID, REDIS_EXPORTER_PASSWORD, REDIS_PASSWORD, SERVICES, redis_password_secret
from stacks.errors import ConfigError
from stacks.models import PlatformConfig, RedisTuning
from stacks.units import ByteSize
from tests.conftest import attachments, docker_host, free_port, require_tool, stack_config
from tests.conftest import uploads as container_uploads
from tests.support.tlsmodel import Faithful
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, PRIVATE_KEY, RANDOM_PASSWORD, REMOTE_IMAGE, SECRET, VOLUME

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
        "aclfile": '"/usr/local/etc/redis/users.acl"',
        "appendonly": "yes",
        "appendfsync": "everysec",
        "dir": '"/data"',
        "maxmemory": str(192 * 1024 * 1024),
        "maxmemory-policy": "volatile-lru",
    }


def test_config_follows_paths_port_and_tuning() -> None:
    paths = RedisPaths(config="/t/r.conf", acl="/t/u.acl", cert="/t/c", key="/t/k", ca="/t/ca", data="/t/d")
    tuning = RedisTuning(maxmemory=ByteSize.parse("1536M"), maxmemory_policy="allkeys-lfu")
    found = directives(redis_conf(tuning, paths, port=16379))
    assert (found["tls-port"], found["port"]) == ("16379", "0")
    assert (found["aclfile"], found["dir"]) == ('"/t/u.acl"', '"/t/d"')
    assert (found["tls-cert-file"], found["tls-key-file"], found["tls-ca-cert-file"]) == ('"/t/c"', '"/t/k"', '"/t/ca"')
    assert (found["maxmemory"], found["maxmemory-policy"]) == ("1610612736", "allkeys-lfu")


def test_protected_mode_is_at_the_start_of_a_line() -> None:
    # The official image compiles protected-mode off; older entrypoints also append `--protected-mode no`
    # unless the config file has a line starting with `protected-mode`.
    assert "\nprotected-mode yes\n" in redis_conf(TUNING, RedisPaths())


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


DATA_COMMANDS = (
    "-@all +@string +@hash +@list +@set +@sortedset +@stream +@bitmap +@hyperloglog +@geo +@keyspace +@transaction "
    "+@scripting +@pubsub +@connection -@admin -@dangerous -scan -randomkey -dbsize -pubsub -function -script|flush "
    "-script|kill"
)


def test_acl_file_has_one_user_per_client_with_hashes_and_exact_rules() -> None:
    default, monitoring, order, risk = (f"CANARY-{who}-" + "0" * 30 for who in ("d", "m", "o", "r"))
    document = acl_file(default, monitoring, {"risk-service": risk, "order-service": order})
    assert document.splitlines() == [
        f"user default reset on #{sha256(default)} resetkeys resetchannels -@all +ping",
        f"user redis-exporter reset on #{sha256(monitoring)} resetkeys resetchannels -@all +ping +info +config|get "
        "+slowlog|get +slowlog|len +latency|latest +latency|histogram +client|setname",
        f"user order-service reset on #{sha256(order)} resetkeys resetchannels ~order-service:* &order-service:* "
        + DATA_COMMANDS,
        f"user risk-service reset on #{sha256(risk)} resetkeys resetchannels ~risk-service:* &risk-service:* "
        + DATA_COMMANDS,
    ]
    assert document.endswith("\n") and "CANARY" not in document
    assert "~*" not in document and "allkeys" not in document and "+@all" not in document


def test_acl_words_cannot_split_or_vanish() -> None:
    # Redis splits each line of its ACL file on spaces with no quoting: a space would make a second rule.
    with pytest.raises(ValueError, match="white space"):
        acl_line("order service", "x" * 40, SERVICE_RULES, "order service:")
    with pytest.raises(ValueError, match="empty"):
        acl_line("", "x" * 40, MONITORING_RULES)


def test_no_password_in_the_public_config_or_the_healthcheck() -> None:
    paths = RedisPaths()
    found = directives(redis_conf(TUNING, paths))
    assert "requirepass" not in found and "user" not in found  # every user is in the ACL file
    assert 'REDISCLI_AUTH="$(cat /run/secrets/redis-password)"' in healthcheck(paths)[1]


def test_a_service_named_like_redis_default_user_is_refused() -> None:
    # Its Redis user would be a second `user default` line: the config layer refuses the name first.
    with pytest.raises(ConfigError, match=r"services\.default: 'default' is reserved by the platform"):
        stack_config("dev", services={"default": {"port": 40031, "database": "payment_default"}})


def test_each_service_is_told_its_user_and_prefix() -> None:
    assert service_environment("order-service") == {
        "REDIS_USERNAME": "order-service",
        "REDIS_KEY_PREFIX": "order-service:",
    }


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

    def password(self, secret: str) -> str:
        value = self.render.get(RANDOM_PASSWORD, f"payment-secrets-{secret}").revealed_outputs["result"]
        assert isinstance(value, str)
        return value


PROBED = "order-service"
"""The service the probe container stands for."""


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
                monitoring_password=secrets.values[REDIS_EXPORTER_PASSWORD.name],
                service_passwords={s.name: secrets.values[redis_password_secret(s.name)] for s in config.services},
                certificate=pki.certificates["redis"],
                trust_bundle=pki.trust_bundle,
            ),
        )
        # What Platform gives a service of Redis: the connection contract, its user and its own password.
        files = ContainerFiles(env=redis.client_env | service_environment(PROBED)) + secrets.files(
            redis_password_secret(PROBED), APP_UID
        )
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
    assert inputs["networksAdvanced"] == attachments(stack, "redis")
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
        "/usr/local/etc/redis/users.acl": ("0400", "999"),
        "/run/secrets/redis-password": ("0400", "999"),
        "/usr/local/etc/redis/tls/redis.crt": ("0444", "999"),
        "/usr/local/etc/redis/tls/redis.key": ("0400", "999"),
        "/usr/local/etc/redis/tls/ca.crt": ("0444", "999"),
    }
    for secret in ("users.acl", "redis-password", "redis.key"):
        assert next(u for f, u in uploads.items() if f.endswith(secret))["content"] == SECRET
    config = uploads["/usr/local/etc/redis/redis.conf"]["content"]
    assert config == redis_conf(built(stack).config.data.redis, RedisPaths())
    assert uploads["/usr/local/etc/redis/tls/ca.crt"]["content"].startswith("-----BEGIN CERTIFICATE-----")


def test_acl_file_carries_the_hash_of_every_generated_password_and_no_password() -> None:
    built_prod = built("prod")
    revealed = {u["file"]: u["content"] for u in built_prod.revealed_uploads()}
    password = revealed["/run/secrets/redis-password"]
    assert password == built_prod.password(REDIS_PASSWORD.name) and password.startswith(SECRET_MARKER)
    services = {s.name: built_prod.password(redis_password_secret(s.name)) for s in SERVICES}
    monitoring = built_prod.password(REDIS_EXPORTER_PASSWORD.name)
    users = revealed["/usr/local/etc/redis/users.acl"]
    assert users == acl_file(password, monitoring, services)
    assert len(users.splitlines()) == 2 + len(SERVICES)
    for value in (password, monitoring, *services.values()):
        assert value not in users and f"#{sha256(value)} " in users


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
    assert (env("REDIS_USERNAME"), env("REDIS_KEY_PREFIX")) == ("order-service", "order-service:")
    assert env("REDIS_PASSWORD_FILE") == "/run/secrets/redis-password-order-service"
    assert env("REDIS_PASSWORD") is None
    probe = built_prod.render.get(CONTAINER, "probe")
    assert probe.inputs["uploads"] == [
        {
            "file": "/run/secrets/redis-password-order-service",
            "content": SECRET,
            "owner": "10001",
            "group": "10001",
            "permissions": "0400",
        }
    ]
    own = built_prod.password(redis_password_secret("order-service"))
    assert probe.revealed_inputs["uploads"][0]["content"] == own
    # Its own password, not the default user's, nor another service's.
    assert own != built_prod.password(REDIS_PASSWORD.name) != built_prod.password(redis_password_secret("risk-service"))


def test_service_contract_with_env_delivery() -> None:
    built_dev = built("dev")
    env = built_dev.probe_env()
    assert (env("REDIS_HOST"), env("REDIS_PORT"), env("REDIS_TLS")) == ("redis.payment-network", "6379", "true")
    assert (env("REDIS_USERNAME"), env("REDIS_KEY_PREFIX")) == ("order-service", "order-service:")
    assert env("REDIS_PASSWORD_FILE") is None
    assert env("REDIS_PASSWORD") == built_dev.password(redis_password_secret("order-service"))
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


ORDER, RISK = "order-service", "risk-service"
PASSWORDS = {
    "default": TRICKY_PASSWORD,
    "redis-exporter": "monitoring-" + "0" * 29,
    ORDER: "order-" + "1" * 34,
    RISK: "risk-" + "2" * 35,
}
"""The test server's users and their passwords (the ACL file holds their hashes)."""


@dataclass(frozen=True)
class Server:
    port: int
    paths: RedisPaths
    password: str
    """The default user's."""
    folder: Path

    def cli(
        self,
        *args: str,
        password: str | None = None,
        user: str | None = None,
        tls: bool = True,
        ca: str | None = None,
    ) -> str:
        """`redis-cli` against the server (TLS, verifying it against `ca` or the bundle) as `user` (None: the default
        user, with `password` if given); stdout + stderr. The password goes through `REDISCLI_AUTH`."""
        env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        if user is not None:
            password = PASSWORDS[user] if password is None else password
        if password is not None:
            env["REDISCLI_AUTH"] = password
        command = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning"]
        if user is not None:
            command += ["--user", user]
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
        acl=str(folder / "etc/users.acl"),
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
    services = {name: PASSWORDS[name] for name in (ORDER, RISK)}
    _write(paths.acl, acl_file(PASSWORDS["default"], PASSWORDS["redis-exporter"], services), 0o400)
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
    assert "NOAUTH" in server.cli("set", f"{ORDER}:key", "value")


@pytest.mark.tool("redis-server")
def test_real_server_default_user_may_only_ping(server: Server) -> None:
    assert server.cli("ping", password=server.password) == "PONG"
    for command in (("get", f"{ORDER}:k"), ("set", "k", "v"), ("info",), ("config", "get", "maxmemory"), ("flushall",)):
        answer = server.cli(*command, password=server.password)
        assert answer.startswith("NOPERM"), f"default user, {command}: {answer}"


@pytest.mark.tool("redis-server")
def test_real_server_service_user_works_under_its_own_prefix(server: Server) -> None:
    own = f"{ORDER}:idempotency:1"
    assert server.cli("set", own, "done", user=ORDER) == "OK"
    assert server.cli("get", own, user=ORDER) == "done"
    assert server.cli("acl", "whoami", user=ORDER).startswith("NOPERM")  # not even its own ACL entry
    assert server.cli("hset", f"{ORDER}:h", "f", "v", user=ORDER) == "1"
    assert server.cli("expire", own, "60", user=ORDER) == "1"
    assert server.cli("publish", f"{ORDER}:events", "x", user=ORDER) == "0"
    # A script may touch the keys it declares under the prefix.
    assert server.cli("eval", "return redis.call('get', KEYS[1])", "1", own, user=ORDER) == "done"
    # The write is in the append-only file (Redis 7+ layout: appendonlydir/*.incr.aof) as soon as it is acknowledged.
    increments = list((server.folder / "data" / "appendonlydir").glob("*.incr.aof"))
    assert increments and own.encode() in increments[0].read_bytes()


REFUSED: tuple[tuple[str, ...], ...] = (
    # Another tenant's keys and channels, and keys outside any prefix.
    ("get", f"{RISK}:k"),
    ("set", f"{RISK}:k", "v"),
    ("set", "k", "v"),
    ("del", f"{RISK}:k"),
    ("rename", f"{ORDER}:a", f"{RISK}:a"),
    ("publish", f"{RISK}:events", "x"),
    ("subscribe", f"{RISK}:events"),
    ("eval", "return redis.call('get', 'risk-service:k')", "0"),
    # Admin and dangerous commands.
    ("config", "set", "maxmemory", "1"),
    ("config", "get", "maxmemory"),
    ("flushall",),
    ("flushdb",),
    ("keys", "*"),
    ("info",),
    ("client", "list"),
    ("client", "kill", "id", "1"),
    ("acl", "list"),
    ("shutdown",),
    ("monitor",),
    ("sort", f"{ORDER}:l", "by", "nosort"),
    ("swapdb", "0", "1"),
    # What key patterns do not filter: other tenants' key names, counts and channels.
    ("scan", "0"),
    ("randomkey",),
    ("dbsize",),
    ("pubsub", "channels"),
    # Server-wide state shared by every tenant.
    ("function", "flush"),
    ("script", "flush"),
)


def refused_by_acl(answer: str) -> bool:
    """Redis's answer to a command the user's ACL forbids: NOPERM, or inside a script the error that wraps it (the
    wording differs between Redis 7.0 and 8)."""
    return answer.startswith("NOPERM") or (
        answer.startswith("ERR") and ("ACL failure" in answer or "can't access at least one of the keys" in answer)
    )


@pytest.mark.tool("redis-server")
def test_real_server_service_user_is_refused_outside_its_prefix_and_on_admin_commands(server: Server) -> None:
    answers = {command: server.cli(*command, user=ORDER) for command in REFUSED}
    allowed = {command: answer for command, answer in answers.items() if not refused_by_acl(answer)}
    assert allowed == {}
    assert server.cli("get", f"{ORDER}:k", user=RISK).startswith("NOPERM")  # and the other way round


@pytest.mark.tool("redis-server")
def test_real_server_monitoring_user_reads_statistics_and_no_key(server: Server) -> None:
    user = "redis-exporter"
    assert "redis_version:" in server.cli("info", "all", user=user)
    assert server.cli("config", "get", "maxmemory", user=user).splitlines() == ["maxmemory", str(int(TUNING.maxmemory))]
    statistics: tuple[tuple[str, ...], ...] = (
        ("slowlog", "get", "128"),
        ("slowlog", "len"),
        ("latency", "latest"),
        ("latency", "histogram"),
    )
    for command in statistics:
        assert "NOPERM" not in server.cli(*command, user=user), command
    assert server.cli("client", "setname", "redis_exporter", user=user) == "OK"
    for command in (
        ("get", f"{ORDER}:k"),
        ("set", f"{ORDER}:k", "v"),
        ("config", "set", "maxmemory", "1"),
        ("scan", "0"),
        ("client", "list"),
    ):
        assert server.cli(*command, user=user).startswith("NOPERM"), command


@pytest.mark.tool("redis-server")
def test_real_server_applies_the_config(server: Server) -> None:
    settings = {
        name: server.cli("config", "get", name, user="redis-exporter").splitlines()[-1]
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


@pytest.mark.tool("redis-server")
def test_real_server_refuses_a_wrong_password(server: Server) -> None:
    for user in (None, ORDER, "redis-exporter"):
        answer = server.cli("ping", password="not-the-password-" + "0" * 20, user=user)
        assert "WRONGPASS" in answer or "invalid password" in answer, (user, answer)
        assert "PONG" not in answer
    # One service's password is not another's.
    assert "WRONGPASS" in server.cli("ping", password=PASSWORDS[ORDER], user=RISK)


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
