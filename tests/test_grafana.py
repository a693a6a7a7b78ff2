"""Grafana: the five seed dashboards, the provisioning documents, and the component under the engine.

What users rely on: the seed guide's five dashboards are there and every panel queries a metric some scrape
job actually produces (a typo would draw an empty panel, silently); the dashboards find their datasource;
Grafana is reachable on the host's loopback only, with no anonymous access or sign-up; the admin password
reaches it only as a 0400 file; the provisioned files are the ones in the repository; the data survives on
a retained (in prod protected) volume.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.docker.containers import files_volume_name
from components.observability import metrics
from components.observability.grafana import (
    DASHBOARDS_DIR,
    Grafana,
    GrafanaArgs,
    GrafanaPaths,
    dashboard_provider,
    datasources,
    load_dashboards,
    render_yaml,
)
from components.secrets import Secrets, SecretsArgs
from plan.engine import Render, Resource, run_program
from plan.simulate import SECRET_MARKER
from policy_rules import check_resource
from stacks.catalog import GRAFANA_ADMIN_PASSWORD, INFRASTRUCTURE
from stacks.models import PlatformConfig
from tests.conftest import attachments, docker_host, require_tool, stack_config
from tests.conftest import uploads as container_uploads
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET, VOLUME

PROMETHEUS_URL = "http://prometheus.payment-network:9090"
"""`Prometheus.url`, what Platform hands Grafana (`test_the_platform_hands_grafana_its_siblings_urls`)."""
JAEGER_URL = "http://jaeger.payment-network:16686"
"""`Jaeger.query_url`."""
PASSWORD_FILE = "/run/secrets/grafana-admin-password"

# The seed guide's monitoring section: its dashboards and its PromQL, as written there.
SEED_DASHBOARDS = {
    "服务健康概览": "payment-service-health",
    "支付流程监控": "payment-flow",
    "数据库性能": "payment-database",
    "Kafka 消息队列": "payment-kafka",
    "容器资源使用": "payment-containers",
}
SEED_QUERIES = (
    'rate(http_requests_total{service="payment-gateway"}[5m])',
    'sum(rate(payment_gateway_payment_total{status="success"}[5m]))\n/ sum(rate(payment_gateway_payment_total[5m]))',
    "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))",
    'container_memory_usage_bytes{name=~"payment-.*"}',
)


# --- a small PromQL metric-name extractor -------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+(?::\w+)?\}?")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NAME_MATCHER = re.compile(r'__name__\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    Strings (label values, regexes, label_replace arguments) and Grafana variables are blanked first, then
    what is inside `{...}` (label matchers) and `[...]` (ranges, subqueries), then the label lists of
    `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`. What is left are function and aggregation
    names (followed by `(`), keywords and metric names. A `{__name__="x"}` matcher names `x`; a
    `__name__` regex or negation cannot be resolved and raises.
    """
    found: set[str] = set()
    for operator, value in _NAME_MATCHER.findall(expr):
        if operator != "=":
            raise ValueError(f"cannot tell which metrics __name__{operator}{value!r} selects: {expr}")
        found.add(value)
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub("", text)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        name = match.group(1)
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if name.lower() in _KEYWORDS:
            continue
        found.add(name)
    return found


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('rate(http_requests_total{service="payment-gateway"}[5m])', {"http_requests_total"}),
        (SEED_QUERIES[1], {"payment_gateway_payment_total"}),
        (SEED_QUERIES[2], {"http_request_duration_seconds_bucket"}),
        (SEED_QUERIES[3], {"container_memory_usage_bytes"}),
        ("up == 0", {"up"}),
        ('up{job=~"$service"}', {"up"}),
        # Label names inside braces and grouping clauses are not metrics, in either position of `by`.
        (
            'histogram_quantile(0.9, sum by (service, le) (rate(x_bucket{status=~"5..", service!=""}[5m])))',
            {"x_bucket"},
        ),
        ("sum(rate(a_total[5m])) by (job) / ignoring(code) group_left(name) b_total", {"a_total", "b_total"}),
        # Strings may hold anything, parentheses and identifiers included.
        ('label_replace(up, "dst", "$1", "instance", "(fake_metric)(.*)")', {"up"}),
        ('count_values("version", build_info) > bool 1 and on(instance) up offset 5m', {"build_info", "up"}),
        ("sum_over_time(q:recorded:rate5m[10m:1m]) * 1e3 + Inf", {"q:recorded:rate5m"}),
        ('{__name__="pg_up", instance="x"}', {"pg_up"}),
        ("vector(1)", set()),
    ],
)
def test_metric_name_extractor(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_metric_name_extractor_refuses_what_it_cannot_resolve() -> None:
    with pytest.raises(ValueError, match="__name__"):
        metric_names('{__name__=~"pg_.*"}')


# --- the dashboards ------------------------------------------------------------------------------------------


@functools.cache
def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> parsed dashboard, as the component ships them."""
    return {name: json.loads(text) for name, text in load_dashboards().items()}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target["expr"]


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def normalised(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


def test_every_dashboard_parses_with_a_unique_uid_and_title() -> None:
    files = sorted(path.name for path in DASHBOARDS_DIR.glob("*.json"))
    assert sorted(dashboards()) == files and len(files) == 5
    uids = [d["uid"] for d in dashboards().values()]
    titles = [d["title"] for d in dashboards().values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    for name, dashboard in dashboards().items():
        assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"]), name  # Grafana uids: at most 40 characters
        assert dashboard["title"].isascii(), f"{name}: titles are in English"
        # Schema 42 is Grafana 12's (and the last of the v1 dashboard API, which file provisioning reads).
        assert dashboard["schemaVersion"] == 42, name
        assert dashboard["editable"] is False, name
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(set(ids)) == len(ids), f"{name}: panel ids repeat"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']} overflows the grid"


def test_load_dashboards_refuses_broken_or_duplicate_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no dashboard"):
        load_dashboards(tmp_path)
    (tmp_path / "a.json").write_text('{"uid": "same", "title": "A", "panels": []}', encoding="utf-8")
    assert list(load_dashboards(tmp_path)) == ["a.json"]
    (tmp_path / "b.json").write_text('{"uid": "same", "title": "B"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"b\.json: uid 'same' is already used by a\.json"):
        load_dashboards(tmp_path)
    (tmp_path / "b.json").write_text('{"uid": "other", "title": "B",', encoding="utf-8")
    with pytest.raises(ValueError, match=r"b\.json: not valid JSON"):
        load_dashboards(tmp_path)
    (tmp_path / "b.json").write_text('[{"uid": "other"}]', encoding="utf-8")
    with pytest.raises(ValueError, match=r"b\.json: expected a dashboard object"):
        load_dashboards(tmp_path)


def test_the_five_seed_dashboards_are_there_one_per_topic() -> None:
    by_uid = {d["uid"]: d for d in dashboards().values()}
    assert set(by_uid) == set(SEED_DASHBOARDS.values())
    for chinese, uid in SEED_DASHBOARDS.items():
        holders = [d["uid"] for d in dashboards().values() if chinese in d["description"]]
        assert holders == [uid], f"{chinese}: described by {holders}"


def test_every_query_names_only_metrics_a_scrape_job_produces() -> None:
    known = metrics.all_known()
    checked = 0
    for name, dashboard in dashboards().items():
        for panel, expr in queries(dashboard):
            names = metric_names(expr)
            assert names, f"{name}: {panel['title']}: {expr!r} queries no metric"
            assert names <= known, f"{name}: {panel['title']}: unknown {sorted(names - known)}"
            checked += 1
        for variable in dashboard["templating"]["list"]:
            query = variable_query(variable)
            selector = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            assert selector, f"{name}: ${variable['name']}: {query!r}"
            assert metric_names(selector.group(1)) <= known and metric_names(selector.group(1)), query
    assert checked >= 40


def test_every_panel_queries_something_and_every_variable_it_uses_exists() -> None:
    for name, dashboard in dashboards().items():
        defined = {v["name"] for v in dashboard["templating"]["list"]}
        for panel in panels(dashboard):
            if panel["type"] != "row":
                assert panel.get("targets"), f"{name}: {panel['title']} has no query"
        for panel, expr in queries(dashboard):
            used = set(re.findall(r"\$(\w+)", expr))
            assert used <= defined, f"{name}: {panel['title']} uses undefined {sorted(used - defined)}"
            ref_ids = [target["refId"] for target in panel.get("targets", [])]
            assert len(set(ref_ids)) == len(ref_ids), f"{name}: {panel['title']} repeats a refId"


def test_per_service_panels_follow_the_catalog_through_the_service_variable() -> None:
    health = next(d for d in dashboards().values() if d["uid"] == "payment-service-health")
    (variable,) = health["templating"]["list"]
    assert (variable["name"], variable_query(variable)) == ("service", 'label_values(up{service!=""}, service)')
    assert variable["includeAll"] and variable["multi"]
    # Every per-service panel follows the variable, except the seed guide's own query (kept as written).
    for panel, expr in queries(health):
        if normalised(expr) not in {normalised(q) for q in SEED_QUERIES}:
            assert 'service=~"$service"' in expr, f"{panel['title']}: {expr}"


def test_the_seed_guides_queries_are_on_a_panel() -> None:
    shipped = {normalised(expr) for d in dashboards().values() for _, expr in queries(d)}
    for query in SEED_QUERIES:
        assert any(normalised(query) in expr for expr in shipped), query


def _datasource_refs(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "datasource":
                yield item
            else:
                yield from _datasource_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _datasource_refs(item)


def test_every_datasource_a_dashboard_names_is_provisioned() -> None:
    provisioned = {(d["type"], d["uid"]) for d in datasources(PROMETHEUS_URL, JAEGER_URL)["datasources"]}
    for name, dashboard in dashboards().items():
        refs = list(_datasource_refs(dashboard))
        assert refs, name
        for ref in refs:
            assert isinstance(ref, dict), f"{name}: datasource {ref!r} by name; use the fixed uid"
            assert (ref["type"], ref["uid"]) in provisioned, f"{name}: {ref}"
        # Every query and every variable names its datasource itself (no reliance on the default).
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        for variable in dashboard["templating"]["list"]:
            assert variable["datasource"] == {"type": "prometheus", "uid": "prometheus"}


@pytest.mark.tool("promtool")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    rules = []
    for name, dashboard in dashboards().items():
        # Grafana interpolates a variable set to All as its allValue regex; do the same.
        values = {v["name"]: v["allValue"] for v in dashboard["templating"]["list"]}
        for n, (_, expr) in enumerate(queries(dashboard)):
            interpolated = expr
            for variable, value in values.items():
                interpolated = interpolated.replace(f"${variable}", value)
            record = f"dashboard:{name.removesuffix('.json').replace('-', '_')}:{n}"
            rules.append({"record": record, "expr": interpolated})
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# --- provisioning documents ---------------------------------------------------------------------------------


def test_datasources_prometheus_by_default_and_jaeger() -> None:
    document = yaml.safe_load(render_yaml(datasources(PROMETHEUS_URL, JAEGER_URL), "datasources"))
    assert document == datasources(PROMETHEUS_URL, JAEGER_URL)
    assert document["apiVersion"] == 1 and set(document) == {"apiVersion", "datasources"}
    by_uid = {d["uid"]: d for d in document["datasources"]}
    assert set(by_uid) == {"prometheus", "jaeger"}
    prometheus, jaeger = by_uid["prometheus"], by_uid["jaeger"]
    assert (prometheus["type"], prometheus["url"]) == ("prometheus", "http://prometheus.payment-network:9090")
    assert (jaeger["type"], jaeger["url"]) == ("jaeger", "http://jaeger.payment-network:16686")
    assert [d["uid"] for d in document["datasources"] if d["isDefault"]] == ["prometheus"]
    assert all(d["access"] == "proxy" and d["editable"] is False for d in document["datasources"])
    assert prometheus["jsonData"]["timeInterval"] == "15s"
    other = datasources("http://prometheus.other-net:9090", "http://jaeger.other-net:16686", 30)["datasources"]
    assert [d["url"] for d in other] == ["http://prometheus.other-net:9090", "http://jaeger.other-net:16686"]
    assert other[0]["jsonData"]["timeInterval"] == "30s"


def test_dashboard_provider_reads_the_folder_and_refuses_ui_edits() -> None:
    document = yaml.safe_load(render_yaml(dashboard_provider("/some/where"), "dashboard_provider"))
    assert document == dashboard_provider("/some/where")
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/some/where"
    assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True
    assert {"name", "orgId", "folder", "folderUid"} <= set(provider)


# --- the component under the engine --------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    render: Render
    config: PlatformConfig

    def grafana(self) -> Resource:
        return self.render.get(CONTAINER, "payment-grafana-container")

    def env(self, revealed: bool = False) -> dict[str, str]:
        inputs = self.grafana().revealed_inputs if revealed else self.grafana().inputs
        # A wholly secret entry renders as `[secret]` (no `=`); the password tests look for it explicitly.
        return dict(str(item).split("=", 1) for item in inputs["envs"] if "=" in str(item))

    def uploads(self, revealed: bool = False) -> dict[str, dict[str, Any]]:
        return {u["file"]: u for u in container_uploads(self.render, "payment-grafana-container", revealed=revealed)}


def platform(config: PlatformConfig) -> Render:
    """Network, secrets and Grafana, as the platform wires them."""

    def program() -> None:
        host = docker_host(config)
        secrets = Secrets("payment-secrets", SecretsArgs(config=config.secrets))
        Grafana(
            "payment-grafana",
            GrafanaArgs(
                infra=config.infra("grafana"),
                observability=config.observability,
                prometheus_url=PROMETHEUS_URL,
                jaeger_url=JAEGER_URL,
                host=host,
                admin_password=secrets.values[GRAFANA_ADMIN_PASSWORD.name],
            ),
        )

    return run_program(program, config.project, config.stack)


@functools.cache
def built(stack: str) -> Built:
    config = stack_config(stack)
    return Built(platform(config), config)


STACKS = pytest.mark.parametrize("stack", ["dev", "prod"])


@STACKS
def test_container_identity_user_image_and_health(stack: str) -> None:
    grafana = built(stack).grafana()
    inputs = grafana.inputs
    assert inputs["name"] == "payment-grafana"
    assert inputs["hostname"] == "grafana"
    assert inputs["networksAdvanced"] == attachments(stack, "grafana")
    assert inputs["user"] == "472:0"
    # curl ships in both variants of the image (Alpine and Ubuntu); wget only in Alpine's busybox.
    check = inputs["healthcheck"]["tests"]
    assert check[0] == "CMD-SHELL"
    assert check[1].startswith("curl --fail") and "http://127.0.0.1:3000/api/health" in check[1]
    # healthy only once the admin password from the file has been re-asserted (see the start-up step)
    assert check[1].endswith("&& test -f /tmp/payment-admin-password.done")
    assert inputs["entrypoints"] == ["/opt/payment/start"]
    assert inputs["wait"] is False
    assert "command" not in inputs  # the wrapper starts the image's /run.sh, which reads the __FILE
    image = built(stack).render.get(REMOTE_IMAGE, "payment-grafana-image")
    assert image.inputs["name"] == next(i.image for i in INFRASTRUCTURE if i.name == "grafana")
    assert inputs["image"] == image.revealed_outputs["imageId"]
    assert grafana.delete_before_replace
    component = built(stack).render.get("payment:observability:Grafana", "payment-grafana")
    assert grafana.parent == component.urn


@STACKS
def test_published_on_the_hosts_loopback_in_both_stacks(stack: str) -> None:
    assert built(stack).grafana().inputs["ports"] == [
        {"internal": 3000, "external": 40300, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert built(stack).env()["GF_SERVER_ROOT_URL"] == "http://127.0.0.1:40300/"


@STACKS
def test_meets_the_hardening_baseline_with_no_exception(stack: str) -> None:
    grafana = built(stack).grafana()
    report = check_resource(grafana.to_json(), stack)  # the rules of `plan check` and the policy pack
    assert (report.violations, report.exceptions, report.unchecked) == ([], [], [])
    inputs = dict(grafana.inputs)
    assert inputs["readOnly"] is True and "/tmp" in inputs["tmpfs"]
    assert inputs["capabilities"] == {"drops": ["ALL"]}


@STACKS
def test_no_anonymous_access_no_sign_up_and_nothing_phoning_home(stack: str) -> None:
    env = built(stack).env()
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_USERS_ALLOW_ORG_CREATE"] == "false"
    assert env["GF_SECURITY_ADMIN_USER"] == "admin"
    for off in (
        "GF_ANALYTICS_REPORTING_ENABLED",
        "GF_ANALYTICS_CHECK_FOR_UPDATES",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES",
        "GF_SNAPSHOTS_EXTERNAL_ENABLED",
    ):
        assert env[off] == "false", off
    assert env["GF_PLUGINS_PREINSTALL_DISABLED"] == "true"


@STACKS
def test_the_admin_password_is_always_a_0400_file(stack: str) -> None:
    # dev delivers other secrets as variables; Grafana's password is a file in every stack.
    assert built(stack).config.secrets.delivery == {"dev": "env", "prod": "files"}[stack]
    env = built(stack).env()
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == PASSWORD_FILE
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert SECRET not in json.dumps(built(stack).grafana().inputs["envs"])
    upload = built(stack).uploads()[PASSWORD_FILE]
    assert (upload["content"], upload["permissions"], upload["owner"]) == (SECRET, "0400", "472")
    password = built(stack).uploads(revealed=True)[PASSWORD_FILE]["content"]
    assert password.startswith(SECRET_MARKER)


@STACKS
def test_the_password_appears_nowhere_else(stack: str) -> None:
    b = built(stack)
    password = b.uploads(revealed=True)[PASSWORD_FILE]["content"]
    for resource in b.render.resources:
        if not resource.type.startswith("docker:"):
            continue
        visible = dict(resource.revealed_inputs)
        uploads = visible.pop("uploads", [])
        for item in uploads:
            if not str(item["file"]).endswith(PASSWORD_FILE):
                assert password not in str(item["content"]), f"{resource.name}: {item['file']}"
        assert password not in json.dumps(visible), resource.name


@STACKS
def test_provisioning_and_dashboards_are_the_repositorys(stack: str) -> None:
    b = built(stack)
    paths = GrafanaPaths()
    uploads = b.uploads()
    env = b.env()
    provisioning = env["GF_PATHS_PROVISIONING"]
    datasource_file = uploads[f"{provisioning}/datasources/payment-platform.yaml"]
    provider_file = uploads[f"{provisioning}/dashboards/payment-platform.yaml"]
    assert yaml.safe_load(datasource_file["content"]) == datasources(
        PROMETHEUS_URL, JAEGER_URL, b.config.observability.scrape_interval_seconds
    )
    provider = yaml.safe_load(provider_file["content"])
    folder = provider["providers"][0]["options"]["path"]
    shipped = {file.removeprefix(folder + "/"): u for file, u in uploads.items() if file.startswith(folder + "/")}
    assert {name: u["content"] for name, u in shipped.items()} == load_dashboards()
    for item in (datasource_file, provider_file, *shipped.values()):
        assert (item["permissions"], item["owner"]) == ("0444", "472")
    assert set(uploads) == {
        PASSWORD_FILE,
        paths.datasources,
        paths.dashboard_provider,
        "/opt/payment/start",  # the start-up wrapper that re-asserts the admin password
        *(f"{folder}/{name}" for name in load_dashboards()),
    }


@STACKS
def test_files_are_mounted_read_only_where_grafana_reads_them(stack: str) -> None:
    mounts = built(stack).grafana().inputs["mounts"]
    assert {m["target"] for m in mounts} == {
        "/etc/grafana/dashboards",
        "/etc/grafana/provisioning/dashboards",
        "/etc/grafana/provisioning/datasources",
        "/opt/payment",
        "/run/secrets",
    }
    assert all(m["readOnly"] is True for m in mounts)
    assert all(m["source"] == files_volume_name("payment-grafana", m["target"]) for m in mounts)


def test_data_volume_is_retained_everywhere_and_protected_in_prod() -> None:
    for stack, protected in (("dev", False), ("prod", True)):
        b = built(stack)
        volume = b.render.get(VOLUME, "grafana-data")
        assert volume.inputs["name"] == "payment-grafana-data"
        assert volume.retain_on_delete
        assert volume.protect is protected
        assert b.grafana().inputs["volumes"] == [
            {"volumeName": "payment-grafana-data", "containerPath": "/var/lib/grafana"}
        ]
        env = b.env()
        assert env["GF_PATHS_DATA"] == "/var/lib/grafana"
        assert env["GF_PATHS_PLUGINS"].startswith("/var/lib/grafana/")  # writable: the root filesystem is not


def test_the_platform_hands_grafana_its_siblings_urls(dev: Render) -> None:
    """The whole platform wires the datasources to the URLs the Prometheus and Jaeger components answer on."""
    found = {u["file"]: u for u in container_uploads(dev, "payment-grafana-container")}
    document = yaml.safe_load(found[GrafanaPaths().datasources]["content"])
    assert [d["url"] for d in document["datasources"]] == [PROMETHEUS_URL, JAEGER_URL]
