"""The local Kafka image runs the program's own Kafka container, and the kafka-exporter image reads it.

The rendered dev stack's `payment-kafka` (tests/images/harness.py: its user, environment, entrypoint (the
start-up wrapper), data volume and healthcheck, with the wrapper, the broker's key pair and the trust bundle
loaded by the local loader image) runs on the engine with the local image in place of `apache/kafka:4.3.1`,
with real certificates of a real CA (`tests.conftest.faithful`): the image's start command must render
server.properties from the KAFKA_* variables, format the data volume in KRaft mode with CLUSTER_ID, start
the broker with TLS and client authentication on every listener, and let the wrapper apply the catalog's
topics and ACLs with the image's tools over TLS, or the container's own healthcheck never passes. Then
clients with the services' own rendered certificates show what the ACLs allow and refuse, a client without
a certificate is refused, and `payment-kafka-exporter` (stand-in) scrapes the broker with its certificate.
A restart then meets a formatted volume.

The container runs with no network (`--network none`): its advertised listener `kafka.<network>` is mapped
to its own loopback with `--add-host`, the one departure from the rendered container. Printed timings are
shown with `pytest -s`.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization

from components.data.kafka import (
    BOOTSTRAP,
    CA_PATH,
    KafkaPaths,
    acl_bindings,
    acl_grants,
    client_key_path,
)
from components.docker.containers import STAGE
from components.observability.exporters import KAFKA_EXPORTER, KAFKA_EXPORTER_CERT, KAFKA_EXPORTER_KEY
from components.observability.metrics import KAFKA_EXPORTER as KAFKA_EXPORTER_METRICS
from components.pki import service_cert_paths
from plan.engine import Render
from stacks.catalog import KAFKA, SERVICES, TOPICS
from tests.conftest import faithful, stack_config, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import Sandbox, container_named, sandbox, wait_healthy
from vocabulary import CONTAINER

HEALTHY_WITHIN = 300
"""Seconds for the broker to format, start and apply the topics and ACLs (each tool call starts a JVM)."""
TOPIC = TOPICS[0]
PRODUCER = TOPIC.producers[0]
CONSUMER = TOPIC.consumers[0]
"""A producer and a consumer of the first catalog topic; the consumer's group is its own name."""
UNGRANTED = next(t for t in TOPICS if PRODUCER not in t.producers)
"""A topic the producer may not write to."""


def needs(*names: str) -> None:
    """Skip (fail in CI) when a contract or its local image is missing."""
    for name in names:
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        proc = docker("image", "inspect", "--format", "{{.Id}}", local_ref(CONTRACTS[name]))
        if proc.returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def tool(kafka: str, name: str, *args: str, timeout: float = 90) -> str:
    """One of the image's Kafka tools, run in the broker's container as the wrapper runs them (its own identity)."""
    command = f"{KafkaPaths().client(name)} " + " ".join(args)
    proc = docker("exec", kafka, "sh", "-c", command, timeout=timeout)
    assert proc.returncode == 0, shown(proc)
    return proc.stdout


def uploaded(render: Render, path: str) -> str:
    """The content a rendered loader uploads at `path` (as the container sees it)."""
    for loader in render.by_type(CONTAINER):
        for upload in loader.revealed_inputs.get("uploads") or []:
            if str(upload["file"]) == STAGE + path:
                return str(upload["content"])
    raise AssertionError(f"nothing rendered uploads {path}")


def identity(kafka: str, render: Render, service: str | None) -> str:
    """A client.properties in the broker's container for `service`'s rendered certificate and PKCS#8 key (None:
    TLS with no certificate at all); returns its path."""
    if service is None:
        return client_files(kafka, "anonymous", None)
    cert, _ = service_cert_paths(service)
    return client_files(kafka, service, (uploaded(render, cert), uploaded(render, client_key_path(service))))


def client_files(kafka: str, who: str, pair: tuple[str, str] | None) -> str:
    """client.properties (and the certificate and key of `pair`) under /tmp in the broker's container, written with
    umask 077 as an operator would; returns its path."""
    folder = f"/tmp/id-{who}"
    lines = ["security.protocol=SSL", "ssl.truststore.type=PEM", f"ssl.truststore.location={CA_PATH}"]
    files: dict[str, str] = {}
    if pair is not None:
        files = {"cert.pem": pair[0], "key.pem": pair[1]}
        lines += [
            "config.providers=dir",
            "config.providers.dir.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.certificate.chain=${{dir:{folder}:cert.pem}}",
            f"ssl.keystore.key=${{dir:{folder}:key.pem}}",
        ]
    files["client.properties"] = "\n".join(lines) + "\n"
    for name, content in files.items():
        script = f"umask 077 && mkdir -p {folder} && cat > {folder}/{name}"
        proc = docker("exec", "-i", kafka, "sh", "-c", script, stdin=content.encode())
        assert proc.returncode == 0, shown(proc)
    return f"{folder}/client.properties"


def as_client(kafka: str, config: str, name: str, args: str, *, stdin: bytes | None = None, timeout: float = 90) -> str:
    """A tool run with the client identity `config`; returns its combined output (it may fail: callers judge)."""
    command = f"{KafkaPaths().tool(name)} --bootstrap-server {BOOTSTRAP} --command-config {config} {args} 2>&1"
    proc = docker("exec", "-i", kafka, "sh", "-c", command, stdin=stdin, timeout=timeout)
    return proc.stdout


@pytest.fixture(scope="module")
def kafka(engine: str) -> Iterator[tuple[Sandbox, Render, str]]:
    """The rendered payment-kafka on the local image, healthy by its own healthcheck."""
    needs("kafka", "loader")
    dev = faithful("dev")
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
        print(f"kafka: healthy (KRaft formatted, TLS, topics and ACLs applied) after {seconds:.1f} s")
        yield box, dev, name


@pytest.fixture(scope="module")
def consumed(kafka: tuple[Sandbox, Render, str]) -> tuple[str, str]:
    """One message produced by a catalog producer and consumed back by a catalog consumer in its own group."""
    _, dev, name = kafka
    message = f"payment created {uuid.uuid4().hex}"
    started = time.monotonic()
    produced = as_client(
        name,
        identity(name, dev, PRODUCER),
        "kafka-console-producer.sh",
        f"--topic {TOPIC.name} --producer-property acks=all",
        stdin=f"{message}\n".encode(),
    )
    assert "AuthorizationException" not in produced and "Error when sending" not in produced, produced
    out = as_client(
        name,
        identity(name, dev, CONSUMER),
        "kafka-console-consumer.sh",
        f"--topic {TOPIC.name} --group {CONSUMER} --from-beginning --max-messages 1 --timeout-ms 60000",
        timeout=120,
    )
    print(f"kafka: {PRODUCER} produced and {CONSUMER} consumed one message in {time.monotonic() - started:.1f} s")
    return message, out


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
    assert "BEGIN" not in config.stdout, "key material in server.properties"
    meta = docker("exec", name, "sh", "-c", "cat /var/lib/kafka/data/meta.properties")
    assert meta.returncode == 0, shown(meta)
    assert "cluster.id=" in meta.stdout, meta.stdout


def test_the_broker_holds_exactly_the_catalog_acls(kafka: tuple[Sandbox, Render, str]) -> None:
    """`kafka-acls.sh --list` on the real broker shows the bindings the catalog declares, no more, no fewer."""
    _, _, name = kafka
    listing = tool(name, "kafka-acls.sh", "--list")
    found: set[tuple[str, ...]] = set()
    resource: tuple[str, ...] = ()
    for line in listing.splitlines():
        header = re.search(r"resourceType=(\w+), name=(\S+), patternType=(\w+)\)", line)
        if header:
            resource = (header.group(1), header.group(3), header.group(2))
            continue
        entry = re.search(r"\(principal=(.+), host=(\S+), operation=(\w+), permissionType=(\w+)\)", line)
        if entry:
            found.add((*resource, entry.group(1), entry.group(2), entry.group(3), entry.group(4)))
    topics = stack_config("dev").data.topics
    grants = acl_grants(topics, [s.name for s in SERVICES], KAFKA_EXPORTER)
    declared = {tuple(a.line().split("\t")) for a in acl_bindings(grants)}
    assert found == declared, f"extra: {sorted(found - declared)}\nmissing: {sorted(declared - found)}"


def test_a_producer_writes_and_a_consumer_reads_in_its_own_group(consumed: tuple[str, str]) -> None:
    """A catalog producer's message is consumed back by a catalog consumer, each with its own certificate."""
    message, out = consumed
    assert message in out, f"consumed: {out!r}"


def test_a_producer_is_refused_on_a_topic_it_was_not_granted(kafka: tuple[Sandbox, Render, str]) -> None:
    """The same producer identity cannot write to a topic the catalog does not name it a producer of."""
    _, dev, name = kafka
    out = as_client(
        name,
        identity(name, dev, PRODUCER),
        "kafka-console-producer.sh",
        f"--topic {UNGRANTED.name} --producer-property max.block.ms=20000",
        stdin=b"must not land\n",
    )
    assert "TopicAuthorizationException" in out, out


def test_a_consumer_is_refused_another_services_group(kafka: tuple[Sandbox, Render, str]) -> None:
    """A consumer may read its topics only in its own group: another service's group is refused."""
    _, dev, name = kafka
    other = next(c for c in TOPIC.consumers if c != CONSUMER)
    out = as_client(
        name,
        identity(name, dev, CONSUMER),
        "kafka-console-consumer.sh",
        f"--topic {TOPIC.name} --group {shlex.quote(other)} --from-beginning --max-messages 1 --timeout-ms 20000",
    )
    assert "GroupAuthorizationException" in out, out


def test_a_client_without_a_certificate_cannot_connect(kafka: tuple[Sandbox, Render, str]) -> None:
    """TLS without a client certificate fails the handshake (`ssl.client.auth=required`)."""
    _, dev, name = kafka
    out = as_client(name, identity(name, dev, None), "kafka-broker-api-versions.sh", "")
    assert "SslAuthenticationException" in out, out


def test_the_exporter_identity_reads_and_writes_no_message(kafka: tuple[Sandbox, Render, str]) -> None:
    """kafka-exporter's own certificate (its key as PKCS#8 for the Java tools) may describe, never consume or
    produce."""
    _, dev, name = kafka
    key = serialization.load_pem_private_key(uploaded(dev, KAFKA_EXPORTER_KEY).encode(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    config = client_files(name, KAFKA_EXPORTER, (uploaded(dev, KAFKA_EXPORTER_CERT), pkcs8))
    listed = as_client(name, config, "kafka-topics.sh", "--list")
    assert TOPIC.name in listed.split(), listed  # DESCRIBE: it sees the topics
    read = as_client(
        name,
        config,
        "kafka-console-consumer.sh",
        f"--topic {TOPIC.name} --group {KAFKA_EXPORTER} --from-beginning --max-messages 1 --timeout-ms 20000",
    )
    assert "AuthorizationException" in read, read
    written = as_client(
        name,
        config,
        "kafka-console-producer.sh",
        f"--topic {TOPIC.name} --producer-property max.block.ms=20000",
        stdin=b"must not land\n",
    )
    # Refused at the cluster (no idempotent-write right) or at the topic, whichever the producer asks first.
    assert "AuthorizationException" in written and "Error when sending" in written, written


def test_kafka_exporter_exports_what_the_dashboards_read(
    kafka: tuple[Sandbox, Render, str], consumed: tuple[str, str]
) -> None:
    """The rendered payment-kafka-exporter (stand-in image) scrapes the broker over TLS with its own certificate:
    every metric components.observability.metrics lists for it, with the topic and consumer-group labels."""
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
    assert f'kafka_topic_partitions{{topic="{TOPIC.name}"}}' in text, text[-2000:]
    assert re.search(
        rf'kafka_consumergroup_lag\{{consumergroup="{CONSUMER}",partition="\d+",topic="{TOPIC.name}"\}}', text
    )


def test_the_image_refuses_an_ssl_listener_without_the_official_key_store_variables(engine: str) -> None:
    """The official image's contract: an advertised `SSL://` listener requires KAFKA_SSL_KEYSTORE_FILENAME."""
    needs("kafka")
    with sandbox("kafka-ssl-contract") as box:
        name = box.name("broker")
        proc = docker(
            "run",
            "--name",
            name,
            "--network",
            "none",
            "--env",
            "KAFKA_PROCESS_ROLES=broker,controller",
            "--env",
            "CLUSTER_ID=5L6g3nShT-eMCtK--X86sw",
            "--env",
            "KAFKA_ADVERTISED_LISTENERS=SSL://localhost:9092",
            local_ref(CONTRACTS["kafka"]),
            timeout=60,
        )
        box.containers.append(name)
        assert proc.returncode == 1, shown(proc)
        assert "KAFKA_SSL_KEYSTORE_FILENAME environment variable not set" in proc.stdout, shown(proc)


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
