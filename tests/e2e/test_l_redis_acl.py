"""l. Redis ACL users for real: a service's user works under its own key prefix and is refused (NOPERM) on another
service's prefix and channel, outside any prefix and on admin commands; an anonymous connection is refused; the
default user may only PING; the exporter's user reads INFO and no key.

Every command runs in `payment-redis` through `redis-cli --tls` against 127.0.0.1, its credentials fed on stdin
(`AUTH <user> <password>`): no password is on a command line or in an environment variable of any process, and
none is printed (failure messages show Redis's replies, which never echo a password). Each service's password is
the one its container was given (its variable in dev, its file with `secretDelivery: files`), so the check is
also that what services receive is what Redis accepts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from components.data.redis import DEFAULT_USER, MONITORING_USER, RedisPaths
from stacks.catalog import REDIS, REDIS_EXPORTER_PASSWORD, redis_key_prefix
from tests.e2e.live import Live, docker, docker_exec, inspect

CONTAINER = "payment-redis"
SERVICE, OTHER = "order-service", "risk-service"
"""Two catalog services: the one whose user is checked, and the one whose keys it must not reach."""
TIMEOUT = 30


def redis(*lines: str, container: str = CONTAINER) -> list[str]:
    """`lines` sent to redis-cli in the Redis container over TLS (verified against the platform CA); its replies, one
    per line. Through stdin, so an `AUTH` line never reaches a command line. redis-cli exits 1 when the last reply
    is an error, so its exit code says nothing here; a reply per line does."""
    cli = ["redis-cli", "--no-auth-warning", "--tls", "--cacert", RedisPaths().ca, "-h", "127.0.0.1"]
    out = docker(
        "exec", "-i", container, *cli, "-p", str(REDIS.port),
        stdin="".join(f"{line}\n" for line in lines), check=False, timeout=TIMEOUT,
    )  # fmt: skip
    replies = [line for line in out.splitlines() if line.strip()]
    assert replies, "redis-cli answered nothing (is payment-redis running?)"
    return replies


def as_user(user: str, password: str, *commands: str, container: str = CONTAINER) -> list[str]:
    """The replies to `commands` after logging in as `user`; the login itself must succeed."""
    replies = redis(f"AUTH {user} {password}", *commands, container=container)
    assert replies[:1] == ["OK"], f"{user} could not log in: {replies[:1]}"
    return replies[1:]


def given_password(service: str) -> str:
    """The Redis password the service's container was given: `REDIS_PASSWORD`, or the file `REDIS_PASSWORD_FILE`
    names (read inside the container as its own user)."""
    (details,) = inspect([f"payment-{service}"])
    env = dict(str(item).split("=", 1) for item in details["Config"]["Env"])
    assert env.get("REDIS_USERNAME") == service, "the service is not told its Redis user"
    assert env.get("REDIS_KEY_PREFIX") == redis_key_prefix(service), "the service is not told its key prefix"
    if "REDIS_PASSWORD" in env:
        return env["REDIS_PASSWORD"]
    out = docker_exec(f"payment-{service}", "cat", env["REDIS_PASSWORD_FILE"])
    assert out.returncode == 0, f"cannot read the service's password file: {out.stderr.strip()}"
    return out.stdout.strip()


@pytest.fixture
def key(deployed: Live) -> Iterator[str]:
    """A fresh key under the service's prefix, deleted afterwards (as the service itself)."""
    name = f"{redis_key_prefix(SERVICE)}e2e:{uuid.uuid4().hex}"
    yield name
    as_user(SERVICE, given_password(SERVICE), f"DEL {name}")


def refused(reply: str) -> bool:
    return reply.startswith("NOPERM")


def test_a_service_user_reads_and_writes_under_its_own_prefix(deployed: Live, key: str) -> None:
    replies = as_user(SERVICE, given_password(SERVICE), f"SET {key} paid", f"GET {key}", "ACL WHOAMI")
    assert replies[:2] == ["OK", "paid"], replies
    assert refused(replies[2]), f"a service may not even read its own ACL entry: {replies[2]}"
    deployed.results["redisAclServiceUser"] = SERVICE


def test_a_service_user_is_refused_outside_its_prefix_and_on_admin_commands(deployed: Live) -> None:
    other = redis_key_prefix(OTHER)
    commands = (
        f"GET {other}e2e",
        f"SET {other}e2e stolen",
        f"PUBLISH {other}events forged",
        "SET e2e-unprefixed stolen",
        "FLUSHALL",
        "CONFIG SET maxmemory 1",
        "KEYS *",
        "SCAN 0",
    )
    replies = as_user(SERVICE, given_password(SERVICE), *commands)
    accepted = {command: reply for command, reply in zip(commands, replies, strict=True) if not refused(reply)}
    assert accepted == {}, f"{SERVICE} was not refused: {accepted}"
    deployed.results["redisAclRefusedCommands"] = len(commands)


def test_an_anonymous_connection_is_refused_and_the_default_user_may_only_ping(deployed: Live) -> None:
    anonymous = redis("PING", f"GET {redis_key_prefix(SERVICE)}e2e")
    assert len(anonymous) == 2 and all(reply.startswith("NOAUTH") for reply in anonymous), anonymous
    # The default user's password is Redis's own, for its healthcheck: read where the healthcheck reads it.
    out = docker_exec(CONTAINER, "cat", RedisPaths().password)
    assert out.returncode == 0, out.stderr.strip()
    replies = redis(f"AUTH {out.stdout.strip()}", "PING", f"GET {redis_key_prefix(SERVICE)}e2e", "INFO server")
    assert replies[:2] == ["OK", "PONG"], replies[:2]
    assert all(refused(reply) for reply in replies[2:]) and len(replies) == 4, replies[2:]
    assert redis(f"AUTH {DEFAULT_USER} not-the-password-0000000000000000")[0].startswith("WRONGPASS")


def test_the_exporter_user_reads_statistics_and_no_key(deployed: Live) -> None:
    password = deployed.generated_secrets()[REDIS_EXPORTER_PASSWORD.name]
    info = as_user(MONITORING_USER, password, "INFO server")
    assert any(line.startswith("redis_version:") for line in info), info[:3]
    replies = as_user(MONITORING_USER, password, f"GET {redis_key_prefix(SERVICE)}e2e", "CONFIG SET maxmemory 1")
    assert all(refused(reply) for reply in replies) and len(replies) == 2, replies
