"""The local Kafka image runs the program's own Kafka container, and the kafka-exporter image reads it.

The rendered dev stack's `payment-kafka` (tests/images/harness.py: its user, environment, entrypoint (the
start-up wrapper), data volume and healthcheck, with the wrapper loaded by the local loader image) runs on
the engine with the local image in place of `apache/kafka:4.3.1`: the image's start command must render
server.properties from the KAFKA_* variables, format the data volume in KRaft mode with CLUSTER_ID, start
the broker, and let the wrapper apply the catalog's topics with the image's tools, or the container's own
healthcheck never passes. A restart then meets a formatted volume. `payment-kafka-exporter` (stand-in)
then scrapes it and must export the metrics the dashboards read.

The container runs with no network (`--network none`): its advertised listener `kafka.<network>` is mapped
to its own loopback with `--add-host`, the one departure from the rendered container. Printed timings are
shown with `pytest -s`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from components.data.kafka import BOOTSTRAP, KafkaPaths
from components.observability.exporters import KAFKA_EXPORTER
from components.observability.metrics import KAFKA_EXPORTER as KAFKA_EXPORTER_METRICS
from plan.engine import Render
from stacks.catalog import KAFKA, TOPICS
from tests.conftest import rendered, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import Sandbox, container_named, sandbox, wait_healthy

HEALTHY_WITHIN = 180
"""Seconds for the broker to format, start and apply the topics (each tool call starts a JVM)."""
GROUP = "image-test-group"


def needs(*names: str) -> None:
    """Skip (fail in CI) when a contract or its local image is missing."""
    for name in names:
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        proc = docker("image", "inspect", "--format", "{{.Id}}", local_ref(CONTRACTS[name]))
        if proc.returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def tool(kafka: str, name: str, *args: str, timeout: float = 90) -> str:
    """One of the image's Kafka tools, run in the broker's container as the component's wrapper runs them."""
    command = f"{KafkaPaths().tool(name)} --bootstrap-server {BOOTSTRAP} " + " ".join(args)
    proc = docker("exec", kafka, "sh", "-c", command, timeout=timeout)
    assert proc.returncode == 0, shown(proc)
    return proc.stdout


@pytest.fixture(scope="module")
def kafka(engine: str) -> Iterator[tuple[Sandbox, Render, str]]:
    """The rendered payment-kafka on the local image, healthy by its own healthcheck."""
    needs("kafka", "loader")
    dev = rendered("dev")
    spec = container_named(dev, "payment-kafka")
    with sandbox("kafka") as box:
        env = dict(item.split("=", 1) for item in spec.revealed_inputs["envs"])
        advertised = re.search(r"INTERNAL://([^:,]+):", env["KAFKA_ADVERTISED_LISTENERS"])
        assert advertised, env["KAFKA_ADVERTISED_LISTENERS"]
        name = box.run_rendered(
            dev,
            spec,
            local_ref(CONTRACTS["kafka"]),
            local_ref(CONTRACTS["loader"]),
            "--network=none",
            f"--add-host={advertised.group(1)}:127.0.0.1",
        )
        seconds = wait_healthy(name, spec.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"kafka: healthy (KRaft formatted, topics applied) after {seconds:.1f} s")
        yield box, dev, name


@pytest.fixture(scope="module")
def consumed(kafka: tuple[Sandbox, Render, str]) -> str:
    """One message produced and consumed back by a consumer group (what a service does); its output."""
    _, _, name = kafka
    topic = TOPICS[0].name
    started = time.monotonic()
    proc = docker(
        "exec",
        "-i",
        name,
        "sh",
        "-c",
        f"{KafkaPaths().tool('kafka-console-producer.sh')} --bootstrap-server {BOOTSTRAP} --topic {topic}",
        stdin=b"payment created\n",
        timeout=90,
    )
    assert proc.returncode == 0, shown(proc)
    out = tool(
        name,
        "kafka-console-consumer.sh",
        f"--topic {topic} --group {GROUP} --from-beginning --max-messages 1 --timeout-ms 60000",
        timeout=120,
    )
    print(f"kafka: produced and consumed one message in {time.monotonic() - started:.1f} s")
    return out


def test_broker_runs_kraft_and_the_wrapper_applied_the_catalog_topics(kafka: tuple[Sandbox, Render, str]) -> None:
    """The program's start-up wrapper created every catalog topic on the local broker, a KRaft node."""
    _, _, name = kafka
    listed = set(tool(name, "kafka-topics.sh", "--list").split())
    missing = {t.name for t in TOPICS} - listed
    assert not missing, f"topics missing on the broker: {sorted(missing)}; listed {sorted(listed)}"
    config = docker("exec", name, "cat", "/opt/kafka/config/server.properties")
    assert config.returncode == 0, shown(config)
    assert "process.roles=broker,controller" in config.stdout, f"not a KRaft node:\n{config.stdout}"
    assert "auto.create.topics.enable=false" in config.stdout, config.stdout
    meta = docker("exec", name, "sh", "-c", "cat /var/lib/kafka/data/meta.properties")
    assert meta.returncode == 0, shown(meta)
    assert "cluster.id=" in meta.stdout, meta.stdout


def test_a_message_goes_through_a_catalog_topic(consumed: str) -> None:
    """A produced message is consumed back by a consumer group with the image's console tools."""
    assert "payment created" in consumed, f"consumed: {consumed!r}"


def test_kafka_exporter_exports_what_the_dashboards_read(kafka: tuple[Sandbox, Render, str], consumed: str) -> None:
    """The rendered payment-kafka-exporter (stand-in image) scrapes the broker: every metric
    components.observability.metrics lists for it, with the topic and consumer-group labels the dashboards group by."""
    needs(KAFKA_EXPORTER)
    box, dev, broker = kafka
    spec = container_named(dev, f"payment-{KAFKA_EXPORTER}")
    assert any(f":{KAFKA.port}" in arg for arg in spec.revealed_inputs["command"])
    name = box.run_rendered(
        dev, spec, local_ref(CONTRACTS[KAFKA_EXPORTER]), local_ref(CONTRACTS["loader"]), f"--network=container:{broker}"
    )
    seconds = wait_healthy(name, spec.revealed_inputs["healthcheck"]["tests"], 60)
    print(f"kafka-exporter: healthy after {seconds:.1f} s")
    port = CONTRACTS[KAFKA_EXPORTER].ports[0]
    deadline = time.monotonic() + 60
    missing: set[str] = set(KAFKA_EXPORTER_METRICS)
    text = ""
    while time.monotonic() < deadline:
        proc = docker("exec", name, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics")
        assert proc.returncode == 0, shown(proc)
        text = proc.stdout
        missing = {m for m in KAFKA_EXPORTER_METRICS if not re.search(rf"^{m}[{{ ]", text, re.MULTILINE)}
        if not missing:
            break
        time.sleep(2)
    assert not missing, f"metrics missing from the exporter: {sorted(missing)}\n{text[-2000:]}"
    topic = TOPICS[0].name
    assert f'kafka_topic_partitions{{topic="{topic}"}}' in text, text[-2000:]
    assert re.search(rf'kafka_consumergroup_lag\{{consumergroup="{GROUP}",partition="\d+",topic="{topic}"\}}', text)


def test_a_restart_meets_the_formatted_volume(kafka: tuple[Sandbox, Render, str]) -> None:
    """Restarted on the same data volume, the broker starts again (storage already formatted) and is healthy."""
    _, dev, name = kafka
    spec = container_named(dev, "payment-kafka")
    proc = docker("restart", name, timeout=120)
    assert proc.returncode == 0, shown(proc)
    seconds = wait_healthy(name, spec.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
    print(f"kafka: healthy again after a restart in {seconds:.1f} s")
    listed = set(tool(name, "kafka-topics.sh", "--list").split())
    assert {t.name for t in TOPICS} <= listed, f"topics after the restart: {sorted(listed)}"
