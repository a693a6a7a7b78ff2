"""m. Kafka identities: the live broker holds exactly the catalog's ACLs; a producer of a topic produces to it
with its own certificate and is refused on a topic it was not granted; a client without a certificate cannot
connect.

The demo services have no Kafka client, so the Kafka CLI inside `payment-kafka` plays the service: the
service's own certificate and PKCS#8 key are read from its container (`payment-<service>`) and piped into
`payment-kafka`'s /tmp (tmpfs) with umask 077, never onto the host's disk. Whether a message landed is read
from the topic's end offsets as the broker's own identity (no consumer group is left behind); the console
producer exits 0 even when the broker refuses it, so its output is what tells a refusal. Tear-down removes the
copied files, whatever happened.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from components.data.kafka import BOOTSTRAP, CA_PATH, CLIENT_CONFIG, acl_bindings, acl_grants, client_key_path
from components.observability.exporters import KAFKA_EXPORTER
from components.pki import service_cert_paths
from stacks.catalog import TOPICS
from tests.conftest import stack_config
from tests.e2e.live import Live, docker_exec

KAFKA = "payment-kafka"
TOPIC = TOPICS[0]
PRODUCER = TOPIC.producers[0]
"""payment-gateway: a producer of payment.events in the catalog."""
UNGRANTED = next(t for t in TOPICS if PRODUCER not in t.producers)
"""A topic the catalog does not let the producer write to."""
WORK = "/tmp/e2e-kafka-acl"
TOOLS = "KAFKA_HEAP_OPTS=-Xmx64m /opt/kafka/bin"


def in_kafka(command: str, *, stdin: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """`sh -c command` inside payment-kafka, with stdin; the result, whatever its exit code."""
    args = ["docker", "exec", "-i", KAFKA, "sh", "-c", command]
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)


def write(path: str, content: str) -> None:
    out = in_kafka(f"umask 077 && mkdir -p {WORK} && cat > {path}", stdin=content)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def identities(deployed: Live) -> Iterator[dict[str, str]]:
    """client.properties files in payment-kafka: the producer's certificate, and TLS with no certificate."""
    cert, _ = service_cert_paths(PRODUCER)
    try:
        files = {}
        for name, path in (("cert.pem", cert), ("key.pem", client_key_path(PRODUCER))):
            read = docker_exec(f"payment-{PRODUCER}", "cat", path)
            assert read.returncode == 0 and "BEGIN" in read.stdout, f"cannot read {path}: {read.stderr}"
            files[name] = read.stdout
        trust = f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={CA_PATH}\n"
        write(f"{WORK}/cert.pem", files["cert.pem"])
        write(f"{WORK}/key.pem", files["key.pem"])
        write(
            f"{WORK}/producer.properties",
            trust
            + "config.providers=dir\n"
            + "config.providers.dir.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider\n"
            + "ssl.keystore.type=PEM\n"
            + f"ssl.keystore.certificate.chain=${{dir:{WORK}:cert.pem}}\n"
            + f"ssl.keystore.key=${{dir:{WORK}:key.pem}}\n",
        )
        write(f"{WORK}/anonymous.properties", trust)
        yield {"producer": f"{WORK}/producer.properties", "anonymous": f"{WORK}/anonymous.properties"}
    finally:
        in_kafka(f"rm -rf {WORK}", timeout=30)


def end_offsets(topic: str) -> int:
    """The sum of the topic's end offsets, read as the broker's own identity (no consumer group)."""
    out = in_kafka(
        f"{TOOLS}/kafka-run-class.sh org.apache.kafka.tools.GetOffsetShell --bootstrap-server {BOOTSTRAP} "
        f"--command-config {CLIENT_CONFIG} --topic {topic}"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    offsets = re.findall(rf"^{re.escape(topic)}:\d+:(\d+)$", out.stdout, re.MULTILINE)
    assert offsets, out.stdout
    return sum(int(o) for o in offsets)


def produce(config: str, topic: str) -> str:
    """One message from the console producer with the identity `config`; its combined output."""
    out = in_kafka(
        f"{TOOLS}/kafka-console-producer.sh --bootstrap-server {BOOTSTRAP} --command-config {config} "
        f"--topic {topic} --producer-property acks=all --producer-property max.block.ms=20000 2>&1",
        stdin=f"e2e {uuid.uuid4().hex}\n",
    )
    return out.stdout


def test_the_broker_holds_exactly_the_catalog_acls(deployed: Live) -> None:
    """`kafka-acls.sh --list` on the live broker: the catalog's grants for the deployed services, nothing else."""
    out = in_kafka(f"{TOOLS}/kafka-acls.sh --bootstrap-server {BOOTSTRAP} --command-config {CLIENT_CONFIG} --list")
    assert out.returncode == 0, out.stdout + out.stderr
    found: set[tuple[str, ...]] = set()
    resource: tuple[str, ...] = ()
    for line in out.stdout.splitlines():
        header = re.search(r"resourceType=(\w+), name=(\S+), patternType=(\w+)\)", line)
        if header:
            resource = (header.group(1), header.group(3), header.group(2))
        entry = re.search(r"\(principal=(.+), host=(\S+), operation=(\w+), permissionType=(\w+)\)", line)
        if entry:
            found.add((*resource, *entry.groups()))
    services = sorted(deployed.outputs()["services"])
    grants = acl_grants(stack_config("dev").data.topics, services, KAFKA_EXPORTER)
    declared = {tuple(acl.line().split("\t")) for acl in acl_bindings(grants)}
    assert found == declared, f"extra: {sorted(found - declared)}\nmissing: {sorted(declared - found)}"
    deployed.results["kafkaAcls"] = len(found)


def test_a_producer_produces_to_its_topic_with_its_own_certificate(identities: dict[str, str]) -> None:
    """payment-gateway's certificate may write to payment.events: the topic's end offset moves."""
    started = time.monotonic()
    before = end_offsets(TOPIC.name)
    output = produce(identities["producer"], TOPIC.name)
    assert "AuthorizationException" not in output and "Error when sending" not in output, output
    after = end_offsets(TOPIC.name)
    assert after == before + 1, f"end offsets {before} -> {after}; producer said: {output}"
    print(f"{PRODUCER} produced to {TOPIC.name} in {time.monotonic() - started:.1f} s")


def test_the_same_producer_is_refused_on_a_topic_it_was_not_granted(identities: dict[str, str]) -> None:
    """The same certificate is refused on a topic the catalog does not name it a producer of."""
    before = end_offsets(UNGRANTED.name)
    output = produce(identities["producer"], UNGRANTED.name)
    assert "TopicAuthorizationException" in output, output
    assert end_offsets(UNGRANTED.name) == before, "a refused message landed"


def test_a_client_without_a_certificate_cannot_connect(identities: dict[str, str]) -> None:
    """TLS with the platform CA but no client certificate: the handshake fails."""
    out = in_kafka(
        f"{TOOLS}/kafka-broker-api-versions.sh --bootstrap-server {BOOTSTRAP} "
        f"--command-config {identities['anonymous']} 2>&1"
    )
    assert out.returncode != 0, out.stdout
    assert "SslAuthenticationException" in out.stdout, out.stdout
