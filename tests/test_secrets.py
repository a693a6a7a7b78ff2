"""Named secrets: generated or set, rotated by keepers, delivered as files or env, never leaked."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

import pulumi
import pulumi_docker as docker
import pytest

from components.docker.labels import SERVICE_LABEL
from components.observability.exporters import REDIS_PASSWORD_MAP as REDIS_EXPORTER_PASSWORD_MAP
from components.platform import Platform, PlatformArgs
from components.secrets import SECRETS_DIR
from plan import Render
from plan.engine import run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import (
    GATEWAY_OPERATOR_KEY,
    KONG,
    REDIS,
    REDIS_EXPORTER,
    REDIS_EXPORTER_PASSWORD,
    REDIS_PASSWORD,
    SERVICES,
    SERVICES_CONSUMER,
    platform_secrets,
)
from tests.conftest import changed, rendered, run_cli, stack_config, uploads
from vocabulary import CONTAINER, RANDOM_PASSWORD, SECRET

GENERATED = [
    "postgres-superuser-password",
    *(f"db-password-{s.name}" for s in SERVICES),
    *(f"redis-password-{s.name}" for s in SERVICES),
    "redis-password",
    "redis-exporter-password",
    "jwt-secret",
    "grafana-admin-password",
    "postgres-exporter-password",
    "gateway-operator-key",
]
CANARIES = {
    "stripe-api-key": "sk_live_CANARY0stripe0api0key0000000000",
    "stripe-webhook-secret": "whsec_CANARY0stripe0webhook00000000000",
    "smtp-password": "CANARY-smtp-password-0000000000000000",
    "jwt-secret": "CANARY-jwt-secret-" + "0" * 46,
    "grafana-admin-password": "CANARY-grafana-admin-password-00000000",
}
SMTP = ["smtp.host=smtp.example.com", "smtp.username=noreply@example.com", "smtp.from=noreply@example.com"]


def test_every_named_secret_is_generated_with_a_safe_alphabet(dev: Render, prod: Render) -> None:
    for render in (dev, prod):
        passwords = {r.name.removeprefix("payment-secrets-"): r for r in render.by_type(RANDOM_PASSWORD)}
        # The JWT secret is one resource per generation (components/jwt.py), keyed by it.
        jwt = passwords.pop("payment-jwt-secret-0")
        assert sorted([*passwords, "jwt-secret"]) == sorted(GENERATED)
        for name, password in passwords.items():
            assert password.inputs["length"] >= 32
            assert password.inputs["special"] is False  # letters and digits: safe in DSNs and URLs
            assert password.inputs["keepers"] == {"rotation": "0", "rotationAll": "0"}
            assert name in password.name
        assert jwt.inputs["length"] == 64 and jwt.inputs["special"] is False
        assert jwt.inputs["keepers"] == {"generation": "0"}
        assert not render.by_type("random:index/randomString:RandomString")


def test_grafana_password_is_a_secret_output(prod: Render) -> None:
    assert prod.outputs["grafanaAdminPassword"] == SECRET


def restarted(*containers: str) -> set[str]:
    """Resource names of containers (and their file loaders) that a change replaces."""
    return {name for c in containers for name in (c, f"{c}-loader")}


SERVICE_CONTAINERS = [f"payment-services-payment-{s.name}" for s in SERVICES]


def test_rotating_one_secret_changes_that_secret_and_its_consumers_only() -> None:
    diff = changed(rendered("dev"), rendered("dev", "rotation.jwt-secret=1"))
    assert diff == {
        # one resource per JWT generation: without an overlap, generation 1 replaces generation 0
        "added": {"payment-jwt-secret-1"},
        "removed": {"payment-jwt-secret-0"},
        # dev delivers secrets as environment variables: the containers change, their file loaders do not
        "changed": {*SERVICE_CONTAINERS},
    }


def test_rotating_a_database_password_restarts_the_database_bootstrap() -> None:
    diff = changed(rendered("dev"), rendered("dev", "rotation.db-password-order-service=1"))
    assert diff["changed"] == {
        "payment-secrets-db-password-order-service",
        "payment-services-payment-order-service",  # dev: an environment variable
        *restarted("payment-postgres-container"),  # PostgreSQL always reads password files
    }


def test_rotating_the_default_redis_password_restarts_redis_only() -> None:
    # The default user's password is Redis's own (its healthcheck's): no client holds it.
    diff = changed(rendered("dev"), rendered("dev", "rotation.redis-password=1"))
    assert diff["changed"] == {"payment-secrets-redis-password"} | restarted("payment-redis-container")


def test_rotating_a_service_redis_password_restarts_redis_and_that_service_only() -> None:
    diff = changed(rendered("dev"), rendered("dev", "rotation.redis-password-order-service=1"))
    assert diff["changed"] == {
        "payment-secrets-redis-password-order-service",
        "payment-services-payment-order-service",  # dev: an environment variable
        *restarted("payment-redis-container"),  # a new hash in its ACL file
    }


def test_rotating_the_redis_monitoring_password_restarts_redis_and_its_exporter_only() -> None:
    diff = changed(rendered("dev"), rendered("dev", "rotation.redis-exporter-password=1"))
    assert diff["changed"] == {"payment-secrets-redis-exporter-password"} | restarted(
        "payment-redis-container", "payment-exporters-redis-exporter-container"
    )


def test_rotating_the_operator_key_restarts_kong_alone() -> None:
    diff = changed(rendered("dev"), rendered("dev", "rotation.gateway-operator-key=1"))
    # The key is in Kong's declarative file, so the file's loader runs again and Kong is replaced.
    assert diff["changed"] == {"payment-secrets-gateway-operator-key"} | restarted("payment-kong-container")


def test_rotation_all_regenerates_every_generated_secret_and_nothing_else() -> None:
    diff = changed(rendered("prod"), rendered("prod", "rotation.all=1"))
    # The database bootstrap consumes the superuser and every service's password; Redis its own.
    replicas = [f"payment-services-payment-payment-gateway-{n}" for n in (1, 2, 3)]
    services = [c for c in SERVICE_CONTAINERS if not c.endswith("-payment-gateway")] + replicas
    consumers = restarted(
        "payment-postgres-container",
        "payment-redis-container",
        "payment-grafana-container",
        "payment-exporters-postgres-exporter-container",
        "payment-exporters-redis-exporter-container",
        "payment-kong-container",  # the operator key, in its declarative file
        *services,
    )
    assert diff["changed"] == {f"payment-secrets-{name}" for name in GENERATED if name != "jwt-secret"} | consumers
    assert (diff["added"], diff["removed"]) == ({"payment-jwt-secret-1"}, {"payment-jwt-secret-0"})


def test_canaries_never_reach_the_render() -> None:
    for stack in ("dev", "prod"):
        args = ["render", "--stack", stack, "--format", "json"]
        for name, value in CANARIES.items():
            args += ["--set-secret", f"secrets.{name}={value}"]
        for setting in SMTP:
            args += ["--set", setting]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert "CANARY" not in result.stdout + result.stderr
        assert SECRET_MARKER not in result.stdout
        document = json.loads(result.stdout)
        names = {r["name"] for r in document["resources"]}
        assert "payment-secrets-jwt-secret" not in names  # set in config: nothing generated
        assert "payment-secrets-redis-password" in names
        assert document["outputs"]["grafanaAdminPassword"] == SECRET


def test_a_bad_secret_is_reported_without_its_value() -> None:
    result = run_cli("render", "--set-secret", "secrets.jwt-secret=CANARY-too-short")
    assert result.returncode == 2
    assert "CANARY" not in result.stderr
    assert "secrets.jwt-secret = [secret]" in result.stderr


# --- what a service container is given --------------------------------------------------------------

PROBED = ("channel-adapter", "notification-service", "order-service")


def probe(stack: str, **values: object) -> Render:
    """The platform of `stack` (its stack file plus `values`) and one container per probed service carrying
    its bundle (`Platform.bundles`); built once per distinct configuration (renders are immutable)."""
    return _probe(stack, json.dumps(values, sort_keys=True))


@functools.cache
def _probe(stack: str, values: str) -> Render:
    config = stack_config(stack, **json.loads(values))

    def program() -> None:
        platform = Platform("payment", PlatformArgs(config=config))
        for name in PROBED:
            files = platform.bundles[name]
            docker.Container(
                f"probe-{name}",
                image="probe:1",
                envs=files.envs(),
                uploads=list(files.uploads),
                opts=pulumi.ResourceOptions(parent=platform),
            )

    return run_program(program, config.project, config.stack)


ALL_EXTERNAL = {
    "secrets": {k: v for k, v in CANARIES.items() if k.startswith(("stripe", "smtp"))},
    "smtp": {"host": "smtp.example.com", "username": "noreply@example.com", "from": "noreply@example.com"},
}


def container(render: Render, service: str) -> Callable[[str], object]:
    resource = render.get(CONTAINER, f"probe-{service}")
    env = dict(item.split("=", 1) for item in resource.revealed_inputs["envs"])
    return env.get


def test_files_delivery_uploads_0400_files_owned_by_the_app_user() -> None:
    render = probe("prod", **ALL_EXTERNAL)
    order = render.get(CONTAINER, "probe-order-service")
    uploads = {u["file"]: u for u in order.inputs["uploads"]}
    assert uploads["/app/certs/services/order-service/order-service.key"]["content"] == SECRET
    assert uploads["/app/certs/services/order-service/order-service.key"]["permissions"] == "0400"
    assert uploads["/run/secrets/jwt-secret"]["content"] == SECRET
    assert uploads["/run/secrets/jwt-secret"]["permissions"] == "0400"
    assert {u["owner"] for u in uploads.values()} == {"10001"}
    assert uploads["/app/certs/ca/ca-cert.pem"]["content"].startswith("-----BEGIN CERTIFICATE-----")
    env = container(render, "order-service")
    assert env("JWT_SECRET_FILE") == "/run/secrets/jwt-secret"
    assert env("JWT_SECRET") is None
    assert env("TLS_CERT_FILE") == env("TLS_CLIENT_CERT") == "/app/certs/services/order-service/order-service.crt"
    assert env("TLS_KEY_FILE") == env("TLS_CLIENT_KEY") == "/app/certs/services/order-service/order-service.key"
    assert (env("TLS_CA_FILE"), env("ENABLE_MTLS"), env("ENABLE_HTTPS")) == (
        "/app/certs/ca/ca-cert.pem",
        "true",
        "true",
    )


def test_env_delivery_puts_the_secret_in_the_variable_and_keeps_it_secret() -> None:
    render = probe("dev", **ALL_EXTERNAL)
    order = render.get(CONTAINER, "probe-order-service")
    assert SECRET in order.inputs["envs"]
    assert not any(u["file"].startswith("/run/secrets") for u in order.inputs["uploads"])
    assert str(container(render, "order-service")("JWT_SECRET")).startswith(SECRET_MARKER)


def test_integrations_reach_only_their_service() -> None:
    render = probe("prod", **ALL_EXTERNAL)
    channel, notification, order = (container(render, name) for name in PROBED)
    assert channel("STRIPE_API_KEY_FILE") == "/run/secrets/stripe-api-key"
    assert channel("STRIPE_WEBHOOK_SECRET_FILE") == "/run/secrets/stripe-webhook-secret"
    assert channel("SMTP_PASSWORD_FILE") is None
    assert notification("SMTP_PASSWORD_FILE") == "/run/secrets/smtp-password"
    assert (notification("SMTP_HOST"), notification("SMTP_PORT")) == ("smtp.example.com", "587")
    assert notification("SMTP_FROM") == "noreply@example.com"
    assert notification("STRIPE_API_KEY_FILE") is None
    assert order("STRIPE_API_KEY_FILE") is None and order("SMTP_HOST") is None


def test_without_external_secrets_nothing_external_is_injected() -> None:
    render = probe("prod")
    for name in PROBED:
        env = container(render, name)
        assert env("STRIPE_API_KEY_FILE") is None and env("SMTP_PASSWORD_FILE") is None


@pytest.mark.parametrize(
    ("rotation", "containers"),
    [
        ({"jwt-secret": 1}, {"probe-channel-adapter", "probe-notification-service", "probe-order-service"}),
        ({"tls-order-service": 1}, {"probe-order-service"}),
        ({"redis-password": 1}, set()),
        ({"redis-password-order-service": 1}, {"probe-order-service"}),
        ({"db-password-order-service": 1}, {"probe-order-service"}),
    ],
)
def test_a_rotation_changes_exactly_its_consumers(rotation: dict[str, int], containers: set[str]) -> None:
    diff = changed(probe("prod"), probe("prod", rotation=rotation))
    assert {name for name in diff["changed"] if name.startswith("probe-")} == containers


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_in_any_name_command_healthcheck_label_or_log_option(stack: str) -> None:
    """Checked on the plain values (secrets revealed), so a secret that lost its flag is caught too."""
    render = rendered(stack)
    for resource in render.resources:
        assert SECRET_MARKER not in resource.name
        if resource.type != CONTAINER:
            continue
        inputs = resource.revealed_inputs
        visible = [inputs.get(key) for key in ("name", "command", "entrypoints", "healthcheck", "labels", "logOpts")]
        assert SECRET_MARKER not in json.dumps(visible), resource.name
        assert SECRET not in json.dumps([resource.inputs.get(k) for k in ("command", "entrypoints", "healthcheck")])


def test_each_secret_file_reaches_exactly_the_consumers_the_catalog_names() -> None:
    """The catalog says who is given each secret (`CatalogSecret.consumers`); the rendered prod stack with every
    integration on (secrets as files) must give each file to those containers and to no other."""
    render = probe("prod", **ALL_EXTERNAL)
    names = [s.name for s in SERVICES]
    holders: dict[str, set[str]] = {}
    loaded = {r.name.removesuffix("-loader") for r in render.by_type(CONTAINER) if r.name.endswith("-loader")}
    for resource in render.by_type(CONTAINER):
        if resource.name not in loaded:  # no files at all (or a loader itself, or a probe)
            continue
        labels = {item["label"]: item["value"] for item in resource.inputs.get("labels") or []}
        consumer = labels.get(SERVICE_LABEL) or str(resource.inputs["name"]).removeprefix("payment-")
        for item in uploads(render, resource.name):
            folder, _, secret = str(item["file"]).rpartition("/")
            if folder == SECRETS_DIR:
                holders.setdefault(secret, set()).add(consumer)
    expected = {
        secret.name: {
            c for consumer in secret.consumers for c in (names if consumer == SERVICES_CONSUMER else [consumer])
        }
        for secret in platform_secrets(names)
    }
    # redis_exporter reads the password from its own address-to-password map, not from the secret's file.
    expected[REDIS_EXPORTER_PASSWORD.name].discard(REDIS_EXPORTER.name)
    assert holders.pop(REDIS_EXPORTER_PASSWORD_MAP.rpartition("/")[2]) == {REDIS_EXPORTER.name}
    # Kong's operator key travels inside its declarative file (0400): Kong OSS reads key-auth keys from nowhere else.
    assert expected.pop(GATEWAY_OPERATOR_KEY.name) == {KONG.name}
    # Redis holds its users' passwords as SHA-256 hashes in its ACL file, and as a file only the default user's (its
    # healthcheck's): the hashes there are exactly those of the secrets the catalog gives Redis.
    acl = next(u for u in uploads(render, "payment-redis-container", revealed=True) if u["file"].endswith(".acl"))
    generated = {
        r.name.removeprefix("payment-secrets-"): str(r.revealed_outputs["result"])
        for r in render.by_type(RANDOM_PASSWORD)
    }
    hashed = {
        name for name, value in generated.items() if f"#{hashlib.sha256(value.encode()).hexdigest()} " in acl["content"]
    }
    assert hashed == {name for name, members in expected.items() if REDIS.name in members}
    for name in hashed - {REDIS_PASSWORD.name}:
        expected[name].discard(REDIS.name)
    # So the monitoring password is nobody's file: a hash for Redis, an entry of its map for the exporter.
    assert expected.pop(REDIS_EXPORTER_PASSWORD.name) == set()
    assert holders == expected
    key = str(render.get(RANDOM_PASSWORD, f"payment-secrets-{GATEWAY_OPERATOR_KEY.name}").revealed_outputs["result"])
    given = set()
    for resource in render.by_type(CONTAINER):
        files = uploads(render, resource.name, revealed=True) if resource.name in loaded else []
        revealed = json.dumps([resource.revealed_inputs.get("envs"), files])
        if key in revealed:
            given.add(str(resource.inputs["name"]).removeprefix("payment-"))
    assert given == {KONG.name}
