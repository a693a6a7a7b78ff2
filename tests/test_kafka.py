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
    Kafka,
    KafkaArgs,
    KafkaPaths,
    cluster_id,
    healthcheck,
    kafka_environment,
    property_env,
    start_script,
)
from components.docker.startup import WRAPPER_PATH
from plan import Render
from plan.engine import run_program
from plan.simulate import image_id
from stacks.catalog import TOPICS
from stacks.models import PlatformConfig, Topic
from tests.conftest import docker_host, stack_config
from tests.conftest import uploads as container_uploads
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET, VOLUME

HOUR_MS = 3_600_000
CATALOG = [t.name for t in TOPICS]


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
    assert sorted(props["listener.security.protocol.map"].split(",")) == [
        "CONTROLLER:PLAINTEXT",
        "HOST:PLAINTEXT",
        "INTERNAL:PLAINTEXT",
    ]
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
            ("kafka-broker-api-versions.sh", "log(sys.argv[1:])\n"),
        ):
            (bin_dir / name).write_text(prelude + body)
            (bin_dir / name).chmod(0o755)
        server = root / "server"
        server.write_text(SERVER_STUB.format(pidfile=shlex.quote(str(self.pidfile))))
        server.chmod(0o755)
        self.paths = KafkaPaths(bin_dir=str(bin_dir), server=(str(server),), marker=str(self.marker))
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

    def fail(self, operation: str) -> None:
        (self.state / f"fail-{operation}").touch()

    def run(self, topics: list[Topic]) -> Outcome:
        """Run the wrapper until it writes the marker or exits; then stop it like `docker stop` would."""
        script = self.root / "payment-start"
        script.write_text(start_script(topics, self.paths))
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
    assert [c["tool"] for c in kafka.calls()] == ["kafka-topics.sh", "kafka-topics.sh"]  # ready, describe


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
    assert kafka.calls()[0]["args"] == ["--bootstrap-server", "localhost:9092"]
    Path(kafka.paths.bin_dir, "kafka-broker-api-versions.sh").write_text("#!/bin/sh\nexit 1\n")
    assert check() != 0


def test_the_real_paths_are_the_images() -> None:
    script = start_script(catalog_topics(3, 72))
    assert '\n/etc/kafka/docker/run "$@" &\n' in script
    assert "KAFKA_HEAP_OPTS=-Xmx128m /opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092" in script
    assert "touch /tmp/payment-topics.done" in script
    assert healthcheck()[1] == (
        "test -f /tmp/payment-topics.done && KAFKA_HEAP_OPTS=-Xmx128m "
        "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 >/dev/null"
    )


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
            ),
        )
        pulumi.export("serviceEnv", kafka.client_env)

    return run_program(program, config.project, config.stack)


@functools.cache
def built(stack: str, overrides: str = "{}") -> Render:
    return build(platform_config(stack, **json.loads(overrides)))


def container_inputs(render: Render) -> dict[str, Any]:
    return dict(render.get(CONTAINER, "payment-kafka-container").inputs)


def wrapper(render: Render) -> str:
    uploads = {u["file"]: u for u in container_uploads(render, "payment-kafka-container")}
    assert list(uploads) == [WRAPPER_PATH]
    return str(uploads[WRAPPER_PATH]["content"])


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
        assert script == start_script(catalog_topics(partitions, hours))
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


def test_nothing_is_secret() -> None:
    for stack in ("dev", "prod"):
        assert SECRET not in json.dumps(built(stack).to_json())
