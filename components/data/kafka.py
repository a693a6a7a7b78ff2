"""Kafka for the platform: one KRaft node (broker and controller), its topics, and a fixed data volume.

Creates the pulled image, the `payment-kafka-data` volume and the `payment-kafka` container (alias
`kafka`), and hands each service its bootstrap address (`Kafka.service_files`). Shaped this way:

* KRaft, single node: one process is both broker and the only controller voter, so there is no
  ZooKeeper and nothing to keep in quorum. Every internal topic (consumer offsets, transaction state,
  share-group state) is therefore replicated once with a minimum ISR of 1; higher defaults would leave
  them impossible to create.
* Configuration is entirely environment variables. The apache/kafka image renders them into
  `server.properties` on every start (`KAFKA_` prefix dropped, `_` -> `.`, `__` -> `_`, `___` -> `-`)
  and, when any is given, uses them instead of its bundled single-node file, so every setting a
  working broker needs is set here, not inherited.
* The cluster id is derived from project and stack, not random: the image formats the data directory
  with `CLUSTER_ID` on first start and refuses a later start whose id differs from the stored
  `meta.properties`, so a replaced container must present the same id to the same volume.
* `auto.create.topics.enable=false`: a producer's typo fails loudly instead of quietly creating a
  one-partition topic. The catalog's topics are applied instead, on every start, by the start-up
  wrapper (`components.docker.startup`): created when missing, partitions raised when the config asks for
  more (Kafka cannot remove partitions, so a lower number only warns), retention set where it differs.
  The wrapper is uploaded, so a new topic, partition count or retention changes it, Docker replaces
  the container, and `pulumi up` applies the change; the healthcheck stays red until the topics are in
  place.
* Three listeners: `INTERNAL` (9092, advertised as `kafka.<network>:9092`) for services and the
  inter-broker traffic; `HOST` (29092, advertised as `localhost:<published port>`) only where the
  profile publishes Kafka, which is what the published port maps to; `CONTROLLER` (9093) for the
  KRaft quorum, never published.
* The broker's heap is half the container's memory limit: the image's default (1G) would fill the
  whole dev limit, and Kafka serves reads from the page cache, which needs the rest. The command-line
  tools the wrapper and healthcheck run get a small heap of their own instead of inheriting it.
* The data volume is mounted at the image's own data directory, `/var/lib/kafka/data`: an empty named
  volume takes that directory's ownership (the image's `appuser`, uid 1000), so the non-root broker can
  write to it; mounted anywhere else it would be root's. Its logical name is fixed (`kafka-data`), so
  renaming the component never replaces (and so never empties) it; it is retained on delete everywhere
  and protected in prod (see `components.docker.containers.data_volume`).
"""

from __future__ import annotations

import base64
import shlex
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import pulumi
import pulumi_docker as docker

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.docker.startup import WRAPPER_PATH, wrapper_script
from stacks.catalog import KAFKA
from stacks.models import Infrastructure, Topic

# The catalog's listeners: `INTERNAL` (`port`) for services, inter-broker traffic and the in-container tools;
# `HOST` (`ports["host"]`), what the published port maps to, advertised with the host's address; `CONTROLLER`
# (`ports["controller"]`) of the KRaft quorum, never published.
HOST = "host"
CONTROLLER = "controller"

NODE_ID = 1
KAFKA_UID = 1000
"""The image's `appuser` (uid and gid 1000); it owns the image's data directory and `/opt/kafka/config`."""

DATA_DIR = "/var/lib/kafka/data"
"""The image's data directory: `log.dirs`, KRaft metadata included, and where the volume is mounted."""

BOOTSTRAP = f"localhost:{KAFKA.port}"
"""What the in-container tools connect to."""

TOOL_HEAP = "-Xmx128m"
"""Heap of the Kafka command-line tools run beside the broker (topics, healthcheck). Without it they
inherit the broker's `KAFKA_HEAP_OPTS` and each would reserve the broker's whole heap again."""

MILLISECONDS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class KafkaPaths:
    """Where things live inside the container (tests point these at stub programs in a temporary folder)."""

    bin_dir: str = "/opt/kafka/bin"
    """The distribution's scripts: kafka-topics.sh, kafka-configs.sh, kafka-broker-api-versions.sh."""
    server: Sequence[str] = field(default_factory=lambda: ("/etc/kafka/docker/run",))
    """The image's own start command (its CMD): renders the configuration, formats storage, starts Kafka."""
    marker: str = "/tmp/payment-topics.done"
    """Written once the topics are applied; the healthcheck requires it. /tmp is writable by appuser and
    not on the data volume, so a replacement container never inherits one; the wrapper removes a marker
    left by an earlier start of the same container before it applies anything."""

    def tool(self, name: str) -> str:
        """A command line prefix that runs one of the distribution's tools with a small heap."""
        return f"KAFKA_HEAP_OPTS={TOOL_HEAP} {shlex.quote(f'{self.bin_dir}/{name}')}"


def cluster_id(project: str, stack: str) -> str:
    """A KRaft cluster id (16 bytes, base64url without padding: 22 characters) stable per project and stack.

    Ids that start with `-` are skipped, as Kafka's own generator does: a command line would read one
    as an option.
    """
    for attempt in range(1000):
        name = f"payment-platform/kafka/{project}/{stack}" + (f"/{attempt}" if attempt else "")
        raw = uuid.uuid5(uuid.NAMESPACE_URL, name).bytes
        encoded = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded
    raise AssertionError("unreachable: about half of all ids do not start with '-'")


def property_env(name: str) -> str:
    """The environment variable the apache/kafka image turns into the server property `name`."""
    # Underscores first: the underscores that stand for '-' and '.' must not be doubled.
    return "KAFKA_" + name.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def _host_listener_address(address: IPv4Address) -> str:
    # A port published on loopback (dev) or on every address is reached as localhost from the host;
    # one bound to a specific address is reached there.
    return "localhost" if address.is_loopback or address.is_unspecified else str(address)


def server_properties(infra: Infrastructure) -> dict[str, str]:
    """The broker's `server.properties`, which the image renders from `kafka_environment`."""
    listeners = {"INTERNAL": infra.port, "CONTROLLER": infra.ports[CONTROLLER]}
    advertised = {"INTERNAL": infra.address()}
    if infra.workload.publish.enabled:
        listeners["HOST"] = infra.ports[HOST]
        advertised["HOST"] = f"{_host_listener_address(infra.workload.publish.address)}:{infra.published_port}"
    return {
        "node.id": str(NODE_ID),
        "process.roles": "broker,controller",
        "controller.quorum.voters": f"{NODE_ID}@localhost:{infra.ports[CONTROLLER]}",
        "controller.listener.names": "CONTROLLER",
        # An empty host binds every interface; 0.0.0.0 would be rejected as the advertised address of
        # the controller listener, which is advertised as it is listed.
        "listeners": ",".join(f"{name}://:{port}" for name, port in listeners.items()),
        "advertised.listeners": ",".join(f"{name}://{address}" for name, address in advertised.items()),
        # PLAINTEXT everywhere: the traffic stays on the private bridge network (the HOST listener only
        # where the profile publishes it, on loopback in dev). TLS for Kafka is future work.
        "listener.security.protocol.map": ",".join(f"{name}:PLAINTEXT" for name in listeners),
        "inter.broker.listener.name": "INTERNAL",
        "log.dirs": DATA_DIR,
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        # Share groups are on by default since Kafka 4.2; their state topic defaults to 3 replicas.
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # One broker: waiting for more group members to join before the first rebalance gains nothing.
        "group.initial.rebalance.delay.ms": "0",
    }


def kafka_environment(infra: Infrastructure, cluster: str) -> dict[str, str]:
    """The container's environment: every server property, the cluster id (`cluster_id`) and the broker's heap."""
    limit = infra.workload.limits.memory.mebibytes
    env = {property_env(name): value for name, value in server_properties(infra).items()}
    env["CLUSTER_ID"] = cluster
    heap = max(limit // 2, 128)
    env["KAFKA_HEAP_OPTS"] = f"-Xms{heap}m -Xmx{heap}m"
    return env


def _topic_pattern(name: str) -> str:
    # kafka-topics.sh reads --topic as a Java regular expression (full match) when altering; '.' is the
    # only metacharacter a topic name may hold, so escaping it makes the match exact.
    return name.replace(".", r"\.")


# The body of the apply step. `kafka-topics.sh --describe` prints one tab-separated summary line per topic,
# `Topic: <name>\tTopicId: <id>\tPartitionCount: <n>\tReplicationFactor: <r>\tConfigs: <k=v,...>` (the
# configs that differ from the defaults), then one line per partition that starts with a tab. One
# describe call tells what exists, with how many partitions and which retention, so a restart with
# nothing to change starts one tool, not two per topic (each is a JVM start).
_APPLY_TOPIC = r"""current=$(kafka_topics --describe --exclude-internal) || exit 1
# apply_topic NAME PATTERN PARTITIONS RETENTION_MS; PATTERN is NAME as a regular expression.
apply_topic() {
  state=$(printf '%s\n' "$current" | awk -F '\t' -v name="Topic: $1" '
    $1 == name {
      partitions = ""; retention = "default"
      for (i = 2; i <= NF; i++) {
        if (index($i, "PartitionCount: ") == 1) partitions = substr($i, 17)
        if (index($i, "Configs: ") == 1) {
          n = split(substr($i, 10), configs, ",")
          for (j = 1; j <= n; j++) if (index(configs[j], "retention.ms=") == 1) retention = substr(configs[j], 14)
        }
      }
      print partitions, retention
      exit
    }')
  if [ -z "$state" ]; then
    # No --if-not-exists: if the topic exists after all, the describe output was misread, and
    # carrying on would silently skip its partitions and retention.
    kafka_topics --create --topic "$1" --partitions "$3" --replication-factor 1 --config "retention.ms=$4" ||
      return 1
    return 0
  fi
  partitions=${state% *}
  retention=${state#* }
  case "$partitions" in
    '' | *[!0-9]*)
      echo "payment-start: cannot read the partition count of topic $1" >&2
      return 1 ;;
  esac
  if [ "$partitions" -lt "$3" ]; then
    kafka_topics --alter --topic "$2" --partitions "$3" || return 1
  elif [ "$partitions" -gt "$3" ]; then
    echo "payment-start: warning: topic $1 has $partitions partitions and the configuration asks for $3;" \
      "Kafka cannot remove partitions, so it keeps $partitions" >&2
  fi
  if [ "$retention" != "$4" ]; then
    kafka_configs --entity-type topics --entity-name "$1" --alter --add-config "retention.ms=$4" || return 1
  fi
}
"""


def topics_script(topics: Iterable[Topic], bootstrap: str = BOOTSTRAP, paths: KafkaPaths | None = None) -> str:
    """The POSIX sh "apply" step: make the broker's topics match `topics`.

    A missing topic is created with its partitions, one replica and `retention.ms`. An existing one gets
    more partitions when it has fewer than asked (never fewer: Kafka cannot remove partitions, so that
    only warns) and its `retention.ms` set when it differs. Topics outside the list are left alone. Every
    step's failure fails the script: it runs as an `if` condition in the wrapper, where `set -e` does
    not apply.
    """
    paths = paths or KafkaPaths()
    server = f"--bootstrap-server {shlex.quote(bootstrap)}"
    lines = [
        f'kafka_topics() {{ {paths.tool("kafka-topics.sh")} {server} "$@"; }}',
        f'kafka_configs() {{ {paths.tool("kafka-configs.sh")} {server} "$@"; }}',
        _APPLY_TOPIC.rstrip("\n"),
    ]
    for topic in topics:
        retention_ms = topic.retention_hours * MILLISECONDS_PER_HOUR
        arguments = [topic.name, _topic_pattern(topic.name), str(topic.partitions), str(retention_ms)]
        lines.append(f"apply_topic {shlex.join(arguments)} || exit 1")
    return "\n".join(lines) + "\n"


def start_script(topics: Iterable[Topic], paths: KafkaPaths | None = None) -> str:
    """The container's entrypoint: start Kafka, wait until it answers, apply the topics, mark it done."""
    paths = paths or KafkaPaths()
    return wrapper_script(
        server=paths.server,
        ready=f"{paths.tool('kafka-topics.sh')} --bootstrap-server {BOOTSTRAP} --list >/dev/null 2>&1",
        apply=topics_script(topics, BOOTSTRAP, paths),
        marker=paths.marker,
    )


def healthcheck(paths: KafkaPaths | None = None) -> list[str]:
    """Healthy once the topics are applied and the broker answers an API-versions request."""
    paths = paths or KafkaPaths()
    return [
        "CMD-SHELL",
        f"test -f {shlex.quote(paths.marker)} && "
        f"{paths.tool('kafka-broker-api-versions.sh')} --bootstrap-server {BOOTSTRAP} >/dev/null",
    ]


@dataclass(frozen=True)
class KafkaArgs:
    infra: Infrastructure
    """Kafka's catalog entry, resolved: listeners, image, sizing, exposure."""
    topics: tuple[Topic, ...]
    cluster_id: str
    """The KRaft cluster id (`cluster_id(project, stack)`): the data volume holds it, so it never changes."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""


class Kafka(pulumi.ComponentResource):
    """The platform's Kafka: one KRaft node whose topics follow the stack configuration."""

    container: docker.Container
    bootstrap_servers: str
    """What services connect to: `kafka.<network>:9092`."""
    client_env: dict[str, str]
    """What a service container is given to reach Kafka."""

    def __init__(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:data:Kafka", name, None, opts)
        paths = KafkaPaths()
        self.bootstrap_servers = args.infra.address()
        files = ContainerFiles(
            env=kafka_environment(args.infra, args.cluster_id),
            uploads=(upload(WRAPPER_PATH, start_script(args.topics, paths), KAFKA_UID, "0555"),),
        )
        self.container = infrastructure_container(
            name,
            args.infra,
            args.host,
            InfraSpec(
                healthcheck=healthcheck(paths),
                user=f"{KAFKA_UID}:{KAFKA_UID}",
                files=files,
                data_path=DATA_DIR,
                # Replaces the image's CMD (`/etc/kafka/docker/run`), which the wrapper starts itself.
                entrypoint=[WRAPPER_PATH],
            ),
            parent=self,
        )
        self.client_env = {"KAFKA_BROKERS": self.bootstrap_servers}
        self.register_outputs({"containerName": self.container.name, "bootstrapServers": self.bootstrap_servers})


IMAGE_CONTRACT = ImageContract(
    stands_for=str(KAFKA.image),
    local=KAFKA.name,
    # The image's appuser; the container also runs as it.
    user=f"{KAFKA_UID}:{KAFKA_UID}",
    run_as=f"{KAFKA_UID}:{KAFKA_UID}",
    # The component replaces the entrypoint with its wrapper, which starts the image's CMD itself.
    entrypoint=None,
    # The image's start command (renders server.properties from KAFKA_*, formats storage with CLUSTER_ID),
    # the tools the wrapper and healthcheck run, and what the wrapper's shell script calls.
    executables=(
        *KafkaPaths().server,
        *(f"{KafkaPaths().bin_dir}/{tool}" for tool in ("kafka-topics.sh", "kafka-configs.sh")),
        f"{KafkaPaths().bin_dir}/kafka-broker-api-versions.sh",
        "sh",
        "awk",
        "rm",
        "touch",
        "sleep",
        "kill",
    ),
    paths=(
        # An empty data volume takes this folder's owner: the broker (appuser) must write its logs there.
        PathContract(DATA_DIR, owner=f"{KAFKA_UID}:0"),
        # The image's start command renders server.properties here on every start (the root stays writable).
        PathContract("/opt/kafka/config", owner=f"{KAFKA_UID}:{KAFKA_UID}"),
        # The wrapper's marker lies in /tmp.
        PathContract("/tmp", owner="0:0", mode=0o1777),
    ),
    probe=(f"{KafkaPaths().bin_dir}/kafka-topics.sh", "--version"),
    ports=(KAFKA.port,),
)
"""What this module relies on from `apache/kafka` (checked against local builds by tests/images)."""
