"""Prometheus: the generated scrape configuration and alert rules, checked by Debian's promtool and a real
Prometheus server, and the container under the engine.

What users rely on: every container of every service (a new one included) is scraped over verified mutual
TLS with a `service` label, Kong and every exporter are scraped, each alert fires on the condition it
names with the profile's threshold and stays quiet otherwise, every rule reads metrics some job really
produces, and the container keeps its history on a retained (in prod protected) volume, published on
loopback in dev only.
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.observability import metrics
from components.observability.prometheus import (
    HEALTHCHECK,
    Prometheus,
    PrometheusArgs,
    PrometheusPaths,
    alert_rules,
    command,
    metric_names,
    rate_window,
    render_yaml,
    scrape_config,
)
from components.pki import Pki, PkiArgs
from plan.engine import RecordingMonitor, Render, Resource, run_program
from stacks.catalog import EXPORTERS, SERVICES
from stacks.errors import ConfigError
from stacks.models import PlatformConfig
from tests.conftest import attachments, docker_host, require_tool, stack_config
from tests.conftest import uploads as container_uploads
from tests.support.tlsmodel import Faithful
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, PRIVATE_KEY, REMOTE_IMAGE, SECRET, VOLUME

KONG_STATUS = "kong:8100"
"""Kong's status API as the platform wires it (`Kong.status_target`)."""


def scrape_for(config: PlatformConfig, paths: PrometheusPaths) -> dict[str, Any]:
    """The scrape configuration of `config`, wired as Platform wires it."""
    return scrape_config(config.services, config.observability, KONG_STATUS, paths)


PROMETHEUS = "payment-prometheus-container"
RULE_TESTS = Path(__file__).parent / "prometheus" / "alerts_test.yml"
ALERTS = {
    "ServiceDown",
    "HighErrorRate",
    "HighLatencyP95",
    "PaymentSuccessRateLow",
    "ContainerMemoryNearLimit",
    "PostgresDown",
    "RedisDown",
    "KafkaDown",
}
LOYALTY = {"loyalty-service": {"port": 40030, "database": "payment_loyalty"}}
DEV_THRESHOLDS = {"error_ratio": 0.05, "latency_p95_seconds": 1.0, "payment_success_ratio": 0.9, "memory_ratio": 0.9}
"""What tests/prometheus/alerts_test.yml is written for (its exp_annotations quote them)."""


def jobs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in document["scrape_configs"]}


def targets(job: dict[str, Any]) -> list[str]:
    return [target for group in job["static_configs"] for target in group["targets"]]


def rules(config: PlatformConfig) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in alert_rules(config.observability)["groups"] for rule in group["rules"]}


# --- the scrape configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_container_of_every_service_is_scraped_over_mutual_tls(stack: str) -> None:
    config = stack_config(stack)
    paths = PrometheusPaths()
    found = jobs(scrape_for(config, paths))
    assert len(config.services) == len(SERVICES) == 19
    for service in config.services:
        job = found[service.name]
        assert job["scheme"] == "https"
        assert job["metrics_path"] == "/metrics"
        # Prometheus's own certificate (services require one), verified against the platform CA by the
        # container name it connects to: no server_name override, no skipped verification.
        assert job["tls_config"] == {
            "ca_file": "/etc/prometheus/tls/ca.crt",
            "cert_file": "/etc/prometheus/tls/prometheus.crt",
            "key_file": "/etc/prometheus/tls/prometheus.key",
        }
        assert job["static_configs"] == [
            {
                "targets": [f"{name}:{service.port}" for name in service.container_names],
                "labels": {"service": service.name},
            }
        ]
    assert targets(found["order-service"]) == ["payment-order-service:40004"]
    gateway = targets(found["payment-gateway"])
    assert gateway == (
        [
            "payment-payment-gateway-1:40003",
            "payment-payment-gateway-2:40003",
            "payment-payment-gateway-3:40003",
        ]
        if stack == "prod"
        else ["payment-payment-gateway:40003"]
    )


def test_gateway_exporters_and_prometheus_itself_are_scraped_over_plain_http() -> None:
    found = jobs(scrape_for(stack_config("prod"), PrometheusPaths()))
    plain = {
        "kong": "kong:8100",
        "postgres-exporter": "postgres-exporter:9187",
        "redis-exporter": "redis-exporter:9121",
        "kafka-exporter": "kafka-exporter:9308",
        "cadvisor": "cadvisor:8080",
        "prometheus": "localhost:9090",
    }
    assert {e.name for e in EXPORTERS} <= plain.keys()
    for name, target in plain.items():
        assert found[name] == {
            "job_name": name,
            "scheme": "http",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [target]}],
        }
    assert len(found) == len(SERVICES) + len(plain)
    # Only service targets carry a `service` label: ServiceDown relies on it.
    labelled = {name for name, job in found.items() if any("labels" in g for g in job["static_configs"])}
    assert labelled == {s.name for s in SERVICES}


def test_a_service_added_through_config_is_scraped_without_any_other_change() -> None:
    config = stack_config("dev", services=LOYALTY)
    found = jobs(scrape_for(config, PrometheusPaths()))
    loyalty = found["loyalty-service"]
    assert targets(loyalty) == ["payment-loyalty-service:40030"]
    assert loyalty["scheme"] == "https" and loyalty["static_configs"][0]["labels"] == {"service": "loyalty-service"}
    assert loyalty["tls_config"] == found["order-service"]["tls_config"]
    # Its certificate names its container, which is the address Prometheus verifies.
    assert config.pki.certificate("loyalty-service").container_names == ("payment-loyalty-service",)
    replicated = stack_config(
        "dev",
        services={"loyalty-service": {**LOYALTY["loyalty-service"], "replicas": 2, "publish": {"enabled": False}}},
    )
    assert targets(jobs(scrape_for(replicated, PrometheusPaths()))["loyalty-service"]) == [
        "payment-loyalty-service-1:40030",
        "payment-loyalty-service-2:40030",
    ]


def test_a_service_named_like_another_job_is_refused() -> None:
    # The config layer refuses the name before any document is built (stacks.catalog.RESERVED_NAMES).
    with pytest.raises(ConfigError, match=r"services\.cadvisor: 'cadvisor' is reserved by the platform"):
        stack_config("dev", services={"cadvisor": {"port": 40031, "database": "payment_cadvisor"}})


def test_intervals_rule_files_and_no_alertmanager() -> None:
    config = stack_config("dev", observability={"scrapeIntervalSeconds": 30})
    paths = PrometheusPaths(rules="/x/rules/alerts.yml")
    document = scrape_for(config, paths)
    assert document["global"] == {"scrape_interval": "30s", "evaluation_interval": "30s"}
    assert document["rule_files"] == ["/x/rules/alerts.yml"]
    # No Alertmanager is deployed: nothing to send alerts to.
    assert "alerting" not in document
    assert set(document) == {"global", "rule_files", "scrape_configs"}
    assert scrape_for(stack_config("prod"), paths)["global"]["scrape_interval"] == "15s"


def test_rendered_files_read_back_as_the_documents() -> None:
    config = stack_config("prod")
    for document in (scrape_for(config, PrometheusPaths()), alert_rules(config.observability)):
        text = render_yaml(document, "Anything")
        assert text.startswith("# Anything, generated by payment-platform (components/prometheus.py).")
        assert "No Alertmanager is deployed" in text.splitlines()[1]
        assert yaml.safe_load(text) == document


# --- the alert rules ------------------------------------------------------------------------------------


def test_metric_names_reads_selectors_and_skips_everything_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (service, le) (rate(a_bucket{job="x", le=~"1|2"}[5m] offset 1m)))'
        " / on (service) group_left (name) max without (instance) (b:recorded) > 1e3"
        ' or up{x="rate(y)"} == bool 0 unless absent(c_total) and sum(d)by(le) or e[1h:5m]'
    )
    assert metric_names(expr) == {"a_bucket", "b:recorded", "up", "c_total", "d", "e"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rule_reads_only_metrics_some_job_produces(stack: str) -> None:
    found = rules(stack_config(stack))
    assert set(found) == ALERTS
    known = metrics.all_known()
    for name, rule in found.items():
        used = metric_names(rule["expr"])
        assert used, name
        assert used <= known, f"{name} reads {sorted(used - known)}, which no scrape job produces"


def test_rules_read_each_metric_from_the_job_that_produces_it() -> None:
    found = rules(stack_config("dev"))
    assert metric_names(found["ServiceDown"]["expr"]) == {"up"}
    assert metric_names(found["HighErrorRate"]["expr"]) <= metrics.SERVICE
    assert metric_names(found["HighLatencyP95"]["expr"]) <= metrics.SERVICE
    assert metric_names(found["PaymentSuccessRateLow"]["expr"]) <= metrics.PAYMENT_GATEWAY
    assert metric_names(found["ContainerMemoryNearLimit"]["expr"]) <= metrics.CADVISOR
    assert metric_names(found["PostgresDown"]["expr"]) == {"pg_up", "up"}
    assert metric_names(found["RedisDown"]["expr"]) == {"redis_up", "up"}
    assert metric_names(found["KafkaDown"]["expr"]) == {"kafka_brokers", "up"}
    for alert, exporter in (("PostgresDown", "postgres"), ("RedisDown", "redis"), ("KafkaDown", "kafka")):
        job = next(e.name for e in EXPORTERS if e.target == exporter)
        assert metric_names(found[alert]["expr"]) - {"up"} <= metrics.BY_EXPORTER[job]
        assert found[alert]["expr"].count(f'{{job="{job}"}}') == 2, alert
    assert '{job="cadvisor", name=~"payment-.*"}' in found["ContainerMemoryNearLimit"]["expr"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_thresholds_follow_the_profile(stack: str) -> None:
    config = stack_config(stack)
    obs = config.observability
    found = rules(config)
    assert found["HighErrorRate"]["expr"].endswith(f"> {obs.error_ratio!r}")
    assert found["HighLatencyP95"]["expr"].endswith(f"> {obs.latency_p95_seconds!r}")
    assert found["PaymentSuccessRateLow"]["expr"].endswith(f"< {obs.payment_success_ratio!r}")
    assert found["ContainerMemoryNearLimit"]["expr"].endswith(f"> {obs.memory_ratio!r}")
    descriptions = {name: rule["annotations"]["description"] for name, rule in found.items()}
    if stack == "prod":
        assert "(threshold 2%)" in descriptions["HighErrorRate"]
        assert "(threshold 500ms)" in descriptions["HighLatencyP95"]
        assert "(threshold 95%)" in descriptions["PaymentSuccessRateLow"]
    else:
        assert "(threshold 5%)" in descriptions["HighErrorRate"]
        assert "(threshold 1s)" in descriptions["HighLatencyP95"]
        assert "(threshold 90%)" in descriptions["PaymentSuccessRateLow"]
    assert "(threshold 90%)" in descriptions["ContainerMemoryNearLimit"]


def test_thresholds_set_in_config_reach_the_rules() -> None:
    config = stack_config(
        "dev",
        observability={
            "errorRatio": 0.125,
            "latencyP95Seconds": 0.25,
            "paymentSuccessRatio": 0.99,
            "memoryRatio": 0.8,
            "scrapeIntervalSeconds": 120,
        },
    )
    found = rules(config)
    assert found["HighErrorRate"]["expr"].endswith("> 0.125")
    assert found["HighLatencyP95"]["expr"].endswith("> 0.25")
    assert "(threshold 250ms)" in found["HighLatencyP95"]["annotations"]["description"]
    assert found["PaymentSuccessRateLow"]["expr"].endswith("< 0.99")
    assert "(threshold 12.5%)" in found["HighErrorRate"]["annotations"]["description"]
    assert found["ContainerMemoryNearLimit"]["expr"].endswith("> 0.8")
    # A rate needs two samples: with 2-minute scrapes the window widens from 5m to four scrapes.
    assert rate_window(config.observability) == "8m"
    assert "[8m]" in found["HighErrorRate"]["expr"] and "[5m]" not in found["HighErrorRate"]["expr"]
    assert rate_window(stack_config("dev").observability) == "5m"


def test_severities_and_pending_periods() -> None:
    found = rules(stack_config("prod"))
    assert {name: (rule["labels"]["severity"], rule["for"]) for name, rule in found.items()} == {
        "ServiceDown": ("critical", "1m"),
        "HighErrorRate": ("critical", "2m"),
        "HighLatencyP95": ("warning", "5m"),
        "PaymentSuccessRateLow": ("critical", "2m"),
        "ContainerMemoryNearLimit": ("warning", "5m"),
        "PostgresDown": ("critical", "1m"),
        "RedisDown": ("critical", "1m"),
        "KafkaDown": ("critical", "1m"),
    }
    for rule in found.values():
        assert set(rule["annotations"]) == {"summary", "description"}
    # The seed's query, as its guide writes it (the window and threshold aside).
    assert found["PaymentSuccessRateLow"]["expr"] == (
        'sum(rate(payment_gateway_payment_total{status="success"}[5m]))'
        " / sum(rate(payment_gateway_payment_total[5m])) < 0.95"
    )


def test_the_rule_tests_cover_every_alert_firing_and_quiet() -> None:
    document = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in document["tests"]:
        for case in group["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    assert firing == quiet == ALERTS == set(rules(stack_config("dev")))
    # The file quotes the dev thresholds in its expected annotations.
    assert {name: getattr(stack_config("dev").observability, name) for name in DEV_THRESHOLDS} == DEV_THRESHOLDS


def test_command_sets_config_storage_and_retention_only() -> None:
    paths = PrometheusPaths(config="/c/prometheus.yml")
    assert command(stack_config("dev").observability, paths) == [
        "--config.file=/c/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=7d",
    ]
    assert command(stack_config("prod").observability, PrometheusPaths())[2] == "--storage.tsdb.retention.time=30d"
    flags = " ".join(command(stack_config("prod").observability, PrometheusPaths()))
    assert "--web.enable-lifecycle" not in flags and "--web.enable-admin-api" not in flags


# --- promtool (Debian's `prometheus` package: 2.42, so nothing 3-only and nothing removed in 3) -----------


def _write(path: str, text: str, mode: int = 0o444) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    Path(path).chmod(mode)


def local_paths(folder: Path) -> PrometheusPaths:
    """The container's layout under `folder`."""
    return PrometheusPaths(
        **{name: str(folder / str(value).removeprefix("/")) for name, value in vars(PrometheusPaths()).items()}
    )


def layout(
    folder: Path, config: PlatformConfig, tls: tuple[str, str, str] = ("cert\n", "key\n", "ca\n")
) -> PrometheusPaths:
    """Write the generated prometheus.yml and rules, and the TLS files they name, under `folder`."""
    paths = local_paths(folder)
    cert, key, ca = tls
    _write(paths.config, render_yaml(scrape_for(config, paths), "Scrape configuration"))
    _write(paths.rules, render_yaml(alert_rules(config.observability), "Alert rules"))
    _write(paths.cert, cert)
    _write(paths.key, key, 0o400)
    _write(paths.ca, ca)
    return paths


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "prometheus")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


@pytest.mark.tool("promtool")
@pytest.mark.parametrize(("stack", "services"), [("dev", {}), ("prod", {}), ("dev", LOYALTY)])
def test_promtool_accepts_the_generated_configuration(stack: str, services: dict[str, Any], tmp_path: Path) -> None:
    paths = layout(tmp_path, stack_config(stack, services=services))
    result = promtool("check", "config", paths.config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


@pytest.mark.tool("promtool")
def test_promtool_checks_the_files_the_configuration_names(tmp_path: Path) -> None:
    # Proof that the check above reads the TLS and rule paths, rather than the YAML shape alone.
    paths = layout(tmp_path, stack_config("dev"))
    Path(paths.key).unlink()
    result = promtool("check", "config", paths.config)
    assert result.returncode != 0 and "prometheus.key" in result.stdout + result.stderr


@pytest.mark.tool("promtool")
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_promtool_accepts_the_generated_rules(stack: str, tmp_path: Path) -> None:
    paths = layout(tmp_path, stack_config(stack))
    result = promtool("check", "rules", paths.rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


@pytest.mark.tool("promtool")
def test_each_alert_fires_on_its_condition_and_stays_quiet_otherwise(tmp_path: Path) -> None:
    _write(str(tmp_path / "alerts.yml"), render_yaml(alert_rules(stack_config("dev").observability), "Alert rules"))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.tool("promtool")
def test_the_rule_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    # The same tests against prod's stricter rules: 1% 5xx, a 0.48s p95 and 90% successful payments now fire.
    _write(str(tmp_path / "alerts.yml"), render_yaml(alert_rules(stack_config("prod").observability), "Alert rules"))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for alert in ("HighErrorRate", "HighLatencyP95", "PaymentSuccessRateLow"):
        assert f"alertname: {alert}" in output, output


# --- a real Prometheus server (the same Debian package) running the generated files -------------------------

WAIT_SECONDS = 30


@dataclass(frozen=True)
class Server:
    url: str

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def api(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, body
        return json.loads(body)["data"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def platform(config: PlatformConfig, monitor: RecordingMonitor | None = None) -> Render:
    """Network, PKI and Prometheus, as the platform wires them."""

    def program() -> None:
        host = docker_host(config)
        pki = Pki("payment-pki", PkiArgs(config=config.pki, domain=config.network.name))
        prometheus = Prometheus(
            "payment-prometheus",
            PrometheusArgs(
                infra=config.infra("prometheus"),
                services=config.services,
                observability=config.observability,
                kong_status=KONG_STATUS,
                host=host,
                certificate=pki.certificates["prometheus"],
                trust_bundle=pki.trust_bundle,
            ),
        )
        pulumi.export("prometheusUrl", prometheus.url)
        pulumi.export("trustBundle", pki.trust_bundle)

    return run_program(program, config.project, config.stack, monitor=monitor)


@functools.cache
def faithful_tls() -> tuple[str, str, str]:
    """Prometheus's certificate and key and the trust bundle, issued for real by the faithful pulumi-tls model."""
    render = platform(stack_config("prod"), RecordingMonitor(Faithful()))
    cert = render.get(LOCALLY_SIGNED_CERT, "payment-pki-prometheus-cert").revealed_outputs["certPem"]
    key = render.get(PRIVATE_KEY, "payment-pki-prometheus-key").revealed_outputs["privateKeyPem"]
    return str(cert), str(key), str(render.outputs["trustBundle"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = require_tool("prometheus", "prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    paths = layout(folder, stack_config("prod"), faithful_tls())
    port = free_port()
    log = folder / "prometheus.log"
    flags = [
        f"--storage.tsdb.path={folder / 'data'}" if flag.startswith("--storage.tsdb.path=") else flag
        for flag in command(stack_config("prod").observability, paths)
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            [binary, *flags, f"--web.listen-address=127.0.0.1:{port}"], stdout=output, stderr=subprocess.STDOUT
        )
    instance = Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()}")
            try:
                if instance.get("/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus was not ready within {WAIT_SECONDS}s:\n{log.read_text()}")
            time.sleep(0.2)
        yield instance
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.tool("prometheus")
def test_real_server_is_healthy_at_the_healthcheck_path(server: Server) -> None:
    url = HEALTHCHECK[-1]
    assert url == "http://127.0.0.1:9090/-/healthy"
    assert server.get(url.removeprefix("http://127.0.0.1:9090"))[0] == 200


@pytest.mark.tool("prometheus")
def test_real_server_loads_every_job_and_target(server: Server) -> None:
    config = stack_config("prod")
    expected = {
        (job["job_name"], target)
        for job in scrape_for(config, PrometheusPaths())["scrape_configs"]
        for target in targets(job)
    }
    # Targets reach the scrape manager a moment after the server reports ready.
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        active = server.api("/api/v1/targets?state=active")["activeTargets"]
        scraped = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
        if scraped == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert scraped == expected
    gateway = [t for t in active if t["labels"]["job"] == "payment-gateway"]
    assert len(gateway) == 3
    for target in gateway:
        assert target["scrapeUrl"].startswith("https://payment-payment-gateway-")
        assert target["labels"]["service"] == "payment-gateway"


@pytest.mark.tool("prometheus")
def test_real_server_evaluates_every_rule(server: Server) -> None:
    groups = server.api("/api/v1/rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == ALERTS
    assert all(rule["type"] == "alerting" and rule["health"] != "err" for rule in loaded.values())
    # No Alertmanager: nothing is configured to receive alerts.
    assert server.api("/api/v1/alertmanagers")["activeAlertmanagers"] == []


# --- the component under the engine ---------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    render: Render
    config: PlatformConfig

    def prometheus(self) -> Resource:
        return self.render.get(CONTAINER, PROMETHEUS)

    def uploads(self) -> dict[str, dict[str, Any]]:
        return {u["file"]: u for u in container_uploads(self.render, PROMETHEUS)}


@functools.cache
def built(stack: str) -> Built:
    config = stack_config(stack)
    return Built(platform(config), config)


@pytest.mark.parametrize(("stack", "retention"), [("dev", "7d"), ("prod", "30d")])
def test_container_identity_user_command_and_health(stack: str, retention: str) -> None:
    prometheus = built(stack).prometheus()
    inputs = prometheus.inputs
    assert inputs["name"] == "payment-prometheus"
    assert inputs["hostname"] == "prometheus"
    assert inputs["networksAdvanced"] == attachments(stack, "prometheus")
    assert inputs["user"] == "65534:65534"
    # The image's entrypoint is /bin/prometheus: the command is its flags.
    assert inputs["command"] == [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        f"--storage.tsdb.retention.time={retention}",
    ]
    assert "entrypoints" not in inputs
    assert inputs["healthcheck"]["tests"] == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/healthy"]
    assert inputs["wait"] is False  # nothing depends on Prometheus
    assert inputs["readOnly"] is True
    assert prometheus.delete_before_replace
    image = built(stack).render.get(REMOTE_IMAGE, "payment-prometheus-image")
    assert image.inputs["name"] == built(stack).config.infra("prometheus").image
    assert str(image.inputs["name"]).startswith("prom/prometheus:v3.")
    assert inputs["image"] == image.revealed_outputs["imageId"]


def test_component_type_children_and_outputs() -> None:
    render = built("prod").render
    component = render.get("payment:observability:Prometheus", "payment-prometheus")
    children = {(r.type, r.name) for r in render.children(component)}
    assert children == {
        (REMOTE_IMAGE, "payment-prometheus-image"),
        (VOLUME, "prometheus-data"),
        (VOLUME, "payment-prometheus-container-files-etc-prometheus"),
        (CONTAINER, "payment-prometheus-container-loader"),
        (CONTAINER, PROMETHEUS),
    }
    assert render.outputs["prometheusUrl"] == "http://prometheus.payment-network:9090"


def test_dev_publishes_on_loopback_and_prod_publishes_nothing() -> None:
    assert built("dev").prometheus().inputs["ports"] == [
        {"internal": 9090, "external": 40090, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert built("prod").prometheus().inputs["ports"] == []


def test_data_volume_is_retained_everywhere_and_protected_in_prod() -> None:
    for stack, protected in (("dev", False), ("prod", True)):
        render = built(stack).render
        volume = render.get(VOLUME, "prometheus-data")
        assert volume.inputs["name"] == "payment-prometheus-data"
        assert volume.retain_on_delete
        assert volume.protect is protected
        assert render.get(CONTAINER, PROMETHEUS).inputs["volumes"] == [
            {"volumeName": "payment-prometheus-data", "containerPath": "/prometheus"}
        ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_uploads_public_where_public_and_the_key_secret(stack: str) -> None:
    uploads = built(stack).uploads()
    assert {file: (u["permissions"], u["owner"], u["group"]) for file, u in uploads.items()} == {
        "/etc/prometheus/prometheus.yml": ("0444", "65534", "65534"),
        "/etc/prometheus/rules/alerts.yml": ("0444", "65534", "65534"),
        "/etc/prometheus/tls/prometheus.crt": ("0444", "65534", "65534"),
        "/etc/prometheus/tls/prometheus.key": ("0400", "65534", "65534"),
        "/etc/prometheus/tls/ca.crt": ("0444", "65534", "65534"),
    }
    assert uploads["/etc/prometheus/tls/prometheus.key"]["content"] == SECRET
    config = built(stack).config
    assert uploads["/etc/prometheus/prometheus.yml"]["content"] == render_yaml(
        scrape_for(config, PrometheusPaths()), "Scrape configuration"
    )
    assert uploads["/etc/prometheus/rules/alerts.yml"]["content"] == render_yaml(
        alert_rules(config.observability), "Alert rules"
    )
    for public in ("prometheus.crt", "ca.crt"):
        content = next(u["content"] for f, u in uploads.items() if f.endswith(public))
        assert content.startswith("-----BEGIN CERTIFICATE-----")
    # The files reach the read-only container through one read-only mount of their folder.
    mounts = built(stack).prometheus().inputs["mounts"]
    assert [(m["target"], m["readOnly"]) for m in mounts] == [("/etc/prometheus", True)]


def test_the_certificate_uploaded_is_prometheus_own() -> None:
    render = built("dev").render
    loader = render.get(CONTAINER, f"{PROMETHEUS}-loader")
    revealed = {str(u["file"]).split("/")[-1]: u["content"] for u in loader.revealed_inputs["uploads"]}
    assert (
        revealed["prometheus.crt"]
        == render.get(LOCALLY_SIGNED_CERT, "payment-pki-prometheus-cert").revealed_outputs["certPem"]
    )
    assert (
        revealed["prometheus.key"]
        == render.get(PRIVATE_KEY, "payment-pki-prometheus-key").revealed_outputs["privateKeyPem"]
    )
    assert revealed["ca.crt"] == render.outputs["trustBundle"]


def test_a_threshold_change_changes_only_the_rules_file() -> None:
    base = built("dev")
    changed = platform(replace_observability(base.config, error_ratio=0.2))
    before = {u["file"]: u["content"] for u in base.uploads().values()}
    after = {u["file"]: u["content"] for u in container_uploads(changed, PROMETHEUS)}
    assert {f for f in before if before[f] != after[f]} == {"/etc/prometheus/rules/alerts.yml"}
    assert "> 0.2" in after["/etc/prometheus/rules/alerts.yml"]


def replace_observability(config: PlatformConfig, **values: Any) -> PlatformConfig:
    return config.model_copy(update={"observability": config.observability.model_copy(update=values)})


def test_paths_are_the_documented_layout() -> None:
    paths = PrometheusPaths()
    assert vars(paths) == {
        "config": "/etc/prometheus/prometheus.yml",
        "rules": "/etc/prometheus/rules/alerts.yml",
        "cert": "/etc/prometheus/tls/prometheus.crt",
        "key": "/etc/prometheus/tls/prometheus.key",
        "ca": "/etc/prometheus/tls/ca.crt",
    }
    assert replace(paths, rules="/r.yml").rules == "/r.yml"
