"""Kafka for the platform: one KRaft node (broker and controller), its topics, its ACLs, and a fixed data volume.

Creates the pulled image, the `payment-kafka-data` volume and the `payment-kafka` container (alias
`kafka`), and hands each service its bootstrap address and TLS client contract (`Kafka.client_files`).
Shaped this way:

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
* Every listener is TLS with a required client certificate (`ssl.client.auth=required`), the broker's
  own certificate from the platform CA (`kafka`, `kafka.<network>`, localhost) and the trust bundle as
  PEM. A client's principal is its certificate's common name (`User:<service>`); a certificate without
  one matches no mapping rule and is refused. `StandardAuthorizer` with `allow.everyone.if.no.acl.found
  =false`: only the broker itself (`User:kafka`, which the controller listener, the wrapper and the
  healthcheck connect as) is a super user; every other identity has exactly the ACLs `acl_bindings` builds
  from the catalog's producers and consumers (the operator's and other platform certificates: none).
* The key reaches Kafka through `DirectoryConfigProvider` references (`${dir:/etc/kafka/secrets:kafka.key}`
  as `ssl.keystore.key`), so the environment and `docker inspect` hold paths, never key material. Not
  `ssl.keystore.location`: a PEM key store file needs an encrypted key and its password (Kafka's
  `DefaultSslEngineFactory`), which would be one more secret guarding nothing. The listener names carry
  no `SSL` (the protocol is set by `listener.security.protocol.map`), so the apache/kafka image's
  `configure` step, which demands JKS/PKCS12 file names and password files (`KAFKA_SSL_KEYSTORE_FILENAME`,
  `KAFKA_SSL_KEY_CREDENTIALS`, ...) only when an advertised listener contains `SSL://`, leaves this PEM
  configuration alone; our local image runs the same check.
* ACLs are applied by the start-up wrapper after the topics, idempotently: one `kafka-acls.sh --list`,
  an `--add` only for a grant not yet there, and a `--remove` of every ACL the catalog no longer
  declares (ACLs added by hand included: the catalog is the whole list). They live in the KRaft
  metadata on the data volume, so only the first start pays for creating them.
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
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.docker.startup import WRAPPER_PATH, wrapper_script
from components.pki import CA_FILE, LeafCertificate, service_cert_paths
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

SECRETS_DIR = "/etc/kafka/secrets"
"""The image's folder for key material (a VOLUME in apache/kafka); one files volume is mounted over it."""
KEY_NAME = f"{KAFKA.name}.key"
"""The broker's private key, PKCS#8 PEM (0400): `ssl.keystore.key` through the `dir` config provider."""
CERT_NAME = f"{KAFKA.name}.crt"
"""The broker's certificate, PEM: `ssl.keystore.certificate.chain` through the `dir` config provider."""
CA_PATH = f"{SECRETS_DIR}/ca.pem"
"""The platform's trust bundle: `ssl.truststore.location` (a PEM trust store needs no password)."""
CLIENT_CONFIG = f"{SECRETS_DIR}/client.properties"
"""What the wrapper's and healthcheck's tools connect with: TLS as the broker itself (no key material in it)."""

BROKER_PRINCIPAL = f"User:{KAFKA.name}"
"""The broker's own identity (its certificate's CN): the one super user."""
PRINCIPAL_MAPPING_RULE = "RULE:^CN=([^,]+)(,.*)?$/$1/"
"""`ssl.principal.mapping.rules`: the subject's common name (Java prints `CN=...,OU=...,O=...` first) is the
user name. No `DEFAULT` fallback: a certificate without a CN matches no rule and its connection is refused."""
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
DIRECTORY_PROVIDER = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"

TOOL_HEAP = "-Xmx128m"
"""Heap of the Kafka command-line tools run beside the broker (topics, healthcheck). Without it they
inherit the broker's `KAFKA_HEAP_OPTS` and each would reserve the broker's whole heap again."""
TOOL_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true"
"""`KAFKA_JVM_PERFORMANCE_OPTS` of those tools: each is a JVM that lives a few seconds, where the C1 compiler
alone and the serial collector start markedly cheaper than the distribution's G1 and tiered defaults. The
first start runs some two dozen of them (topics and ACLs) while the broker itself is warming up."""

MILLISECONDS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class KafkaPaths:
    """Where things live inside the container (tests point these at stub programs in a temporary folder)."""

    bin_dir: str = "/opt/kafka/bin"
    """The distribution's scripts: kafka-topics.sh, kafka-configs.sh, kafka-acls.sh, kafka-broker-api-versions.sh."""
    server: Sequence[str] = field(default_factory=lambda: ("/etc/kafka/docker/run",))
    """The image's own start command (its CMD): renders the configuration, formats storage, starts Kafka."""
    client_config: str = CLIENT_CONFIG
    """The tools' `--command-config`: TLS with the broker's own identity."""
    marker: str = "/tmp/payment-topics.done"
    """Written once the topics are applied; the healthcheck requires it. /tmp is writable by appuser and
    not on the data volume, so a replacement container never inherits one; the wrapper removes a marker
    left by an earlier start of the same container before it applies anything."""

    def tool(self, name: str) -> str:
        """A command line prefix that runs one of the distribution's tools with a small heap."""
        jvm = shlex.quote(TOOL_JVM)
        return f"KAFKA_HEAP_OPTS={TOOL_HEAP} KAFKA_JVM_PERFORMANCE_OPTS={jvm} {shlex.quote(f'{self.bin_dir}/{name}')}"

    def client(self, name: str, bootstrap: str = BOOTSTRAP) -> str:
        """`tool(name)` connected to `bootstrap` over TLS as the broker itself."""
        config = shlex.quote(self.client_config)
        return f"{self.tool(name)} --bootstrap-server {shlex.quote(bootstrap)} --command-config {config}"


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
        # TLS everywhere, the controller listener included (the broker connects to it as User:kafka).
        "listener.security.protocol.map": ",".join(f"{name}:SSL" for name in listeners),
        "inter.broker.listener.name": "INTERNAL",
        **tls_properties(),
        "ssl.client.auth": "required",
        "ssl.principal.mapping.rules": PRINCIPAL_MAPPING_RULE,
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": BROKER_PRINCIPAL,
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


def tls_properties() -> dict[str, str]:
    """The broker's key pair and trust store, as the broker and its in-container clients both configure them.

    The key and certificate are read by the `dir` config provider (restricted to the secrets folder), so
    the properties name files and hold no key material; the trust store is a PEM file.
    """
    return {
        "config.providers": "dir",
        "config.providers.dir.class": DIRECTORY_PROVIDER,
        "config.providers.dir.param.allowed.paths": SECRETS_DIR,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.key": f"${{dir:{SECRETS_DIR}:{KEY_NAME}}}",
        "ssl.keystore.certificate.chain": f"${{dir:{SECRETS_DIR}:{CERT_NAME}}}",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": CA_PATH,
    }


def client_properties() -> str:
    """`client.properties` of the in-container tools: TLS as the broker itself, the one super user."""
    lines = [
        "# Generated by payment-platform (components/data/kafka.py): the broker's own identity.",
        "security.protocol=SSL",
    ]
    lines += [f"{name}={value}" for name, value in tls_properties().items()]
    return "\n".join(lines) + "\n"


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
    lines = [
        f'kafka_topics() {{ {paths.client("kafka-topics.sh", bootstrap)} "$@"; }}',
        f'kafka_configs() {{ {paths.client("kafka-configs.sh", bootstrap)} "$@"; }}',
        _APPLY_TOPIC.rstrip("\n"),
    ]
    for topic in topics:
        retention_ms = topic.retention_hours * MILLISECONDS_PER_HOUR
        arguments = [topic.name, _topic_pattern(topic.name), str(topic.partitions), str(retention_ms)]
        lines.append(f"apply_topic {shlex.join(arguments)} || exit 1")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, order=True)
class Acl:
    """One Kafka ACL binding: allow `principal` `operation` on a resource, from any host."""

    resource_type: str
    """`TOPIC`, `GROUP` or `CLUSTER` (Kafka's `ResourceType` names)."""
    pattern_type: str
    """`LITERAL` (`*` as the name: every resource of the type)."""
    resource: str
    principal: str
    operation: str
    """Kafka's `AclOperation` name: `READ`, `WRITE`, `DESCRIBE`."""
    host: str = "*"
    permission: str = "ALLOW"

    def line(self) -> str:
        """The binding as `acls_script` compares it: the fields of `kafka-acls.sh --list`, tab-separated."""
        return "\t".join(
            (
                self.resource_type,
                self.pattern_type,
                self.resource,
                self.principal,
                self.host,
                self.operation,
                self.permission,
            )
        )


@dataclass(frozen=True)
class AclGrant:
    """One `kafka-acls.sh --add` call: `operations` on every resource for every principal (its cartesian product)."""

    principals: tuple[str, ...]
    operations: tuple[str, ...]
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    cluster: bool = False

    def bindings(self) -> tuple[Acl, ...]:
        resources = [("TOPIC", t) for t in self.topics] + [("GROUP", g) for g in self.groups]
        resources += [("CLUSTER", CLUSTER_RESOURCE)] if self.cluster else []
        return tuple(
            sorted(
                Acl(kind, "LITERAL", name, principal, operation)
                for kind, name in resources
                for principal in self.principals
                for operation in self.operations
            )
        )

    def arguments(self) -> list[str]:
        args = ["--add"]
        args += [a for p in self.principals for a in ("--allow-principal", p)]
        args += [a for o in self.operations for a in ("--operation", o)]
        args += [a for t in self.topics for a in ("--topic", t)]
        args += [a for g in self.groups for a in ("--group", g)]
        return args + (["--cluster"] if self.cluster else [])


CLUSTER_RESOURCE = "kafka-cluster"
"""The name Kafka gives the one cluster resource."""
EVERY = "*"
"""A literal resource name `*`: every resource of its type."""


def principal(identity: str) -> str:
    """The Kafka principal of a platform certificate's subject (`PRINCIPAL_MAPPING_RULE`)."""
    return f"User:{identity}"


def acl_grants(topics: Iterable[Topic], services: Iterable[str], exporter: str) -> tuple[AclGrant, ...]:
    """Every ACL the broker holds, as the `--add` calls that create them.

    * Producers of a topic: WRITE and DESCRIBE on it (one call per topic). WRITE covers idempotent
      producing (KIP-679); no CREATE, topics are the deployment's.
    * Consumers: READ and DESCRIBE on each topic they consume and on their own consumer group, named after
      the service (one call per service). A literal group: a service cannot join, read the offsets of, or
      reset another's group.
    * The exporter: DESCRIBE on every topic, every group and the cluster (metadata, offsets, lag), and
      nothing that reads or writes a message.

    Only services that run in this stack (`services`) get grants; a catalog producer that is not deployed
    gets none, so no ACL names a principal that does not exist.
    """
    deployed = set(services)
    listed = list(topics)
    grants: list[AclGrant] = []
    for topic in listed:
        producers = tuple(principal(p) for p in topic.producers if p in deployed)
        if producers:
            grants.append(AclGrant(producers, ("WRITE", "DESCRIBE"), topics=(topic.name,)))
    consumers = sorted({c for t in listed for c in t.consumers if c in deployed})
    for consumer in consumers:
        consumed = tuple(t.name for t in listed if consumer in t.consumers)
        grants.append(AclGrant((principal(consumer),), ("READ", "DESCRIBE"), topics=consumed, groups=(consumer,)))
    grants.append(AclGrant((principal(exporter),), ("DESCRIBE",), topics=(EVERY,), groups=(EVERY,), cluster=True))
    return tuple(grants)


def acl_bindings(grants: Iterable[AclGrant]) -> tuple[Acl, ...]:
    """The bindings `grants` create, sorted, without duplicates."""
    return tuple(sorted({acl for grant in grants for acl in grant.bindings()}))


# The body of the ACL step. `kafka-acls.sh --list` prints, per resource, a line
# "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=<name>, patternType=LITERAL)`:" and
# one line per binding, "(principal=User:x, host=*, operation=WRITE, permissionType=ALLOW)". `acl_lines`
# turns that into `Acl.line()` form, so what exists and what is declared compare as plain lines.
_APPLY_ACLS = r"""tab=$(printf '	')
acl_lines() {
  awk '
    /^Current ACLs for resource `ResourcePattern\(/ {
      rest = $0; sub(/^[^(]*\(resourceType=/, "", rest)
      type = rest; sub(/, name=.*/, "", type)
      name = rest; sub(/^[^,]*, name=/, "", name); sub(/, patternType=[A-Z_]*\)`:.*$/, "", name)
      pattern = rest; sub(/.*, patternType=/, "", pattern); sub(/\)`:.*$/, "", pattern)
      next
    }
    /^[ 	]*\(principal=/ {
      rest = $0; sub(/^[ 	]*\(principal=/, "", rest)
      principal = rest; sub(/, host=.*/, "", principal)
      host = rest; sub(/.*, host=/, "", host); sub(/, operation=.*/, "", host)
      operation = rest; sub(/.*, operation=/, "", operation); sub(/, permissionType=.*/, "", operation)
      permission = rest; sub(/.*, permissionType=/, "", permission); sub(/\).*/, "", permission)
      print type "	" pattern "	" name "	" principal "	" host "	" operation "	" permission
    }'
}
listing=$(kafka_acls --list) || exit 1
current=$(printf '%s
' "$listing" | acl_lines)
has() { printf '%s
' "$current" | grep -Fxq -e "$1"; }
# remove_acl TYPE PATTERN NAME PRINCIPAL HOST OPERATION PERMISSION: one binding that is no longer declared.
# Every value stays quoted: a name or host of `*` must reach the tool as it is, not as a list of file names.
remove_acl() {
  echo "payment-start: removing an ACL the catalog no longer declares: $*" >&2
  case "$7" in
    ALLOW) side=allow ;;
    *) side=deny ;;
  esac
  case "$1" in
    TOPIC) remove_binding "$@" --topic "$3" ;;
    GROUP) remove_binding "$@" --group "$3" ;;
    TRANSACTIONAL_ID) remove_binding "$@" --transactional-id "$3" ;;
    CLUSTER) remove_binding "$@" --cluster ;;
    *) echo "payment-start: warning: an ACL on a $1 resource is not the platform's kind; left in place" >&2 ;;
  esac
}
# remove_binding TYPE PATTERN NAME PRINCIPAL HOST OPERATION PERMISSION RESOURCE-OPTION...
remove_binding() {
  pattern=$2 who=$4 host=$5 operation=$6
  shift 7
  kafka_acls --remove --force --resource-pattern-type "$pattern" "$@" \
    "--$side-principal" "$who" "--$side-host" "$host" --operation "$operation"
}
"""


def acls_script(grants: Sequence[AclGrant], bootstrap: str = BOOTSTRAP, paths: KafkaPaths | None = None) -> str:
    """The POSIX sh ACL step: make the broker's ACLs exactly `grants`.

    Lists the ACLs once; runs a grant's `--add` only when one of its bindings is missing (adding an
    existing binding is harmless, so a partly applied grant is simply re-run); then removes every listed
    binding that no grant declares. Each failure fails the script.
    """
    paths = paths or KafkaPaths()
    desired = "\n".join(acl.line() for acl in acl_bindings(grants))
    lines = [f'kafka_acls() {{ {paths.client("kafka-acls.sh", bootstrap)} "$@"; }}', _APPLY_ACLS.rstrip("\n")]
    for grant in grants:
        missing = " || ".join(f"! has {shlex.quote(acl.line())}" for acl in grant.bindings())
        lines.append(f"if {missing}; then kafka_acls {shlex.join(grant.arguments())} >/dev/null || exit 1; fi")
    # `grep -e ''` would match every line: with no bindings declared, every listed one is extra.
    select = "grep -Fxv -e \"$desired\" | grep -v '^$' || true" if desired else "grep -v '^$' || true"
    lines += [
        f"desired={shlex.quote(desired)}",
        f"extra=$(printf '%s\\n' \"$current\" | {select})",
        'while IFS="$tab" read -r type pattern name who host operation permission; do',
        '  [ -n "$type" ] || continue',
        '  remove_acl "$type" "$pattern" "$name" "$who" "$host" "$operation" "$permission" || exit 1',
        "done <<EOF",
        "$extra",
        "EOF",
    ]
    return "\n".join(lines) + "\n"


def start_script(topics: Sequence[Topic], grants: Sequence[AclGrant] = (), paths: KafkaPaths | None = None) -> str:
    """The container's entrypoint: start Kafka, wait until it answers, apply the topics and ACLs, mark it done."""
    paths = paths or KafkaPaths()
    return wrapper_script(
        server=paths.server,
        ready=f"{paths.client('kafka-topics.sh')} --list >/dev/null 2>&1",
        apply=topics_script(topics, BOOTSTRAP, paths) + acls_script(grants, BOOTSTRAP, paths),
        marker=paths.marker,
    )


def healthcheck(paths: KafkaPaths | None = None) -> list[str]:
    """Healthy once the topics and ACLs are applied and the broker answers an API-versions request over TLS."""
    paths = paths or KafkaPaths()
    return [
        "CMD-SHELL",
        f"test -f {shlex.quote(paths.marker)} && {paths.client('kafka-broker-api-versions.sh')} >/dev/null",
    ]


def client_environment(service: str) -> dict[str, str]:
    """A service's Kafka client contract besides `KAFKA_BROKERS`: TLS with its own certificate (librdkafka's
    `ssl.*.location` names); the key is the PKCS#8 copy (`client_key_path`), which Java clients read too."""
    cert, _ = service_cert_paths(service)
    return {
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": CA_FILE,
        "KAFKA_SSL_CERTIFICATE_LOCATION": cert,
        "KAFKA_SSL_KEY_LOCATION": client_key_path(service),
    }


def client_key_path(service: str) -> str:
    """The PKCS#8 copy of a service's key, beside its seed-format key (same folder, so the same files volume)."""
    _, key = service_cert_paths(service)
    return key.removesuffix(".key") + ".pkcs8.key"


@dataclass(frozen=True)
class KafkaArgs:
    infra: Infrastructure
    """Kafka's catalog entry, resolved: listeners, image, sizing, exposure."""
    topics: tuple[Topic, ...]
    cluster_id: str
    """The KRaft cluster id (`cluster_id(project, stack)`): the data volume holds it, so it never changes."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    certificate: LeafCertificate
    """The broker's certificate (`kafka`, `kafka.<network>`, localhost) from the platform CA."""
    trust_bundle: pulumi.Input[str]
    """Every trusted CA certificate: what client certificates are verified against."""
    services: tuple[str, ...]
    """The stack's services: the principals that may get ACLs."""
    exporter: str
    """The read-only metrics identity (`kafka-exporter`)."""


class Kafka(pulumi.ComponentResource):
    """The platform's Kafka: one KRaft node whose topics follow the stack configuration."""

    container: docker.Container
    bootstrap_servers: str
    """What services connect to: `kafka.<network>:9092`."""
    client_env: dict[str, str]
    """What every service container is given to reach Kafka (`client_files` adds its own identity)."""

    def __init__(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:data:Kafka", name, None, opts)
        paths = KafkaPaths()
        self.bootstrap_servers = args.infra.address()
        if args.certificate.private_key_pem_pkcs8 is None:
            raise ValueError("Kafka needs the broker's key in PKCS#8 form")
        grants = acl_grants(args.topics, args.services, args.exporter)
        files = ContainerFiles(
            env=kafka_environment(args.infra, args.cluster_id),
            uploads=(
                upload(WRAPPER_PATH, start_script(args.topics, grants, paths), KAFKA_UID, "0555"),
                upload(f"{SECRETS_DIR}/{KEY_NAME}", args.certificate.private_key_pem_pkcs8, KAFKA_UID),
                upload(f"{SECRETS_DIR}/{CERT_NAME}", args.certificate.cert_pem, KAFKA_UID, PUBLIC_READ),
                upload(CA_PATH, args.trust_bundle, KAFKA_UID, PUBLIC_READ),
                upload(paths.client_config, client_properties(), KAFKA_UID, PUBLIC_READ),
            ),
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

    def client_files(self, service: str, certificate: LeafCertificate, uid: int) -> ContainerFiles:
        """What `service` is given to reach Kafka: the bootstrap address, TLS with its own certificate (the
        files `components.pki` delivers) and a PKCS#8 copy of its key (0400), which Java clients need."""
        if certificate.private_key_pem_pkcs8 is None:
            raise ValueError(f"{service}: Kafka clients need the key in PKCS#8 form")
        return ContainerFiles(
            env={**self.client_env, **client_environment(service)},
            uploads=(upload(client_key_path(service), certificate.private_key_pem_pkcs8, uid),),
        )


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
        *(f"{KafkaPaths().bin_dir}/{tool}" for tool in ("kafka-topics.sh", "kafka-configs.sh", "kafka-acls.sh")),
        f"{KafkaPaths().bin_dir}/kafka-broker-api-versions.sh",
        "sh",
        "awk",
        "grep",
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
        # Key material: a VOLUME of the image, where its contract keeps it; the files volume is mounted over it.
        PathContract(SECRETS_DIR, owner=f"{KAFKA_UID}:0"),
        # The wrapper's marker lies in /tmp.
        PathContract("/tmp", owner="0:0", mode=0o1777),
    ),
    probe=(f"{KafkaPaths().bin_dir}/kafka-topics.sh", "--version"),
    ports=(KAFKA.port,),
)
"""What this module relies on from `apache/kafka` (checked against local builds by tests/images)."""
