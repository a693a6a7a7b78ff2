"""Kafka: the broker's environment, the topic script run for real against stub tools, and the component.

The start-up wrapper and its topic step are run by `sh` exactly as generated, with the paths pointed at
stub `kafka-topics.sh` / `kafka-configs.sh` programs that keep a fake cluster's topics in a JSON file,
print `--describe` in the format of Kafka's TopicCommand, treat `--topic` as a full-match regular
expression like it does, and refuse to shrink partitions like the broker does.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.data.kafka import (
    CLIENT_CONFIG,
    Acl,
    AclGrant,
    Kafka,
    KafkaArgs,
    KafkaPaths,
    acl_bindings,
    acl_grants,
    client_environment,
    client_key_path,
    client_properties,
    cluster_id,
    healthcheck,
    kafka_environment,
    property_env,
    start_script,
)
from components.docker.startup import WRAPPER_PATH
from components.pki import LeafCertificate
from plan import Render
from plan.engine import run_program
from plan.simulate import image_id
from stacks.catalog import KAFKA_EXPORTER, SERVICES, TOPICS
from stacks.models import PlatformConfig, Topic
from tests.conftest import docker_host, stack_config
from tests.conftest import uploads as container_uploads
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET, VOLUME

HOUR_MS = 3_600_000
CATALOG = [t.name for t in TOPICS]
EXPORTER = KAFKA_EXPORTER.name
ALL_SERVICES = tuple(s.name for s in SERVICES)


def platform_config(stack: str, **values: Any) -> PlatformConfig:
    return stack_config(stack, **values)


# --- pure builders ----------------------------------------------------------------------------------


def image_property(env_name: str) -> str:
    """The server property the apache/kafka image renders from `env_name` (its KafkaDockerWrapper rules)."""
    return env_name.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")


def properties(config: PlatformConfig) -> dict[str, str]:
    """What the broker sees: the environment as the image turns it into server.properties."""
    env = kafka_environment(config.infra("kafka"), cluster_id(config.project, config.stack))
    return {image_property(k): v for k, v in env.items() if k.startswith("KAFKA_") and k != "KAFKA_HEAP_OPTS"}


def test_cluster_id_is_a_stable_kraft_id_per_stack() -> None:
    dev = cluster_id("payment-platform", "dev")
    assert dev == cluster_id("payment-platform", "dev")
    # Pinned: a different derivation would no longer match the meta.properties on existing volumes.
    assert dev == "5Ns59LCiXNWPtprzENrgHw"
    ids = {cluster_id(project, stack) for project in ("payment-platform", "other") for stack in ("dev", "prod", "qa")}
    assert len(ids) == 6
    for value in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value)
        assert len(base64.urlsafe_b64decode(value + "==")) == 16
        assert not value.startswith("-")


def test_property_names_follow_the_image_rules() -> None:
    for name in ("log.dirs", "group.initial.rebalance.delay.ms", "some_property.with-dash"):
        assert image_property(property_env(name)) == name
    assert property_env("auto.create.topics.enable") == "KAFKA_AUTO_CREATE_TOPICS_ENABLE"


def test_dev_broker_is_a_single_kraft_node_with_a_host_listener() -> None:
    config = platform_config("dev")
    props = properties(config)
    assert (props["process.roles"], props["node.id"]) == ("broker,controller", "1")
    assert props["controller.quorum.voters"] == "1@localhost:9093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listeners"].split(",") == ["INTERNAL://:9092", "CONTROLLER://:9093", "HOST://:29092"]
    assert props["advertised.listeners"].split(",") == [
        "INTERNAL://kafka.payment-network:9092",
        "HOST://localhost:40092",
    ]
    # TLS on every listener, the controller's and the published one included.
    assert sorted(props["listener.security.protocol.map"].split(",")) == ["CONTROLLER:SSL", "HOST:SSL", "INTERNAL:SSL"]
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for name in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[name] == "1", name
    env = kafka_environment(config.infra("kafka"), cluster_id(config.project, config.stack))
    assert env["CLUSTER_ID"] == cluster_id("payment-platform", "dev")
    assert env["KAFKA_HEAP_OPTS"] == "-Xms512m -Xmx512m"  # half of the 1G dev limit


def test_prod_broker_has_no_host_listener() -> None:
    config = platform_config("prod")
    props = properties(config)
    assert props["listeners"] == "INTERNAL://:9092,CONTROLLER://:9093"
    assert props["advertised.listeners"] == "INTERNAL://kafka.payment-network:9092"
    assert "HOST" not in props["listener.security.protocol.map"]
    assert "40092" not in json.dumps(kafka_environment(config.infra("kafka"), cluster_id(config.project, config.stack)))
    assert (
        kafka_environment(config.infra("kafka"), cluster_id(config.project, config.stack))["KAFKA_HEAP_OPTS"]
        == "-Xms2048m -Xmx2048m"
    )
    assert kafka_environment(config.infra("kafka"), cluster_id(config.project, config.stack))[
        "CLUSTER_ID"
    ] != cluster_id("payment-platform", "dev")


def test_the_host_listener_follows_publish_settings() -> None:
    published = properties(platform_config("prod", kafka={"publish": {"enabled": True}}))
    assert published["advertised.listeners"].endswith(",HOST://localhost:40092")
    on_lan = properties(platform_config("dev", kafka={"publish": {"address": "192.168.10.5"}}))
    assert on_lan["advertised.listeners"].endswith(",HOST://192.168.10.5:40092")


def test_every_listener_requires_a_client_certificate_and_acls_decide_the_rest() -> None:
    props = properties(platform_config("dev"))
    assert props["ssl.client.auth"] == "required"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:kafka"  # the broker itself, nobody else
    # Key material by reference only: the dir provider, restricted to the secrets folder, reads the files.
    assert props["config.providers"] == "dir"
    assert props["config.providers.dir.class"] == "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
    assert props["config.providers.dir.param.allowed.paths"] == "/etc/kafka/secrets"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.key"] == "${dir:/etc/kafka/secrets:kafka.key}"
    assert props["ssl.keystore.certificate.chain"] == "${dir:/etc/kafka/secrets:kafka.crt}"
    assert props["ssl.truststore.location"] == "/etc/kafka/secrets/ca.pem"
    # The official image demands JKS-style file names and password files when a listener name holds "SSL".
    assert "SSL://" not in props["advertised.listeners"]
    # The in-container tools speak the same TLS as the broker's own identity.
    tools = dict(line.split("=", 1) for line in client_properties().splitlines() if not line.startswith("#"))
    assert tools == {
        "security.protocol": "SSL",
        **{k: v for k, v in props.items() if k.startswith(("ssl.keystore", "ssl.truststore", "config.providers"))},
    }


@pytest.mark.parametrize(
    ("subject", "principal"),
    [
        ("CN=order-service,OU=payment-platform,O=Payment Platform", "order-service"),
        ("CN=kafka-exporter", "kafka-exporter"),
        ("OU=payment-platform,O=Payment Platform", None),  # no CN: no rule applies, the connection is refused
    ],
)
def test_the_principal_is_the_certificate_common_name(subject: str, principal: str | None) -> None:
    rule = properties(platform_config("dev"))["ssl.principal.mapping.rules"]
    match = re.fullmatch(r"RULE:(.*)/(.*)/", rule)
    assert match, rule
    found = re.match(match.group(1), subject)
    mapped = found.expand(match.group(2).replace("$", "\\")) if found else None
    assert mapped == principal


def resolved_topics(stack: str = "dev") -> tuple[Topic, ...]:
    return platform_config(stack).data.topics


def test_the_catalog_names_real_services_and_every_topic_has_a_producer_and_a_consumer() -> None:
    for topic in TOPICS:
        assert topic.producers and topic.consumers, topic.name
        assert set(topic.producers) | set(topic.consumers) <= set(ALL_SERVICES), topic.name
    assert {t.name: (t.producers, t.consumers) for t in resolved_topics()} == {
        t.name: (t.producers, t.consumers) for t in TOPICS
    }


def test_producers_write_consumers_read_their_own_group_and_the_exporter_only_describes() -> None:
    bindings = acl_bindings(acl_grants(resolved_topics(), ALL_SERVICES, EXPORTER))
    allowed = {(a.principal, a.resource_type, a.resource, a.operation) for a in bindings}
    assert ("User:payment-gateway", "TOPIC", "payment.events", "WRITE") in allowed
    assert ("User:payment-gateway", "TOPIC", "order.events", "WRITE") not in allowed
    assert ("User:order-service", "TOPIC", "payment.events", "READ") in allowed
    assert ("User:order-service", "GROUP", "order-service", "READ") in allowed
    assert ("User:order-service", "TOPIC", "payment.events", "WRITE") not in allowed
    for topic in TOPICS:
        writers = {a.principal for a in bindings if (a.resource, a.operation) == (topic.name, "WRITE")}
        readers = {a.principal for a in bindings if (a.resource, a.operation) == (topic.name, "READ")}
        assert writers == {f"User:{p}" for p in topic.producers}, topic.name
        assert readers == {f"User:{c}" for c in topic.consumers}, topic.name
    groups = {(a.principal, a.resource) for a in bindings if a.resource_type == "GROUP" and a.operation == "READ"}
    assert groups == {(f"User:{c}", c) for c in {c for t in TOPICS for c in t.consumers}}  # each its own group only
    exporter = {(a.resource_type, a.resource, a.operation) for a in bindings if a.principal == f"User:{EXPORTER}"}
    assert exporter == {
        ("TOPIC", "*", "DESCRIBE"),
        ("GROUP", "*", "DESCRIBE"),
        ("CLUSTER", "kafka-cluster", "DESCRIBE"),
    }
    # Nothing creates, deletes or alters; nothing is granted to every principal; nothing is a deny.
    assert {a.operation for a in bindings} == {"READ", "WRITE", "DESCRIBE"}
    assert all(a.principal.startswith("User:") and a.principal != "User:*" for a in bindings)
    assert {(a.host, a.permission, a.pattern_type) for a in bindings} == {("*", "ALLOW", "LITERAL")}


def test_only_deployed_services_get_grants() -> None:
    deployed = ("payment-gateway", "order-service")
    principals = {a.principal for a in acl_bindings(acl_grants(resolved_topics(), deployed, EXPORTER))}
    assert principals == {"User:payment-gateway", "User:order-service", f"User:{EXPORTER}"}


def test_services_get_the_tls_client_contract() -> None:
    assert client_environment("order-service") == {
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": "/app/certs/ca/ca-cert.pem",
        "KAFKA_SSL_CERTIFICATE_LOCATION": "/app/certs/services/order-service/order-service.crt",
        "KAFKA_SSL_KEY_LOCATION": "/app/certs/services/order-service/order-service.pkcs8.key",
    }
    assert client_key_path("order-service") == "/app/certs/services/order-service/order-service.pkcs8.key"


# --- the generated scripts, run by sh against stub tools ---------------------------------------------

TOPICS_STUB = """\
import json, re, sys, time
from pathlib import Path

state = Path(STATE)
args = sys.argv[1:]
log(args)
topics = json.loads((state / "topics.json").read_text())
if "--bootstrap-server" not in args or args[args.index("--bootstrap-server") + 1] != "localhost:9092":
    sys.exit("stub: no --bootstrap-server localhost:9092")


def value(option, default=None):
    return args[args.index(option) + 1] if option in args else default


def save():
    (state / "topics.json").write_text(json.dumps(topics))


def matching():
    return sorted(t for t in topics if re.fullmatch(value("--topic"), t))  # a regex, as TopicCommand reads it


if "--list" in args:
    fail_if("list")
    for _ in range(500):  # a broker answers once its server has started
        if (state / "server.pid").exists():
            break
        time.sleep(0.01)
    else:
        sys.exit("stub: no server")
    print("\\n".join(sorted(topics)))
elif "--describe" in args:
    fail_if("describe")
    names = matching() if "--topic" in args else sorted(topics)
    for name in names:
        if "--exclude-internal" in args and name.startswith("__"):
            continue
        topic = topics[name]
        configs = ",".join(f"{k}={v}" for k, v in sorted(topic["configs"].items()))
        garble = (state / "garble").read_text() if (state / "garble").exists() else ""
        if garble == "lines":
            print(f"{name} has {topic['partitions']} partitions")
            continue
        if garble == "count":
            print(f"Topic: {name}\\tPartitions: {topic['partitions']}\\tConfigs: {configs}")
            continue
        print(f"Topic: {name}\\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\\tPartitionCount: {topic['partitions']}"
              f"\\tReplicationFactor: {topic['replication']}\\tConfigs: {configs}")
        for p in range(topic["partitions"]):
            print(f"\\tTopic: {name}\\tPartition: {p}\\tLeader: 1\\tReplicas: 1\\tIsr: 1\\tElr: \\tLastKnownElr: ")
elif "--create" in args:
    fail_if("create")
    name = value("--topic")
    if name in topics:
        sys.exit(0 if "--if-not-exists" in args else f"Topic '{name}' already exists.")
    configs = {}
    for i, arg in enumerate(args):
        if arg == "--config":
            key, _, val = args[i + 1].partition("=")
            configs[key] = val
    topics[name] = {"partitions": int(value("--partitions")), "replication": int(value("--replication-factor")),
                    "configs": configs}
    save()
    print(f"Created topic {name}.")
elif "--alter" in args:
    fail_if("alter")
    names = matching()
    if not names:
        sys.exit(f"Topic '{value('--topic')}' does not exist as expected")
    wanted = int(value("--partitions"))
    for name in names:
        if wanted <= topics[name]["partitions"]:
            sys.exit(f"Topic has {topics[name]['partitions']} partitions, more than the requested {wanted}.")
        topics[name]["partitions"] = wanted
    save()
else:
    sys.exit(f"stub: unexpected arguments {args}")
"""

CONFIGS_STUB = """\
import json, sys
from pathlib import Path

state = Path(STATE)
args = sys.argv[1:]
log(args)
fail_if("configs")
topics = json.loads((state / "topics.json").read_text())
assert args[args.index("--bootstrap-server") + 1] == "localhost:9092"
assert args[args.index("--entity-type") + 1] == "topics" and "--alter" in args
name = args[args.index("--entity-name") + 1]
if name not in topics:
    sys.exit(f"Topic {name} does not exist")
key, _, val = args[args.index("--add-config") + 1].partition("=")
topics[name]["configs"][key] = val
(state / "topics.json").write_text(json.dumps(topics))
print(f"Completed updating config for topic {name}.")
"""

ACLS_STUB = """\
import json, sys
from pathlib import Path

state = Path(STATE)
args = sys.argv[1:]
log(args)
assert args[args.index("--bootstrap-server") + 1] == "localhost:9092"
path = state / "acls.json"
acls = [tuple(a) for a in json.loads(path.read_text())] if path.exists() else []


def values(option):
    return [args[i + 1] for i, a in enumerate(args) if a == option]


def resources():
    found = [("TOPIC", t) for t in values("--topic")] + [("GROUP", g) for g in values("--group")]
    return found + ([("CLUSTER", "kafka-cluster")] if "--cluster" in args else [])


if "--list" in args:
    fail_if("acl-list")
    for kind, pattern, name in sorted({a[:3] for a in acls}):
        print(f"Current ACLs for resource `ResourcePattern(resourceType={kind}, name={name}, patternType={pattern})`:")
        for a in acls:
            if a[:3] == (kind, pattern, name):
                print(f"\t(principal={a[3]}, host={a[4]}, operation={a[5]}, permissionType={a[6]})")
        print()
elif "--add" in args:
    fail_if("acl-add")
    for kind, name in resources():
        for who in values("--allow-principal"):
            for operation in values("--operation"):
                acl = (kind, "LITERAL", name, who, "*", operation.upper(), "ALLOW")
                if acl not in acls:
                    acls.append(acl)
    path.write_text(json.dumps(acls))
elif "--remove" in args:
    fail_if("acl-remove")
    assert "--force" in args
    pattern = values("--resource-pattern-type")[0]
    allow, deny = values("--allow-principal"), values("--deny-principal")
    who, permission = (allow, "ALLOW") if allow else (deny, "DENY")
    hosts = values("--allow-host") or values("--deny-host")
    gone = {(kind, pattern, name, p, h, o, permission) for kind, name in resources() for p in who for h in hosts
            for o in values("--operation")}
    assert gone & set(acls), f"stub: nothing matches {args}"
    path.write_text(json.dumps([a for a in acls if a not in gone]))
else:
    sys.exit(f"stub: unexpected arguments {args}")
"""

STUB_PRELUDE = """\
#!{python}
import json, os, sys
from pathlib import Path

STATE = {state!r}
MARKER = {marker!r}


def log(args):
    entry = {{"tool": os.path.basename(sys.argv[0]), "args": args, "marker": os.path.exists(MARKER),
              "heap": os.environ.get("KAFKA_HEAP_OPTS")}}
    with open(os.path.join(STATE, "calls.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\\n")


def fail_if(operation):
    if os.path.exists(os.path.join(STATE, "fail-" + operation)):
        sys.exit("stub: " + operation + " fails")


"""

SERVER_STUB = """\
#!/bin/sh
echo $$ > {pidfile}
exec sleep 60
"""


@dataclass
class Outcome:
    returncode: int
    stderr: str
    marker_written: bool
    """The marker existed while the wrapper ran (checked before the test stopped it)."""


class FakeKafka:
    """A temporary folder with stub tools, a stub server and the fake cluster's topics."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.state.mkdir()
        bin_dir = root / "bin"
        bin_dir.mkdir()
        self.marker = root / "run" / "payment-topics.done"
        self.marker.parent.mkdir()
        self.pidfile = self.state / "server.pid"
        prelude = STUB_PRELUDE.format(python=sys.executable, state=str(self.state), marker=str(self.marker))
        for name, body in (
            ("kafka-topics.sh", TOPICS_STUB),
            ("kafka-configs.sh", CONFIGS_STUB),
            ("kafka-acls.sh", ACLS_STUB),
            ("kafka-broker-api-versions.sh", "log(sys.argv[1:])\n"),
        ):
            (bin_dir / name).write_text(prelude + body)
            (bin_dir / name).chmod(0o755)
        server = root / "server"
        server.write_text(SERVER_STUB.format(pidfile=shlex.quote(str(self.pidfile))))
        server.chmod(0o755)
        self.client_config = root / "client.properties"
        self.paths = KafkaPaths(
            bin_dir=str(bin_dir), server=(str(server),), marker=str(self.marker), client_config=str(self.client_config)
        )
        self.topics = {}

    @property
    def topics(self) -> dict[str, Any]:
        return json.loads((self.state / "topics.json").read_text())  # type: ignore[no-any-return]

    @topics.setter
    def topics(self, value: dict[str, Any]) -> None:
        (self.state / "topics.json").write_text(json.dumps(value))

    def add(self, name: str, partitions: int, retention_ms: int | None = None) -> None:
        configs = {} if retention_ms is None else {"retention.ms": str(retention_ms)}
        self.topics = {**self.topics, name: {"partitions": partitions, "replication": 1, "configs": configs}}

    def calls(self) -> list[dict[str, Any]]:
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def reset_calls(self) -> None:
        (self.state / "calls.jsonl").unlink(missing_ok=True)

    def calls_with(self, flag: str) -> list[list[str]]:
        return [c["args"] for c in self.calls() if flag in c["args"]]

    @property
    def acls(self) -> set[Acl]:
        path = self.state / "acls.json"
        rows = json.loads(path.read_text()) if path.exists() else []
        return {
            Acl(k, p, name, who, operation=op, host=host, permission=allow) for k, p, name, who, host, op, allow in rows
        }

    @acls.setter
    def acls(self, value: set[Acl]) -> None:
        rows = [
            [a.resource_type, a.pattern_type, a.resource, a.principal, a.host, a.operation, a.permission] for a in value
        ]
        (self.state / "acls.json").write_text(json.dumps(rows))

    def fail(self, operation: str) -> None:
        (self.state / f"fail-{operation}").touch()

    def run(self, topics: list[Topic], grants: tuple[AclGrant, ...] = ()) -> Outcome:
        """Run the wrapper until it writes the marker or exits; then stop it like `docker stop` would."""
        script = self.root / "payment-start"
        script.write_text(start_script(topics, grants, self.paths))
        self.pidfile.unlink(missing_ok=True)
        if self.marker.exists():
            os.utime(self.marker, (0, 0))  # left by an earlier start: the wrapper must remove it first
        # The container's own heap setting, which the tools must not inherit.
        env = {**os.environ, "KAFKA_HEAP_OPTS": "-Xms512m -Xmx512m"}
        process = subprocess.Popen(
            ["sh", str(script)], stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 30
            while process.poll() is None and not self.marker_written() and time.monotonic() < deadline:
                time.sleep(0.02)
            written = self.marker_written()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
            self.assert_server_stopped()
        finally:
            # Whatever is left of this run's process group (nothing, when the wrapper behaved).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return Outcome(process.returncode, stderr, written)

    def marker_written(self) -> bool:
        """The marker exists and was written by this run (a leftover one is dated 1970)."""
        try:
            return self.marker.stat().st_mtime > 0
        except FileNotFoundError:
            return False

    def assert_server_stopped(self) -> None:
        pid = int(self.pidfile.read_text())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        pytest.fail("the wrapper left the server running")


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[FakeKafka]:
    yield FakeKafka(tmp_path)


def catalog_topics(partitions: int, hours: int, **overrides: int) -> list[Topic]:
    return [Topic(name=n, partitions=overrides.get(n, partitions), retention_hours=hours) for n in CATALOG]


def test_first_start_creates_every_topic_then_writes_the_marker(kafka: FakeKafka) -> None:
    kafka.marker.touch()  # left over from a previous start of the same container
    outcome = kafka.run(catalog_topics(3, 72))
    assert outcome.marker_written, outcome.stderr
    assert outcome.returncode == 143  # stopped by SIGTERM after serving, through the wrapper's trap
    assert kafka.topics == {
        name: {"partitions": 3, "replication": 1, "configs": {"retention.ms": str(72 * HOUR_MS)}} for name in CATALOG
    }
    created = kafka.calls_with("--create")
    assert sorted(args[args.index("--topic") + 1] for args in created) == sorted(CATALOG)
    for args in created:
        assert args[args.index("--replication-factor") + 1] == "1"
        assert args[args.index("--partitions") + 1] == "3"
    calls = kafka.calls()
    assert not any(c["marker"] for c in calls), "the marker existed before the topics were applied"
    assert {c["heap"] for c in calls} == {"-Xmx128m"}
    assert "desired state applied" in outcome.stderr


def test_a_restart_with_nothing_to_change_only_reads(kafka: FakeKafka) -> None:
    topics = catalog_topics(3, 72)
    assert kafka.run(topics).marker_written
    before = kafka.topics
    kafka.reset_calls()
    outcome = kafka.run(topics)
    assert outcome.marker_written, outcome.stderr
    assert kafka.topics == before
    assert not kafka.calls_with("--create") and not kafka.calls_with("--alter")
    # ready, describe, the ACL list
    assert [c["tool"] for c in kafka.calls()] == ["kafka-topics.sh", "kafka-topics.sh", "kafka-acls.sh"]


def test_existing_topics_get_more_partitions_and_new_retention_but_never_fewer(kafka: FakeKafka) -> None:
    week = 168 * HOUR_MS
    for name in CATALOG:
        kafka.add(name, 3, 72 * HOUR_MS)
    kafka.add("order.events", 6, 72 * HOUR_MS)  # more partitions than the config will ask for
    kafka.add("risk.events", 3, week)  # already at the new retention
    kafka.add("payment_events", 1)  # matches 'payment.events' as an unescaped regex
    kafka.add("legacy.events", 2)  # not in the config
    topics = catalog_topics(3, 168, **{"payment.events": 12})

    outcome = kafka.run(topics)
    assert outcome.marker_written, outcome.stderr
    state = kafka.topics
    assert state["payment.events"]["partitions"] == 12
    assert state["order.events"]["partitions"] == 6
    assert "warning: topic order.events has 6 partitions and the configuration asks for 3" in outcome.stderr
    assert all(state[name]["configs"]["retention.ms"] == str(week) for name in CATALOG)
    assert state["payment_events"] == {"partitions": 1, "replication": 1, "configs": {}}
    assert state["legacy.events"] == {"partitions": 2, "replication": 1, "configs": {}}
    assert not kafka.calls_with("--create")
    raised = [c["args"] for c in kafka.calls() if c["tool"] == "kafka-topics.sh" and "--alter" in c["args"]]
    assert [(a[a.index("--topic") + 1], a[a.index("--partitions") + 1]) for a in raised] == [("payment\\.events", "12")]
    altered = [a[a.index("--entity-name") + 1] for a in kafka.calls_with("--add-config")]
    assert sorted(altered) == sorted(set(CATALOG) - {"risk.events"})
    assert not any(c["marker"] for c in kafka.calls())


def test_a_new_catalog_topic_is_created_beside_existing_ones(kafka: FakeKafka) -> None:
    for name in CATALOG:
        kafka.add(name, 3, 72 * HOUR_MS)
    outcome = kafka.run([*catalog_topics(3, 72), Topic(name="audit.events", partitions=5, retention_hours=24)])
    assert outcome.marker_written, outcome.stderr
    assert kafka.topics["audit.events"] == {
        "partitions": 5,
        "replication": 1,
        "configs": {"retention.ms": str(24 * HOUR_MS)},
    }
    assert [a[a.index("--topic") + 1] for a in kafka.calls_with("--create")] == ["audit.events"]


@pytest.mark.parametrize("operation", ["describe", "create", "alter", "configs", "garble", "no-count"])
def test_a_failing_step_stops_the_server_and_never_marks_healthy(kafka: FakeKafka, operation: str) -> None:
    for name in CATALOG[1:]:
        kafka.add(name, 1, 1)  # everything but the first topic exists and needs partitions and retention
    if operation == "garble":
        (kafka.state / "garble").write_text("lines")  # a describe output the script cannot read
    elif operation == "no-count":
        (kafka.state / "garble").write_text("count")  # a summary line without PartitionCount
    else:
        kafka.fail(operation)
    outcome = kafka.run(catalog_topics(3, 72))
    assert not outcome.marker_written
    assert outcome.returncode == 1, outcome.stderr
    assert "applying desired state failed; stopping" in outcome.stderr
    assert not kafka.marker.exists()
    # Nothing runs after the failing step.
    last = kafka.calls()[-1]["args"]
    expected = {"describe": "--describe", "create": "--create", "alter": "--partitions", "configs": "--add-config"}
    if operation == "no-count":
        assert "cannot read the partition count of topic " + CATALOG[1] in outcome.stderr
        assert not any(CATALOG[1] in c["args"] for c in kafka.calls())
    elif operation == "garble":
        # Every topic looks missing; creating one that exists fails instead of silently doing nothing.
        assert last[last.index("--create") + 1 :][:2] == ["--topic", CATALOG[1]]
        assert "already exists" in outcome.stderr
    else:
        assert expected[operation] in last
        assert f"stub: {operation} fails" in outcome.stderr


def test_healthcheck_requires_the_marker_and_an_answering_broker(kafka: FakeKafka) -> None:
    test = healthcheck(kafka.paths)
    assert test[0] == "CMD-SHELL"

    def check() -> int:
        return subprocess.run(["sh", "-c", test[1]], timeout=30, check=False).returncode

    assert check() != 0
    kafka.marker.touch()
    assert check() == 0
    assert [c["tool"] for c in kafka.calls()] == ["kafka-broker-api-versions.sh"]
    assert kafka.calls()[0]["args"] == [
        "--bootstrap-server",
        "localhost:9092",
        "--command-config",
        str(kafka.client_config),
    ]
    Path(kafka.paths.bin_dir, "kafka-broker-api-versions.sh").write_text("#!/bin/sh\nexit 1\n")
    assert check() != 0


def test_the_real_paths_are_the_images() -> None:
    script = start_script(catalog_topics(3, 72))
    client = "--bootstrap-server localhost:9092 --command-config /etc/kafka/secrets/client.properties"
    assert '\n/etc/kafka/docker/run "$@" &\n' in script
    jvm = "'-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true'"
    tool = f"KAFKA_HEAP_OPTS=-Xmx128m KAFKA_JVM_PERFORMANCE_OPTS={jvm}"
    assert f"{tool} /opt/kafka/bin/kafka-topics.sh {client}" in script
    assert f"{tool} /opt/kafka/bin/kafka-acls.sh {client}" in script
    assert "touch /tmp/payment-topics.done" in script
    assert healthcheck()[1] == (
        f"test -f /tmp/payment-topics.done && {tool} /opt/kafka/bin/kafka-broker-api-versions.sh {client} >/dev/null"
    )
    assert CLIENT_CONFIG == "/etc/kafka/secrets/client.properties"


def catalog_grants(services: tuple[str, ...] = ALL_SERVICES) -> tuple[AclGrant, ...]:
    return acl_grants(resolved_topics(), services, EXPORTER)


def test_first_start_applies_every_catalog_acl_before_the_marker(kafka: FakeKafka) -> None:
    grants = catalog_grants()
    outcome = kafka.run(catalog_topics(3, 72), grants)
    assert outcome.marker_written, outcome.stderr
    assert kafka.acls == set(acl_bindings(grants))
    acl_calls = [c for c in kafka.calls() if c["tool"] == "kafka-acls.sh"]
    assert len(acl_calls) == 1 + len(grants)  # one list, one add per grant
    assert not any(c["marker"] for c in acl_calls)
    assert all(c["args"][c["args"].index("--command-config") + 1] == str(kafka.client_config) for c in acl_calls)


def test_a_restart_adds_only_what_is_missing_and_removes_what_is_no_longer_declared(kafka: FakeKafka) -> None:
    grants = catalog_grants()
    declared = set(acl_bindings(grants))
    stale = Acl("TOPIC", "LITERAL", "payment.events", "User:order-service", "WRITE")  # once declared, now not
    by_hand = Acl("GROUP", "LITERAL", "*", "User:operator", "READ")
    missing = Acl("TOPIC", "LITERAL", "risk.events", "User:risk-service", "WRITE")
    kafka.acls = (declared - {missing}) | {stale, by_hand}
    outcome = kafka.run(catalog_topics(3, 72), grants)
    assert outcome.marker_written, outcome.stderr
    assert kafka.acls == declared
    added = kafka.calls_with("--add")
    assert len(added) == 1 and added[0][added[0].index("--topic") + 1] == "risk.events"
    assert len(kafka.calls_with("--remove")) == 2
    assert "removing an ACL the catalog no longer declares" in outcome.stderr


def test_no_grants_at_all_removes_every_acl(kafka: FakeKafka) -> None:
    kafka.acls = {Acl("TOPIC", "LITERAL", "payment.events", "User:order-service", "READ")}
    outcome = kafka.run(catalog_topics(3, 72), ())
    assert outcome.marker_written, outcome.stderr
    assert kafka.acls == set()


def test_a_restart_with_every_acl_in_place_only_lists(kafka: FakeKafka) -> None:
    grants = catalog_grants()
    kafka.acls = set(acl_bindings(grants))
    assert kafka.run(catalog_topics(3, 72), grants).marker_written
    assert [c["args"][-1] for c in kafka.calls() if c["tool"] == "kafka-acls.sh"] == ["--list"]


@pytest.mark.parametrize("operation", ["acl-list", "acl-add", "acl-remove"])
def test_a_failing_acl_step_stops_the_server(kafka: FakeKafka, operation: str) -> None:
    kafka.acls = {Acl("TOPIC", "LITERAL", "legacy.events", "User:order-service", "READ")}
    kafka.fail(operation)
    outcome = kafka.run(catalog_topics(3, 72), catalog_grants())
    assert not outcome.marker_written
    assert outcome.returncode == 1, outcome.stderr
    assert "applying desired state failed; stopping" in outcome.stderr


# --- the component under the engine -------------------------------------------------------------------


def build(config: PlatformConfig) -> Render:
    def program() -> None:
        kafka = Kafka(
            "payment-kafka",
            KafkaArgs(
                infra=config.infra("kafka"),
                topics=config.data.topics,
                cluster_id=cluster_id(config.project, config.stack),
                host=docker_host(config),
                certificate=LeafCertificate(
                    cert_pem=pulumi.Output.from_input("KAFKA CERT"),
                    private_key_pem=pulumi.Output.secret("KAFKA SEC1 KEY"),
                    private_key_pem_pkcs8=pulumi.Output.secret("KAFKA PKCS8 KEY"),
                ),
                trust_bundle="CA BUNDLE",
                services=tuple(s.name for s in config.services),
                exporter=EXPORTER,
            ),
        )
        pulumi.export("serviceEnv", kafka.client_env)

    return run_program(program, config.project, config.stack)


@functools.cache
def built(stack: str, overrides: str = "{}") -> Render:
    return build(platform_config(stack, **json.loads(overrides)))


def container_inputs(render: Render) -> dict[str, Any]:
    return dict(render.get(CONTAINER, "payment-kafka-container").inputs)


def files(render: Render) -> dict[str, dict[str, Any]]:
    return {u["file"]: u for u in container_uploads(render, "payment-kafka-container")}


def wrapper(render: Render) -> str:
    return str(files(render)[WRAPPER_PATH]["content"])


def test_the_broker_gets_its_key_pair_the_trust_bundle_and_the_tools_config() -> None:
    uploads = {
        path: (u["content"], u["permissions"], u["owner"], u["group"]) for path, u in files(built("dev")).items()
    }
    assert list(uploads) == [
        WRAPPER_PATH,
        "/etc/kafka/secrets/kafka.key",
        "/etc/kafka/secrets/kafka.crt",
        "/etc/kafka/secrets/ca.pem",
        "/etc/kafka/secrets/client.properties",
    ]
    assert uploads["/etc/kafka/secrets/kafka.key"] == (SECRET, "0400", "1000", "1000")  # PKCS#8, secret
    assert uploads["/etc/kafka/secrets/kafka.crt"] == ("KAFKA CERT", "0444", "1000", "1000")
    assert uploads["/etc/kafka/secrets/ca.pem"] == ("CA BUNDLE", "0444", "1000", "1000")
    assert uploads["/etc/kafka/secrets/client.properties"] == (client_properties(), "0444", "1000", "1000")
    revealed = {
        u["file"]: u["content"] for u in container_uploads(built("dev"), "payment-kafka-container", revealed=True)
    }
    assert revealed["/etc/kafka/secrets/kafka.key"] == "KAFKA PKCS8 KEY"


def env_of(render: Render) -> dict[str, str]:
    return dict(item.split("=", 1) for item in container_inputs(render)["envs"])


@pytest.mark.parametrize(
    ("stack", "ports"),
    [("dev", [{"external": 40092, "internal": 29092, "ip": "127.0.0.1"}]), ("prod", [])],
)
def test_container_shape(stack: str, ports: list[dict[str, object]]) -> None:
    render = built(stack)
    kafka = container_inputs(render)
    assert kafka["name"] == "payment-kafka"
    assert kafka["hostname"] == "kafka"
    assert kafka["networksAdvanced"][0]["aliases"] == ["kafka", "kafka.payment-network"]
    assert kafka["user"] == "1000:1000"
    assert kafka["entrypoints"] == [WRAPPER_PATH]
    assert "command" not in kafka  # the image's CMD is what the wrapper starts
    assert [{k: p[k] for k in ("external", "internal", "ip")} for p in kafka.get("ports", [])] == ports
    assert kafka["volumes"] == [{"containerPath": "/var/lib/kafka/data", "volumeName": "payment-kafka-data"}]
    assert kafka["image"] == image_id("apache/kafka:4.3.1")
    assert render.get(REMOTE_IMAGE, "payment-kafka-image").inputs["name"] == "apache/kafka:4.3.1"
    assert kafka["healthcheck"]["tests"] == healthcheck()
    assert kafka["wait"] is True
    assert {"label": "com.payment-platform.stack", "value": stack} in kafka["labels"]
    upload = container_uploads(render, "payment-kafka-container")[0]
    assert (upload["permissions"], upload["owner"], upload["group"]) == ("0555", "1000", "1000")
    env = env_of(render)
    assert env["CLUSTER_ID"] == cluster_id("payment-platform", stack)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert ("HOST://localhost:40092" in env["KAFKA_ADVERTISED_LISTENERS"]) is (stack == "dev")
    assert render.outputs["serviceEnv"] == {"KAFKA_BROKERS": "kafka.payment-network:9092"}


def test_everything_hangs_off_the_component() -> None:
    render = built("dev")
    component = render.get("payment:data:Kafka", "payment-kafka")
    assert {(r.type, r.name) for r in render.children(component)} == {
        (REMOTE_IMAGE, "payment-kafka-image"),
        (VOLUME, "kafka-data"),
        (CONTAINER, "payment-kafka-container"),
        (VOLUME, "payment-kafka-container-files-opt-payment"),
        (VOLUME, "payment-kafka-container-files-etc-kafka-secrets"),
        (CONTAINER, "payment-kafka-container-loader"),
    }
    assert render.get(CONTAINER, "payment-kafka-container").delete_before_replace


def test_data_volume_is_retained_everywhere_and_protected_in_prod() -> None:
    for stack, protect in (("dev", False), ("prod", True)):
        volume = built(stack).get(VOLUME, "kafka-data")
        assert volume.inputs["name"] == "payment-kafka-data"
        assert volume.retain_on_delete is True
        assert volume.protect is protect


def test_topics_follow_the_profile() -> None:
    for stack, partitions, hours in (("dev", 3, 72), ("prod", 12, 168)):
        script = wrapper(built(stack))
        topics = [t.model_copy(update={"partitions": partitions, "retention_hours": hours}) for t in resolved_topics()]
        assert script == start_script(topics, catalog_grants())
        for name in CATALOG:
            pattern = name.replace(".", "\\.")
            assert f"\napply_topic {name} '{pattern}' {partitions} {hours * HOUR_MS} || exit 1\n" in script


def test_a_topic_override_changes_the_wrapper_and_so_replaces_the_container() -> None:
    overrides = {"kafka": {"topics": {"payment.events": {"partitions": 24}, "audit.events": {"retentionHours": 24}}}}
    default, changed = wrapper(built("prod")), wrapper(built("prod", json.dumps(overrides)))
    assert "\napply_topic payment.events 'payment\\.events' 24 604800000 || exit 1\n" in changed
    assert "\napply_topic order.events 'order\\.events' 12 604800000 || exit 1\n" in changed
    assert "\napply_topic audit.events 'audit\\.events' 12 86400000 || exit 1\n" in changed
    assert changed != default


def test_only_the_key_is_secret() -> None:
    for stack in ("dev", "prod"):
        render = built(stack)
        key = [u for u in container_uploads(render, "payment-kafka-container") if u["content"] == SECRET]
        assert [u["file"] for u in key] == ["/etc/kafka/secrets/kafka.key"]
        env = json.dumps(container_inputs(render)["envs"])
        assert SECRET not in env and "PKCS8 KEY" not in env  # the environment names files, never key material
