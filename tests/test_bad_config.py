"""A corpus of bad configurations: each exits 2 with one line naming its key path, before any resource.

The corpus runs `python -m plan render`'s entry point (`plan.__main__.main`) in this process, as the CLI would
with the same arguments: exit status, what it prints, and nothing logged at warning level or above (which a
fresh interpreter would print to stderr). The cases after it run the CLI in a fresh interpreter, as a user does,
so a traceback or a stray line would show there.
"""

from __future__ import annotations

import logging

import pytest

import plan.__main__ as cli
from plan import RecordingMonitor, StackFileError, render
from stacks.catalog import LOADER_SUFFIX
from stacks.errors import ConfigError
from stacks.models import SERVICE_NAME
from tests.conftest import rendered, run_cli, stack_config
from vocabulary import CONTAINER, NETWORK, STACK_TYPE, VOLUME

NEW = "services.loyalty-service"
CORPUS: list[tuple[str, list[str], str, str]] = [
    # (case, arguments, key path in the message, what the message says)
    (
        "unknown top-level key",
        ["--set", "servics.payment-gateway.replicas=2"],
        "payment-platform:servics:",
        "did you mean 'services'",
    ),
    (
        "unknown service",
        ["--set", "services.payment-gatway.limits.memory=1G"],
        "services.payment-gatway:",
        "did you mean 'payment-gateway'",
    ),
    (
        "unknown nested key",
        ["--set", "services.payment-gateway.limit.memory=1G"],
        "services.payment-gateway.limit:",
        "did you mean 'limits'",
    ),
    (
        "malformed size",
        ["--set", "services.payment-gateway.limits.memory=12X"],
        'services.payment-gateway.limits.memory = "12X"',
        "expected a size",
    ),
    (
        "malformed cpu count",
        ["--set", "services.order-service.limits.cpus=lots"],
        'services.order-service.limits.cpus = "lots"',
        "expected a CPU count",
    ),
    (
        "reservation above limit",
        ["--set", "services.payment-gateway.reservations.memory=1G"],
        'services.payment-gateway.reservations.memory = "1G"',
        "above the limit 512M",
    ),
    (
        "cpu reservation above limit",
        ["--set", "services.risk-service.reservations.cpus=1.5"],
        'services.risk-service.reservations.cpus = "1.5"',
        "above the limit 1",
    ),
    (
        "memory below docker minimum",
        ["--set", "services.kyc-service.limits.memory=4M", "--set", "services.kyc-service.reservations.memory=2M"],
        'services.kyc-service.limits.memory = "4M"',
        "at least 6M",
    ),
    (
        "duplicate port",
        ["--set", f"{NEW}.port=40003", "--set", f"{NEW}.database=payment_loyalty"],
        f"{NEW}.port = 40003",
        "already used by payment-gateway",
    ),
    (
        "port of infrastructure",
        ["--set", f"{NEW}.port=40432", "--set", f"{NEW}.database=payment_loyalty"],
        f"{NEW}.port = 40432",
        "already used by postgres",
    ),
    (
        "privileged port",
        ["--set", f"{NEW}.port=80", "--set", f"{NEW}.database=payment_loyalty"],
        f"{NEW}.port = 80",
        "privileged port",
    ),
    (
        "port out of range",
        ["--set", f"{NEW}.port=70000", "--set", f"{NEW}.database=payment_loyalty"],
        f"{NEW}.port = 70000",
        "at most 65535",
    ),
    (
        "duplicate database",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=payment_order"],
        f'{NEW}.database = "payment_order"',
        "already used by order-service",
    ),
    (
        "invalid database name",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=Payment-Loyalty"],
        f'{NEW}.database = "Payment-Loyalty"',
        "PostgreSQL name",
    ),
    (
        "reserved database name",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=postgres"],
        f'{NEW}.database = "postgres"',
        "not postgres",
    ),
    (
        "database named like another's owner role",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=payment_order_owner"],
        f'{NEW}.database = "payment_order_owner"',
        "not ending in _owner",
    ),
    (
        "database too long for its owner role",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=payment_{'x' * 50}"],
        f'{NEW}.database = "payment_{"x" * 50}"',
        "at most 57 characters",
    ),
    ("new service without database", ["--set", f"{NEW}.port=40030"], f"{NEW}:", "must declare database"),
    (
        "invalid service name",
        ["--set", "services.Loyalty_Service.port=40030", "--set", "services.Loyalty_Service.database=payment_loyalty"],
        "services.Loyalty_Service:",
        "not a valid service name",
    ),
    (
        "service named like infrastructure",
        ["--set", "services.redis.port=40030", "--set", "services.redis.database=payment_redis"],
        "services.redis:",
        "reserved by the platform: an infrastructure, exporter",
    ),
    (
        "replica container name collision",
        [
            "--set",
            "services.payment-gateway.replicas=2",
            "--set",
            "services.payment-gateway.publish.enabled=false",
            "--set",
            "services.payment-gateway-2.port=40030",
            "--set",
            "services.payment-gateway-2.database=payment_gw2",
        ],
        "services.payment-gateway-2:",
        "collides with payment-gateway's",
    ),
    (
        "built-in port changed",
        ["--set", "services.payment-gateway.port=40100"],
        "services.payment-gateway.port = 40100",
        "keeps the seed's port (40003)",
    ),
    (
        "replicas below one",
        ["--set", "services.payment-gateway.replicas=0"],
        "services.payment-gateway.replicas = 0",
        "at least 1",
    ),
    (
        "replicas not a number",
        ["--set", "services.payment-gateway.replicas=three"],
        'services.payment-gateway.replicas = "three"',
        "whole number",
    ),
    (
        "service block not a map",
        ["--set", "services.payment-gateway=big"],
        'services.payment-gateway = "big"',
        "expected a map",
    ),
    ("public subnet", ["--set", "networkSubnet=8.8.8.0/24"], 'networkSubnet = "8.8.8.0/24"', "private"),
    ("malformed subnet", ["--set", "networkSubnet=172.28.0.0/33"], 'networkSubnet = "172.28.0.0/33"', "CIDR"),
    (
        "subnet with host bits",
        ["--set", "networkSubnet=172.28.0.1/16"],
        'networkSubnet = "172.28.0.1/16"',
        "no host bits",
    ),
    ("subnet too small", ["--set", "networkSubnet=10.1.2.0/28"], 'networkSubnet = "10.1.2.0/28"', "/24 or shorter"),
    (
        "subnet overlapping docker's bridge",
        ["--set", "networkSubnet=172.16.0.0/12"],
        'networkSubnet = "172.16.0.0/12"',
        "default bridge",
    ),
    ("unknown profile", ["--set", "profile=staging"], 'profile = "staging"', "expected 'dev' or 'prod'"),
    ("stack without profile", ["--stack", "staging"], "payment-platform:profile:", "pulumi config set profile prod"),
    (
        "publish address not an address",
        ["--set", "kong.publish.address=localhost"],
        'kong.publish.address = "localhost"',
        "IPv4 address",
    ),
    (
        "publish flag not a boolean",
        ["--set", "grafana.publish.enabled=maybe"],
        'grafana.publish.enabled = "maybe"',
        "true or false",
    ),
    (
        "prod admin ui on a public address",
        ["--stack", "prod", "--set", "grafana.publish.enabled=true", "--set", "grafana.publish.address=0.0.0.0"],
        'grafana.publish.address = "0.0.0.0"',
        "loopback",
    ),
    (
        "prod service on a public address",
        [
            "--stack",
            "prod",
            "--set",
            "services.order-service.publish.enabled=true",
            "--set",
            "services.order-service.publish.address=0.0.0.0",
        ],
        "services.order-service.publish.address",
        "loopback",
    ),
    (
        "unknown restart policy",
        ["--set", "restartPolicy=always"],
        'restartPolicy = "always"',
        "'on-failure' or 'unless-stopped'",
    ),
    ("too many restarts", ["--set", "restartMaxRetries=10"], 'restartMaxRetries = "10"', "at most 5"),
    (
        "retries with unless-stopped",
        ["--set", "restartPolicy=unless-stopped", "--set", "restartMaxRetries=3"],
        "restartMaxRetries = 3",
        "only applies to restartPolicy on-failure",
    ),
    ("no log files kept", ["--set", "logMaxFiles=0"], 'logMaxFiles = "0"', "at least 1"),
    ("huge log files", ["--set", "logMaxSize=5G"], 'logMaxSize = "5G"', "between 1M and 1G"),
    (
        "unknown secret",
        ["--set-secret", "secrets.jwt-secrt=" + "x" * 40],
        "secrets.jwt-secrt:",
        "did you mean 'jwt-secret'",
    ),
    ("secret in plain text", ["--set", "secrets.jwt-secret=" + "x" * 64], "payment-platform:secrets:", "--secret"),
    (
        "short secret",
        ["--set-secret", "secrets.jwt-secret=tooshort"],
        "secrets.jwt-secret = [secret]",
        "at least 32 characters",
    ),
    (
        "stripe key of the wrong kind",
        ["--set-secret", "secrets.stripe-api-key=pk_live_123", "--set-secret", "secrets.stripe-webhook-secret=whsec_1"],
        "secrets.stripe-api-key = [secret]",
        "starting sk_... or rk_...",
    ),
    (
        "stripe half configured",
        ["--set-secret", "secrets.stripe-api-key=sk_test_123"],
        "stripe.enabled:",
        "`pulumi config set --secret --path 'secrets.stripe-webhook-secret' <value>`",
    ),
    (
        "smtp without sender",
        [
            "--set-secret",
            "secrets.smtp-password=p",
            "--set",
            "smtp.host=mail.example.com",
            "--set",
            "smtp.username=noreply",
        ],
        "smtp.from:",
        "required when SMTP is on",
    ),
    ("unknown rotation key", ["--set", "rotation.jwt=1"], "rotation.jwt = 1", "did you mean 'jwt-secret'"),
    (
        "rotating an external secret",
        ["--set-secret", "secrets.smtp-password=p", "--set", "smtp.enabled=false", "--set", "rotation.smtp-password=1"],
        "rotation.smtp-password = 1",
        "set in config, not generated",
    ),
    (
        "rotating a secret set in config",
        ["--set-secret", "secrets.jwt-secret=" + "x" * 64, "--set", "rotation.jwt-secret=1"],
        "rotation.jwt-secret = 1",
        "set in config, not generated",
    ),
    ("negative rotation", ["--set", "rotation.all=-1"], "rotation.all = -1", "at least 0"),
    (
        "overlap before the first CA",
        ["--set", "pki.caOverlap=previous"],
        'pki.caOverlap = "previous"',
        "no CA before generation 0",
    ),
    (
        "renewal window too long",
        ["--set", "pki.earlyRenewalHours=720", "--set", "pki.leafValidityHours=720"],
        "pki.earlyRenewalHours = 720",
        "fewer hours than leafValidityHours",
    ),
    (
        "leaf outliving its CA",
        ["--set", "pki.leafValidityHours=9000"],
        "pki.leafValidityHours = 9000",
        "at most caValidityHours",
    ),
    ("country in lower case", ["--set", "pki.country=cn"], 'pki.country = "cn"', "two-letter ISO 3166"),
    ("unknown JWT algorithm", ["--set", "jwt.algorithm=RS256"], 'jwt.algorithm = "RS256"', "'HS256' or 'ES256'"),
    (
        "JWT overlap before the first key",
        ["--set", "jwt.overlap=previous"],
        'jwt.overlap = "previous"',
        "no key before generation 0",
    ),
    (
        "JWT key pairs with a shared secret set",
        ["--set-secret", "secrets.jwt-secret=" + "x" * 64, "--set", "jwt.algorithm=ES256"],
        'jwt.algorithm = "ES256"',
        "unset it with `pulumi config rm --path secrets.jwt-secret`",
    ),
    ("unknown secret delivery", ["--set", "secretDelivery=vault"], 'secretDelivery = "vault"', "'files' or 'env'"),
    (
        "replicas sharing a published port",
        ["--set", "services.payment-gateway.replicas=2"],
        "services.payment-gateway.publish.enabled = true",
        "cannot share one host port",
    ),
    (
        "service named like an exporter",
        ["--set", "services.cadvisor.port=40030", "--set", "services.cadvisor.database=payment_cadvisor"],
        "services.cadvisor:",
        "reserved by the platform: an infrastructure, exporter",
    ),
    (
        "service images not configured",
        ["--set", "demo=false"],
        "payment-platform:serviceImages:",
        "pulumi config set demo true",
    ),
    (
        "floating service tag",
        ["--stack", "prod", "--set", "serviceImages.tag=latest"],
        'serviceImages.tag = "latest"',
        "not latest",
    ),
    (
        "service image not pinned",
        ["--set", "services.order-service.image=nginx"],
        'services.order-service.image = "nginx"',
        "pinned to a version",
    ),
    (
        "infrastructure image on latest",
        ["--set", "images.redis=redis:latest"],
        'images.redis = "redis:latest"',
        "not latest",
    ),
    (
        "image of an unknown role",
        ["--set", "images.postgress=postgres:18.6-trixie"],
        'images.postgress = "postgres:18.6-trixie"',
        "did you mean 'postgres'",
    ),
    (
        "image key moved to images",
        ["--set", "redis.image=redis:8.10.2-alpine"],
        "redis.image",
        "unknown key",
    ),
    (
        "relative docker data root",
        ["--set", "dockerDataRoot=var/lib/docker"],
        'dockerDataRoot = "var/lib/docker"',
        "absolute path",
    ),
    (
        "negative docker socket group",
        ["--set", "dockerSocketGroup=-1"],
        'dockerSocketGroup = "-1"',
        "expected at least 0",
    ),
    (
        "docker socket group by name",
        ["--set", "dockerSocketGroup=docker"],
        "dockerSocketGroup",
        "must be of type 'integer'",
    ),
    (
        "built-in call graph changed",
        ["--set", "services.order-service.calls=[risk-service]"],
        "services.order-service.calls",
        "keeps the seed's calls",
    ),
    (
        "new service calling nothing known",
        [
            "--set",
            f"{NEW}.port=40030",
            "--set",
            f"{NEW}.database=payment_loyalty",
            "--set",
            f"{NEW}.calls=[ordr-service]",
        ],
        f"{NEW}.calls",
        "did you mean 'order-service'",
    ),
    # --- issue 15: values that once slipped through ---
    (
        "service name ending in a newline",
        ["--set", 'services["loyalty-service\\n"].port=40030', "--set", 'services["loyalty-service\\n"].database=p_l'],
        'services["loyalty-service\\n"]:',
        "not a valid service name",
    ),
    (
        "database name ending in a newline",
        ["--set", f"{NEW}.port=40030", "--set", f'{NEW}.database="payment_loyalty\\n"'],
        f'{NEW}.database = "payment_loyalty\\n"',
        "PostgreSQL name",
    ),
    (
        "database name PostgreSQL reserves for roles",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=pg_loyalty"],
        f'{NEW}.database = "pg_loyalty"',
        "pg_*",
    ),
    (
        "database name pg_hba.conf reads as a keyword",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=sameuser"],
        f'{NEW}.database = "sameuser"',
        "PostgreSQL name",
    ),
    ("loopback subnet", ["--set", "networkSubnet=127.0.0.0/16"], 'networkSubnet = "127.0.0.0/16"', "RFC 1918"),
    ("link-local subnet", ["--set", "networkSubnet=169.254.0.0/16"], 'networkSubnet = "169.254.0.0/16"', "RFC 1918"),
    ("this-network subnet", ["--set", "networkSubnet=0.0.0.0/16"], 'networkSubnet = "0.0.0.0/16"', "RFC 1918"),
    ("shared address space", ["--set", "networkSubnet=100.64.0.0/16"], 'networkSubnet = "100.64.0.0/16"', "RFC 1918"),
    (
        "smtp sender with a header injected",
        ["--set", 'smtp.from="noreply@example.com\\r\\nBcc: all@example.com"'],
        'smtp.from = "noreply@example.com\\r\\nBcc: all@example.com"',
        "plain e-mail address",
    ),
    ("smtp host with a space", ["--set", "smtp.host=mail example.com"], 'smtp.host = "mail example.com"', "host name"),
    (
        "smtp user with a newline",
        ["--set", 'smtp.username="noreply\\nRCPT TO:<x@example.com>"'],
        "smtp.username",
        "printable text",
    ),
    (
        "service named like PostgreSQL's loader",
        ["--set", "services.postgres-files.port=40030", "--set", "services.postgres-files.database=payment_pf"],
        "services.postgres-files:",
        "reserved by the platform: ending in -files",
    ),
    (
        "service named like a data volume",
        ["--set", "services.kafka-data.port=40030", "--set", "services.kafka-data.database=payment_kd"],
        "services.kafka-data:",
        "reserved by the platform",
    ),
    (
        "service named like the docker api proxy",
        ["--set", "services.docker-api-proxy.port=40030", "--set", "services.docker-api-proxy.database=payment_dp"],
        "services.docker-api-proxy:",
        "reserved by the platform",
    ),
    (
        "service named like the operator certificate",
        ["--set", "services.operator.port=40030", "--set", "services.operator.database=payment_op"],
        "services.operator:",
        "reserved by the platform",
    ),
    (
        "service named like a network",
        ["--set", "services.data-redis.port=40030", "--set", "services.data-redis.database=payment_dr"],
        "services.data-redis:",
        "platform's networks",
    ),
    (
        "topic name ending in a newline",
        ["--set", 'kafka.topics["loyalty.events\\n"].partitions=3'],
        'kafka.topics["loyalty.events\\n"]:',
        "topic name",
    ),
    (
        "image reference ending in a newline",
        ["--set", 'images.redis="redis:8.10.2-alpine\\n"'],
        'images.redis = "redis:8.10.2-alpine\\n"',
        "image reference",
    ),
    ("service tag ending in a newline", ["--set", 'serviceImages.tag="1.0\\n"'], 'serviceImages.tag = "1.0\\n"', "tag"),
    (
        "docker data root with a newline",
        ["--set", 'dockerDataRoot="/var/lib/docker\\n"'],
        'dockerDataRoot = "/var/lib/docker\\n"',
        "absolute path",
    ),
    (
        "docker data root with a bind separator",
        ["--set", "dockerDataRoot=/var/lib/docker:/etc"],
        'dockerDataRoot = "/var/lib/docker:/etc"',
        "absolute path",
    ),
    (
        "organization with a newline",
        ["--set", 'pki.organization="Payment\\nPlatform"'],
        'pki.organization = "Payment\\nPlatform"',
        "printable text",
    ),
    (
        "service title with a right-to-left override",
        ["--set", f"{NEW}.port=40030", "--set", f"{NEW}.database=payment_l", "--set", f'{NEW}.title="Loyalty\\u202e"'],
        f'{NEW}.title = "Loyalty\\u202e"',
        "printable text",
    ),
    (
        "healthcheck with a newline",
        ["--set", 'services.order-service.healthcheck=["CMD-SHELL", "true\\nrm -rf /"]'],
        "services.order-service.healthcheck[1]",
        "printable text",
    ),
    (
        "secret with a newline",
        ["--set-secret", 'secrets.jwt-secret="' + "x" * 64 + '\\n"'],
        "secrets.jwt-secret = [secret]",
        "printable text",
    ),
    (
        "publish address that is multicast",
        ["--set", "grafana.publish.address=224.0.0.1"],
        'grafana.publish.address = "224.0.0.1"',
        "host address",
    ),
    (
        "declared boolean key with text",
        ["--set", "demo=maybe"],
        "'payment-platform:demo'",
        "must be of type 'boolean'",
    ),
    (
        "profile-dependent integer key with text",
        ["--set", "logMaxFiles=abc"],
        'payment-platform:logMaxFiles = "abc"',
        "expected a whole number",
    ),
]


@pytest.mark.parametrize(("args", "key", "reason"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_config_exits_2_with_one_line_naming_the_key(
    args: list[str], key: str, reason: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert cli.main(["render", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert key in lines[0]
    assert reason in lines[0]
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_several_problems_are_listed_one_per_line() -> None:
    result = run_cli("render", "--set", "services.payment-gateway.replicas=0", "--set", "networkSubnet=8.8.8.0/24")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: invalid configuration for stack 'dev' (2 problems):"
    assert [line.split(" = ")[0].strip() for line in lines[1:]] == [
        "payment-platform:services.payment-gateway.replicas",
        "payment-platform:networkSubnet",
    ]


def test_nothing_is_registered_before_config_is_checked() -> None:
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError):
        render("dev", sets=("services.payment-gateway.replicas=0",), monitor=monitor)
    assert [r.type for r in monitor.records.values()] == [STACK_TYPE]


def test_a_secret_value_is_never_echoed_in_an_error() -> None:
    result = run_cli("render", "--set-secret", "services.payment-gateway.limits.memory=hunter2hunter2")
    assert result.returncode == 2
    assert "hunter2" not in result.stderr
    assert "payment-platform:services.payment-gateway.limits.memory = [secret]" in result.stderr


def test_a_malformed_secret_flag_is_not_echoed() -> None:
    result = run_cli("render", "--set-secret", "hunter2hunter2")
    assert result.returncode == 2
    assert "hunter2" not in result.stderr


def test_a_missing_config_file_is_an_error_naming_it() -> None:
    result = run_cli("render", "--config-file", "/nonexistent/Pulumi.x.yaml")
    assert result.returncode == 2
    assert "/nonexistent/Pulumi.x.yaml: no such file" in result.stderr


def test_stack_file_errors_are_stack_file_errors() -> None:
    with pytest.raises(StackFileError, match="invalid config path"):
        render("dev", sets=("services..x=1",))


def test_a_newline_in_a_demo_service_name_exits_2_without_a_traceback() -> None:
    # issue 15: the name once passed the `$`-anchored check and reached the demo's nginx.conf builder, which raised
    # (exit 1 and a traceback). The dev stack runs the demo images.
    name = 'services["loyalty\\n"]'
    result = run_cli("render", "--set", f"{name}.port=40030", "--set", f"{name}.database=payment_loyalty")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: invalid configuration for stack 'dev': payment-platform:services[\"loyalty\\n\"]:")


def _docker_names(stack: str) -> set[str]:
    render = rendered(stack)
    return {str(r.inputs["name"]) for r in render.resources if r.type in (CONTAINER, VOLUME, NETWORK)}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_service_name_can_take_a_docker_name_the_platform_uses(stack: str) -> None:
    """Derived from the render, so a new container, loader, volume or network cannot drift past the reserved names:
    every name a new service would need for its container (`payment-<name>`) or its loader (`payment-<name>-files`)
    that the stack already uses is refused."""
    names = _docker_names(stack)
    candidates = {n.removeprefix("payment-") for n in names if n.startswith("payment-")}
    candidates |= {c.removesuffix(LOADER_SUFFIX) for c in candidates if c.endswith(LOADER_SUFFIX)}
    candidates = {c for c in candidates if SERVICE_NAME.fullmatch(c)}
    assert {"postgres", "postgres-files", "postgres-data", "docker-api-proxy", "order-service"} <= candidates
    accepted = []
    for name in sorted(candidates):
        try:
            stack_config(stack, services={name: {"port": 40030, "database": "payment_new"}})
        except ConfigError as error:
            assert any(p.path[:2] == ("services", name) for p in error.problems), error.lines
        else:
            accepted.append(name)
    assert accepted == []
