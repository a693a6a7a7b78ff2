"""Redis for the platform: one TLS-only, append-only server with a fixed data volume and one ACL user per client.

Creates the pulled image, the `payment-redis-data` volume and the `payment-redis` container (alias
`redis`), and hands each service its connection contract (`client_env` and `service_environment`). Shaped
this way:

* Least privilege through ACL users (`acl_file`), loaded by Redis at start from its `aclfile`:
  - each service has a user named after it, with its own password (`redis-password-<service>`), allowed
    only keys and pub/sub channels under `<service>:` and only data commands (`SERVICE_RULES`): no admin
    or dangerous command, nothing that lists or counts other tenants' keys or channels, nothing that
    changes state shared by every tenant (functions, the script cache);
  - the exporter has a monitoring user (`redis-exporter-password`) with server statistics only, no key;
  - the `default` user stays, with its own password (`redis-password`), for one command: PING. It exists for
    the container's healthcheck, which Docker runs inside the container and which gates the start of every
    client (`wait`): an authenticated PONG proves the server loaded its data and its users, where the
    NOAUTH answer an anonymous probe gets comes as soon as the port is open. Nothing else receives it,
    and no user anywhere can run an admin command (users change with a redeploy, not `ACL SETUSER`).
* No password reaches a command line or a file in clear, except each client's own password file: the ACL
  file carries SHA-256 hashes (`#<hex>`, Redis's documented form), computed from the secret outputs and
  kept secret by Pulumi (0400, owned by the redis user). The healthcheck reads the raw `default` password
  file into `REDISCLI_AUTH` inside its shell, so the command text only names the file. The rendered config,
  command, healthcheck and labels are therefore safe to show. A rotation changes one hash: Redis and the one
  client concerned are replaced, nobody else.
* TLS only: `port 0` closes the plain-text listener; the server presents the certificate the platform
  CA issued to `redis` (valid for `redis.<network>`, localhost and 127.0.0.1). Clients do not need
  certificates (`tls-auth-clients no`): they authenticate with their user and password and verify the server.
* Append-only file, fsynced every second: a restart loses at most about one second of writes, which
  idempotency keys and locks can tolerate; the data lives on the named volume mounted at /data.
* `maxmemory` sits below the container's memory limit (the config checks at most 80%): Redis needs the
  headroom for client buffers and the copy-on-write of an AOF rewrite; without it the kernel's OOM
  killer, not the eviction policy, decides what happens at the limit.
* The data volume's logical name is fixed (`redis-data`), not derived from the component's name, so
  renaming the component never replaces (and so never empties) the volume; it is retained on delete
  everywhere and protected in prod (see `components.docker.containers.data_volume`).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.pki import CA_FILE, LeafCertificate, tls_uploads
from components.secrets import secret_path
from stacks.catalog import (
    REDIS,
    REDIS_DEFAULT_USER,
    REDIS_MONITORING_USER,
    REDIS_PASSWORD,
    redis_key_prefix,
)
from stacks.models import Infrastructure, RedisTuning

REDIS_UID = 999
"""The image's `redis` user; it must own the key, the ACL file and the password file."""
REDIS_GID = 1000
"""The `redis` group of the Alpine image (uid 999, gid 1000)."""

CONFIG_DIR = "/usr/local/etc/redis"


@dataclass(frozen=True)
class RedisPaths:
    """Where things live inside the container (tests point these at a temporary folder)."""

    config: str = f"{CONFIG_DIR}/redis.conf"
    """The main, public configuration file given to `redis-server`."""
    acl: str = f"{CONFIG_DIR}/users.acl"
    """The ACL file: every user, its rules and its password's hash (secret)."""
    cert: str = f"{CONFIG_DIR}/tls/redis.crt"
    key: str = f"{CONFIG_DIR}/tls/redis.key"
    ca: str = f"{CONFIG_DIR}/tls/ca.crt"
    """The platform's trust bundle: what the healthcheck verifies the server against."""
    password: str = secret_path(REDIS_PASSWORD.name)
    """The `default` user's raw password, read by the healthcheck only."""
    data: str = "/data"
    """Working directory for the append-only files; the data volume is mounted here."""


def _quoted(value: str) -> str:
    """`value` as one double-quoted argument of Redis's config parser (sdssplitargs)."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isascii() and not char.isprintable():
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def redis_conf(tuning: RedisTuning, paths: RedisPaths, port: int = REDIS.port) -> str:
    """The public `redis.conf`: TLS only, the ACL file, AOF persistence and memory bounds. No secrets."""
    return f"""# Generated by payment-platform (components/data/redis.py). Holds no secret: users are in the ACL file.

# TLS only: no plain-text listener at all; services connect with TLS and verify the server against the
# platform CA.
port 0
tls-port {port}
tls-cert-file {_quoted(paths.cert)}
tls-key-file {_quoted(paths.key)}
tls-ca-cert-file {_quoted(paths.ca)}
# Clients authenticate with their ACL user and password, not with certificates (they still verify the server's).
tls-auth-clients no
tls-protocols "TLSv1.2 TLSv1.3"

# Every interface of the container (it is reachable only on the platform network and a port the profile
# publishes); "-::*" binds IPv6 only where the container has it. protected-mode is set explicitly, at the
# start of a line: the official image compiles its default to "no", and older entrypoints append
# `--protected-mode no` unless the config file sets it.
bind * -::*
protected-mode yes

# Every user, the default one included, comes from this 0400 file (password hashes, no clear password), so this
# one can be shown, diffed and rendered. Redis refuses to start if a line of it is wrong.
aclfile {_quoted(paths.acl)}

# Append-only file, fsynced every second: a restart loses at most about a second of writes.
appendonly yes
appendfsync everysec
dir {_quoted(paths.data)}

# Below the container's memory limit: client buffers and the copy-on-write of an AOF rewrite need
# headroom, or the kernel's OOM killer acts before the eviction policy does.
maxmemory {int(tuning.maxmemory)}
maxmemory-policy {tuning.maxmemory_policy}
"""


DEFAULT_USER = REDIS_DEFAULT_USER
"""Redis's built-in user: what an anonymous connection, and `AUTH <password>` without a name, log in as."""
MONITORING_USER = REDIS_MONITORING_USER

HEALTHCHECK_RULES: tuple[str, ...] = ("-@all", "+ping")
"""The `default` user: PING, for the container's healthcheck (AUTH and HELLO need no permission)."""

MONITORING_RULES: tuple[str, ...] = (
    "-@all",
    # What redis_exporter 1.x sends on each scrape of a stand-alone server without key checks or scripts (INFO
    # commandstats after scrapes of 1.69, with no ACL LOG entry). Its README's ACL also grants every command
    # that reads keys, for `check-keys` and Lua scripts (not used here), and all of `client` and `memory`
    # (CLIENT KILL, MEMORY PURGE ...); PING is for people checking the user by hand.
    "+ping",
    "+info",
    "+config|get",
    "+slowlog|get",
    "+slowlog|len",
    "+latency|latest",
    "+latency|histogram",
    "+client|setname",
)
"""The monitoring user: server statistics only. No key and no channel (`resetkeys resetchannels`)."""

SERVICE_RULES: tuple[str, ...] = (
    "-@all",
    # The data types, key expiry and renames, transactions, scripts, pub/sub and the connection's own commands.
    "+@string",
    "+@hash",
    "+@list",
    "+@set",
    "+@sortedset",
    "+@stream",
    "+@bitmap",
    "+@hyperloglog",
    "+@geo",
    "+@keyspace",
    "+@transaction",
    "+@scripting",
    "+@pubsub",
    "+@connection",
    # Never an admin or dangerous command: FLUSHALL, FLUSHDB, KEYS, CONFIG, DEBUG, SHUTDOWN, MONITOR, CLIENT
    # LIST/KILL, INFO, SORT (its BY/GET patterns read any key), MIGRATE, RESTORE, SWAPDB, ACL ...
    "-@admin",
    "-@dangerous",
    # Key patterns do not filter these: they would show other tenants' key names, key counts or channels.
    "-scan",
    "-randomkey",
    "-dbsize",
    "-pubsub",
    # Server-wide state every tenant shares: one service could delete another's functions, flush the script
    # cache under it or kill its running script. EVAL/EVALSHA/FCALL stay (their keys are checked).
    "-function",
    "-script|flush",
    "-script|kill",
)
"""A service's commands; its keys and channels are `<service>:*` only (`redis_key_prefix`)."""


def password_hash(password: str) -> str:
    """Redis's stored form of a password: `#` and the SHA-256 of its bytes, in lower-case hex."""
    return "#" + hashlib.sha256(password.encode("utf-8")).hexdigest()


def acl_line(user: str, password: str, rules: tuple[str, ...], prefix: str | None = None) -> str:
    """One `user` line of the ACL file: reset, switched on, the password's hash, keys and channels under `prefix`
    (none without one), then `rules`. Redis's ACL file has no quoting and no comments: every part is one word."""
    keys = ("resetkeys", "resetchannels", *((f"~{prefix}*", f"&{prefix}*") if prefix is not None else ()))
    parts = ("user", user, "reset", "on", password_hash(password), *keys, *rules)
    for part in parts:
        if not part or any(char.isspace() for char in part):
            raise ValueError(f"ACL word {part!r} of user {user!r} is empty or has white space")
    return " ".join(parts)


def acl_file(default_password: str, monitoring_password: str, service_passwords: Mapping[str, str]) -> str:
    """The ACL file: the `default` user (PING only), the monitoring user, and one user per service (by name)."""
    lines = [
        acl_line(DEFAULT_USER, default_password, HEALTHCHECK_RULES),
        acl_line(MONITORING_USER, monitoring_password, MONITORING_RULES),
        *(
            acl_line(service, service_passwords[service], SERVICE_RULES, redis_key_prefix(service))
            for service in sorted(service_passwords)
        ),
    ]
    return "\n".join(lines) + "\n"


def service_environment(service: str) -> dict[str, str]:
    """Who a service is to Redis (no secret): its user and the prefix of every key and channel it may use."""
    return {"REDIS_USERNAME": service, "REDIS_KEY_PREFIX": redis_key_prefix(service)}


def healthcheck(paths: RedisPaths, port: int = REDIS.port) -> list[str]:
    """Docker healthcheck: an authenticated PING over TLS, verified against the CA, must answer PONG.

    The shell reads the password file into `REDISCLI_AUTH` (redis-cli's documented way to take a
    password without `-a`), so neither the test text nor any process's command line carries it.
    """
    auth = f'REDISCLI_AUTH="$(cat {shlex.quote(paths.password)})"'
    ping = f"redis-cli --tls --cacert {shlex.quote(paths.ca)} -h 127.0.0.1 -p {port} ping"
    return ["CMD-SHELL", f"{auth} {ping} | grep -qx PONG"]


@dataclass(frozen=True)
class RedisArgs:
    infra: Infrastructure
    """Redis's catalog entry, resolved: port, image, sizing, exposure."""
    tuning: RedisTuning
    """maxmemory and its eviction policy."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    password: pulumi.Output[str]
    """`redis-password` (secret): the `default` user's (PING only), the file its healthcheck reads."""
    monitoring_password: pulumi.Output[str]
    """`redis-exporter-password` (secret): the monitoring user's."""
    service_passwords: Mapping[str, pulumi.Output[str]]
    """Service name -> its `redis-password-<service>` (secret): the password of its user."""
    certificate: LeafCertificate
    """The server certificate the platform CA issued to `redis`."""
    trust_bundle: pulumi.Output[str]
    """Every trusted CA certificate; the healthcheck verifies the server against it."""


class Redis(pulumi.ComponentResource):
    """Redis for the platform: image, data volume and a TLS-only container with one ACL user per client."""

    container: docker.Container
    """The `payment-redis` container."""
    client_env: dict[str, str]
    """The connection contract every service gets (`REDIS_HOST`, `REDIS_PORT`, TLS and its CA file); no secret.
    Each service's own user and prefix: `service_environment`."""

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:data:Redis", name, None, opts)
        infra = args.infra
        paths = RedisPaths()
        # Hashes only, but derived from secrets: the file stays a secret Output (and 0400) all the same.
        users: pulumi.Output[str] = pulumi.Output.all(
            args.password, args.monitoring_password, pulumi.Output.all(**args.service_passwords)
        ).apply(lambda values: acl_file(values[0], values[1], values[2]))
        users = pulumi.Output.secret(users)
        files = ContainerFiles(
            uploads=(
                upload(paths.config, redis_conf(args.tuning, paths, infra.port), REDIS_UID, PUBLIC_READ),
                upload(paths.acl, users, REDIS_UID),
                upload(paths.password, args.password, REDIS_UID),
                *tls_uploads(
                    args.certificate, args.trust_bundle, REDIS_UID, cert=paths.cert, key=paths.key, ca=paths.ca
                ),
            )
        )
        self.container = infrastructure_container(
            name,
            infra,
            args.host,
            InfraSpec(
                healthcheck=healthcheck(paths, infra.port),
                user=f"{REDIS_UID}:{REDIS_GID}",
                files=files,
                data_path=paths.data,
                command=["redis-server", paths.config],
            ),
            parent=self,
        )
        # What a service needs to reach Redis: where it is and that it speaks TLS. The CA file comes with the
        # service's mTLS bundle (`Pki.service_files`) at the same path; its password from `Secrets.files`.
        self.client_env = {
            "REDIS_HOST": infra.dns_name,
            "REDIS_PORT": str(infra.port),
            "REDIS_TLS": "true",
            "REDIS_CA_FILE": CA_FILE,
        }
        self.register_outputs({"containerName": self.container.name})


IMAGE_CONTRACT = ImageContract(
    stands_for=str(REDIS.image),
    local=REDIS.name,
    # The official image starts as root (its entrypoint steps down); the container always runs as redis.
    user=None,
    run_as=f"{REDIS_UID}:{REDIS_GID}",
    # The command is `redis-server <config>`, run through the image's entrypoint.
    entrypoint=("docker-entrypoint.sh",),
    # The server, and the healthcheck's shell, cat, redis-cli and grep.
    executables=("redis-server", "redis-cli", "sh", "cat", "grep"),
    # The data volume starts as a copy of this folder: redis must own it to write the append-only files.
    paths=(PathContract(RedisPaths().data, owner=f"{REDIS_UID}:{REDIS_GID}", mode=0o755),),
    # `--tls` is an unknown option to a redis-cli built without TLS: the config is TLS-only.
    probe=("redis-cli", "--tls", "--version"),
    ports=(REDIS.port,),
)
"""What this module relies on from `redis:8.10.2-alpine` (checked against local builds by tests/images)."""
