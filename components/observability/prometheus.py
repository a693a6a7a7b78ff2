"""Prometheus for the platform: every service, the gateway and the exporters scraped, alert rules evaluated.

Creates the pulled image, the `payment-prometheus-data` volume and the `payment-prometheus` container
(alias `prometheus`). Its two documents are generated here from the catalog and the profile, so adding a
service, a replica or an exporter changes the scrape configuration with no edit to this file:

* `scrape_config` (prometheus.yml): one job per catalog service, named after it, whose targets are the
  service's containers (`payment-<svc>[-<n>]:<port>`, each replica scraped on its own) and carry a
  `service` label; one job for Kong's status listener, one per exporter in `stacks.catalog.EXPORTERS`,
  and Prometheus itself. Services speak only mTLS, so their jobs use HTTPS and present Prometheus's own
  certificate (`Pki.certificates["prometheus"]`); the services' certificates name each container, so
  the target address is also the name verified, with no `server_name` override. The target's `service`
  label wins over a `service` label a service exports itself (kept as `exported_service`); both hold
  the same name. Kong's status listener and the exporters serve plain HTTP on the platform network,
  where only platform containers reach them.
* `alert_rules` (rules/alerts.yml): service availability, errors and latency per service, the seed's
  payment success rate, container memory against its limit, and the three data stores. Thresholds come
  from the profile (`config.observability`), and every metric a rule names is listed in
  `components.observability.metrics` (the tests check it), so a renamed metric cannot leave a rule silently empty.

No Alertmanager is deployed (yet): the configuration has no `alerting` block. Rules are still evaluated
every evaluation interval; pending and firing alerts show on the UI's Alerts page and as the `ALERTS`
series, which Grafana can query. Adding an Alertmanager is one `alerting.alertmanagers` entry.

Both documents hold only paths and names, never a secret, so they are uploaded world-readable and show in
`pulumi preview` diffs; only the private key is secret (0400). Any change to them replaces the loader
and so the container: the lifecycle API (`--web.enable-lifecycle`, which lets anyone on the network
reload or stop Prometheus over HTTP) stays off.

Facts about the image this relies on (prom/prometheus v3, built on quay.io/prometheus/busybox): the
entrypoint is `/bin/prometheus`, so `command` holds only flags; it runs as `nobody` (65534:65534 in the
busybox base's passwd and group), which owns the image's `/prometheus`, so the empty data volume is
initialised with that owner on first mount; BusyBox's `wget` is the only HTTP client for the healthcheck.
The web UI and API listen on plain HTTP on 9090: reachable on the platform network (Grafana) and, in dev
only, on 127.0.0.1:40090.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker
import yaml

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.pki import LeafCertificate, tls_uploads
from stacks.catalog import (
    CADVISOR,
    EXPORTERS,
    KAFKA,
    KAFKA_EXPORTER,
    KONG,
    POSTGRES,
    POSTGRES_EXPORTER,
    PROMETHEUS,
    REDIS,
    REDIS_EXPORTER,
    CatalogExporter,
    CatalogInfrastructure,
)
from stacks.models import Infrastructure, ObservabilityDefaults, Service

PROMETHEUS_UID = 65534
"""The image's `nobody` user and group (busybox base: 65534:65534); owns the data folder and the files."""

DATA_PATH = "/prometheus"
"""The TSDB: the data volume is mounted here (the image's own `--storage.tsdb.path` and VOLUME)."""

CONFIG_DIR = "/etc/prometheus"

METRICS_PATH = "/metrics"

HEALTHCHECK = ("CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{PROMETHEUS.port}/-/healthy")
"""BusyBox wget (the image has no curl) against the liveness endpoint; 127.0.0.1, not localhost, which
may resolve to ::1 first. wget exits non-zero on a refused connection or a non-2xx answer."""

RATE_WINDOW_SECONDS = 300
"""The window of every rate in the rules (5m), widened to four scrapes when the interval is long."""


@dataclass(frozen=True)
class PrometheusPaths:
    """Where the files live inside the container (tests point these at a temporary folder)."""

    config: str = f"{CONFIG_DIR}/prometheus.yml"
    """The scrape configuration, given to `--config.file`."""
    rules: str = f"{CONFIG_DIR}/rules/alerts.yml"
    """The alert rules, listed in the configuration's `rule_files`."""
    cert: str = f"{CONFIG_DIR}/tls/prometheus.crt"
    """Prometheus's certificate: the client certificate it presents to services."""
    key: str = f"{CONFIG_DIR}/tls/prometheus.key"
    ca: str = f"{CONFIG_DIR}/tls/ca.crt"
    """The platform's trust bundle: what service certificates are verified against."""


# --- the scrape configuration (pure) --------------------------------------------------------------------


def _service_job(service: Service, paths: PrometheusPaths) -> dict[str, Any]:
    return {
        "job_name": service.name,
        "scheme": "https",
        "metrics_path": METRICS_PATH,
        # Services require a client certificate; each container's name is in its service's certificate,
        # so the target address is what Prometheus verifies (no server_name override).
        "tls_config": {"ca_file": paths.ca, "cert_file": paths.cert, "key_file": paths.key},
        "static_configs": [
            {
                "targets": list(service.targets),
                "labels": {"service": service.name},
            }
        ],
    }


def _plain_job(name: str, target: str) -> dict[str, Any]:
    return {
        "job_name": name,
        "scheme": "http",
        "metrics_path": METRICS_PATH,
        "static_configs": [{"targets": [target]}],
    }


def scrape_config(
    services: tuple[Service, ...], observability: ObservabilityDefaults, kong_status: str, paths: PrometheusPaths
) -> dict[str, Any]:
    """The whole prometheus.yml, as a document for `yaml.safe_dump`: a job per service, Kong's status API
    (`kong_status`, `Kong.status_target`), each exporter and Prometheus itself.

    Uses only fields that Prometheus 2.42 (Debian's promtool, which checks it) and 3.x both accept.
    """
    interval = f"{observability.scrape_interval_seconds}s"
    jobs = [
        *(_service_job(service, paths) for service in services),
        # Kong's Status API: the Prometheus plugin's metrics, plain HTTP on the platform network only.
        _plain_job(KONG.name, kong_status),
        *(_plain_job(exporter.name, exporter.address) for exporter in EXPORTERS),
        _plain_job(PROMETHEUS.name, f"localhost:{PROMETHEUS.port}"),
    ]
    names = [job["job_name"] for job in jobs]
    clash = sorted({name for name in names if names.count(name) > 1})
    if clash:
        raise ValueError(f"scrape job names used twice: {', '.join(clash)}")
    # No `alerting` block: no Alertmanager is deployed. Rules still evaluate; alerts show in the UI and
    # in the ALERTS series.
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [paths.rules],
        "scrape_configs": jobs,
    }


# --- the alert rules (pure) -----------------------------------------------------------------------------

_LABEL = "{{{{ $labels.{} }}}}"
VALUE_PERCENT = "{{ $value | humanizePercentage }}"
VALUE_DURATION = "{{ $value | humanizeDuration }}"


def _label(name: str) -> str:
    """A Go-template reference to one of the alert's labels, for annotations."""
    return _LABEL.format(name)


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.4g}ms" if seconds < 1 else f"{seconds:.4g}s"


def _number(value: float) -> str:
    """A threshold as a PromQL literal: the shortest text that reads back as the same float."""
    return repr(float(value))


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def rate_window(observability: ObservabilityDefaults) -> str:
    """5m, or four scrape intervals when that is longer: a rate needs at least two samples in its window."""
    return _duration(max(RATE_WINDOW_SECONDS, 4 * observability.scrape_interval_seconds))


def exporter_for(target: str) -> CatalogExporter:
    """The catalog exporter that exports `target` (an infrastructure name, or `containers`)."""
    for exporter in EXPORTERS:
        if exporter.target == target:
            return exporter
    raise KeyError(target)


def _alert(
    name: str, expr: str, *, pending: str, severity: str, summary: str, description: str, **labels: str
) -> dict[str, Any]:
    """One alerting rule: it fires once `expr` has returned a series for `pending` (the rule's `for`)."""
    return {
        "alert": name,
        "expr": expr,
        "for": pending,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description},
    }


def _store_down(alert: str, store: CatalogInfrastructure, store_down: str) -> dict[str, Any]:
    """`store` is down when its exporter says so, or when the exporter itself cannot be scraped."""
    job, title = exporter_for(store.name).name, store.title
    return _alert(
        alert,
        f'{store_down} or up{{job="{job}"}} == 0',
        pending="1m",
        severity="critical",
        summary=f"{title} is down",
        description=f"{job} ({_label('instance')}) has reported {title} unreachable, or could not be scraped "
        f"itself, for 1m: services that use {title} are failing.",
    )


def alert_rules(obs: ObservabilityDefaults) -> dict[str, Any]:
    """The rules file: groups of alerts with the profile's thresholds (`obs`), as a YAML document."""
    window = rate_window(obs)
    postgres, redis, kafka = (exporter.name for exporter in (POSTGRES_EXPORTER, REDIS_EXPORTER, KAFKA_EXPORTER))
    cadvisor = CADVISOR.name
    service = _label("service")
    services = [
        # Only service targets carry the `service` label (see scrape_config): Kong and the exporters
        # have alerts of their own.
        _alert(
            "ServiceDown",
            'up{service!=""} == 0',
            pending="1m",
            severity="critical",
            summary=f"{service} is down",
            description=f"Prometheus has not reached {_label('instance')} of {service} for 1m.",
        ),
        # Every replica together; a service without traffic divides 0 by 0 (NaN), which never fires.
        _alert(
            "HighErrorRate",
            f'sum by (service) (rate(http_requests_total{{status=~"5.."}}[{window}]))'
            f" / sum by (service) (rate(http_requests_total[{window}])) > {_number(obs.error_ratio)}",
            pending="2m",
            severity="critical",
            summary=f"{service} answers too many requests with 5xx",
            description=f"{VALUE_PERCENT} of {service}'s responses over the last {window} were 5xx "
            f"(threshold {_percent(obs.error_ratio)}).",
        ),
        _alert(
            "HighLatencyP95",
            f"histogram_quantile(0.95, sum by (service, le) "
            f"(rate(http_request_duration_seconds_bucket[{window}]))) > {_number(obs.latency_p95_seconds)}",
            pending="5m",
            severity="warning",
            summary=f"{service} is slow",
            description=f"95th percentile latency of {service} over the last {window} is {VALUE_DURATION} "
            f"(threshold {_seconds(obs.latency_p95_seconds)}).",
        ),
    ]
    business = [
        # The seed's success-rate query; no payments at all gives NaN, which never fires.
        _alert(
            "PaymentSuccessRateLow",
            f'sum(rate(payment_gateway_payment_total{{status="success"}}[{window}]))'
            f" / sum(rate(payment_gateway_payment_total[{window}])) < {_number(obs.payment_success_ratio)}",
            pending="2m",
            severity="critical",
            summary="Payment success rate is low",
            description=f"Only {VALUE_PERCENT} of payments over the last {window} succeeded "
            f"(threshold {_percent(obs.payment_success_ratio)}).",
            service="payment-gateway",
        ),
    ]
    containers = [
        # cAdvisor reports an unlimited container's limit as 0: `> 0` drops those instead of dividing by 0.
        _alert(
            "ContainerMemoryNearLimit",
            f'max by (name) (container_memory_working_set_bytes{{job="{cadvisor}", name=~"payment-.*"}})'
            f' / max by (name) (container_spec_memory_limit_bytes{{job="{cadvisor}", name=~"payment-.*"}} > 0)'
            f" > {_number(obs.memory_ratio)}",
            pending="5m",
            severity="warning",
            summary=f"{_label('name')} is close to its memory limit",
            description=f"{_label('name')} uses {VALUE_PERCENT} of its memory limit "
            f"(threshold {_percent(obs.memory_ratio)}); at the limit the kernel kills it.",
        ),
    ]
    stores = [
        _store_down("PostgresDown", POSTGRES, f'pg_up{{job="{postgres}"}} == 0'),
        _store_down("RedisDown", REDIS, f'redis_up{{job="{redis}"}} == 0'),
        # kafka-exporter has no `up` of its own for the broker: the brokers it sees in the cluster metadata.
        _store_down("KafkaDown", KAFKA, f'kafka_brokers{{job="{kafka}"}} < 1'),
    ]
    return {
        "groups": [
            {"name": "payment-services", "rules": services},
            {"name": "payment-business", "rules": business},
            {"name": "payment-containers", "rules": containers},
            {"name": "payment-data-stores", "rules": stores},
        ]
    }


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"bool", "and", "or", "unless", "offset", "inf", "nan", "by", "without", "on", "ignoring"})


def metric_names(expr: str) -> frozenset[str]:
    """The metric names a PromQL expression selects (what it reads), for checks against
    `components.observability.metrics`.

    Drops string literals, label matchers, range and subquery brackets and grouping label lists, then keeps
    each identifier that is not a function call or a keyword. Enough for the platform's rules and
    dashboards; selectors written only as `{__name__="..."}` are not seen.
    """
    text = _STRINGS.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return frozenset(name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS)


def render_yaml(document: dict[str, Any], what: str) -> str:
    """A generated file's text: a header naming its origin, then the document in builder order."""
    header = (
        f"# {what}, generated by payment-platform (components/prometheus.py). Public: holds no secret.\n"
        "# No Alertmanager is deployed: alerts are evaluated and shown in the UI and the ALERTS series.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=4096)


def command(observability: ObservabilityDefaults, paths: PrometheusPaths) -> list[str]:
    """Flags for the image's `/bin/prometheus` entrypoint. No lifecycle or admin API: both are off."""
    return [
        f"--config.file={paths.config}",
        f"--storage.tsdb.path={DATA_PATH}",
        f"--storage.tsdb.retention.time={observability.retention_days}d",
    ]


# --- the component ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrometheusArgs:
    infra: Infrastructure
    """Prometheus's catalog entry, resolved: port, image, sizing, exposure."""
    services: tuple[Service, ...]
    """One scrape job each, over every replica."""
    observability: ObservabilityDefaults
    """Scrape interval, retention and the alerts' thresholds."""
    kong_status: str
    """Kong's status API (`Kong.status_target`): the gateway's metrics."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    certificate: LeafCertificate
    """The certificate the platform CA issued to `prometheus` (`Pki.certificates["prometheus"]`): the client
    certificate it presents to services, which require one."""
    trust_bundle: pulumi.Output[str]
    """Every trusted CA certificate (public): what Prometheus verifies service certificates against."""


class Prometheus(pulumi.ComponentResource):
    """Metrics and alert rules: image, data volume and the `payment-prometheus` container."""

    container: docker.Container
    """The `payment-prometheus` container."""
    url: str
    """Where Prometheus answers on the platform network (Grafana's data source)."""

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:observability:Prometheus", name, None, opts)
        infra = args.infra
        paths = PrometheusPaths()
        scrape = scrape_config(args.services, args.observability, args.kong_status, paths)
        rules = alert_rules(args.observability)
        files = ContainerFiles(
            uploads=(
                upload(
                    paths.config,
                    render_yaml(scrape, "Scrape configuration"),
                    PROMETHEUS_UID,
                    PUBLIC_READ,
                ),
                upload(paths.rules, render_yaml(rules, "Alert rules"), PROMETHEUS_UID, PUBLIC_READ),
                *tls_uploads(
                    args.certificate, args.trust_bundle, PROMETHEUS_UID, cert=paths.cert, key=paths.key, ca=paths.ca
                ),
            )
        )
        self.container = infrastructure_container(
            name,
            infra,
            args.host,
            InfraSpec(
                healthcheck=HEALTHCHECK,
                user=f"{PROMETHEUS_UID}:{PROMETHEUS_UID}",
                files=files,
                # The retained `prometheus-data` volume: renaming the component keeps the history.
                data_path=DATA_PATH,
                command=command(args.observability, paths),
                # Nothing waits for Prometheus: Grafana only queries it, and retries.
                wait=False,
            ),
            parent=self,
        )
        self.url = f"http://{infra.address()}"
        self.register_outputs({"containerName": self.container.name, "url": self.url})


IMAGE_CONTRACT = ImageContract(
    stands_for=str(PROMETHEUS.image),
    local=PROMETHEUS.name,
    user=f"{PROMETHEUS_UID}:{PROMETHEUS_UID}",
    # `command` holds only flags.
    entrypoint=("/bin/prometheus",),
    # The server, and the healthcheck's HTTP client.
    executables=("prometheus", "promtool", HEALTHCHECK[1]),
    # The data volume starts as a copy of this folder: nobody must own it to write the TSDB.
    paths=(PathContract(DATA_PATH, owner=f"{PROMETHEUS_UID}:{PROMETHEUS_UID}", mode=0o755),),
    probe=("promtool", "--version"),
    ports=(PROMETHEUS.port,),
)
"""What this module relies on from `prom/prometheus:v3.15.0` (checked against local builds by tests/images)."""
