"""Grafana for the platform: the seed guide's five dashboards over Prometheus, Jaeger for traces.

Creates the pulled image, the `payment-grafana-data` volume and the `payment-grafana` container (alias
`grafana`, UI on 3000, published on 127.0.0.1:40300 where the profile says: both stacks). Everything
Grafana shows is provisioned from files, so a fresh volume and an old one look the same:

* Datasources (`datasources`): Prometheus (`http://prometheus.<network>:9090`, the default, uid
  `prometheus`) and Jaeger's query API (`http://jaeger.<network>:16686`, uid `jaeger`). Both are
  read-only in the UI. Dashboards name the Prometheus datasource by its fixed uid, so they never depend
  on the order datasources were created in.
* Dashboards (`load_dashboards`): the JSON files in the repository's `dashboards/` folder, one per topic
  of the seed guide's monitoring section (服务健康概览, 支付流程监控, 数据库性能, Kafka 消息队列,
  容器资源使用). Per-service panels use a `$service` variable fed by
  `label_values(up{service!=""}, service)`, so a service added to the catalog (and so to Prometheus's
  scrape jobs) appears on the dashboards with no edit here. Every query names only metrics that
  `components.observability.metrics` lists for a job Prometheus scrapes (the tests check it). The provider
  (`dashboard_provider`) refuses UI edits and deletions: a change is a change to the JSON in git.
* The admin password is the `grafana-admin-password` secret, always delivered as a 0400 file owned by
  Grafana's user (whatever the stack's `secretDelivery`): the image's entrypoint reads
  `GF_SECURITY_ADMIN_PASSWORD__FILE` into the server's environment, so the value never appears in
  `docker inspect`, a label or a provisioning file. Grafana applies it only when it creates the admin
  user, on a fresh data volume, so the container starts through `components.docker.startup`'s wrapper: once the
  server answers, `grafana cli admin reset-admin-password --password-from-stdin` re-asserts the password
  from the file (never a command-line argument), and only then is the container healthy. A rotation
  replaces the container and so reaches an existing volume.
* Locked down: no anonymous access, no sign-up or org creation, no usage reporting, update checks,
  news feed, Gravatar or external snapshots, and no plugin downloads at start (Grafana 12 preinstalls
  plugins from grafana.com by default; here the plugin set is the image's, nothing fetched at run time).

Facts about the `grafana/grafana` image this relies on (its Dockerfile: `ARG GF_UID="472"`,
`ARG GF_GID="0"`, `apk add ... curl ...` on Alpine and `apt-get install ... curl ...` on Ubuntu,
`USER "$GF_UID"`, `ENTRYPOINT ["/run.sh"]`): it runs as 472:0; curl is present in both variants, so the
healthcheck is a curl of `/api/health` (which answers 503 when the database is unusable); `/run.sh`
turns every `GF_*__FILE` variable into the variable it names. The root filesystem stays read-only:
Grafana writes its database, plugins and rendered files under `/var/lib/grafana` (the data volume; on
first use Docker copies the image's folder, owned by 472, into the empty volume) and scratch files
(SQLite temp files among them) to the `/tmp` tmpfs; logs go to the console.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import yaml

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.docker.startup import WRAPPER_PATH, wrapper_script
from components.secrets import secret_path
from stacks.catalog import GRAFANA, GRAFANA_ADMIN_PASSWORD
from stacks.models import Infrastructure, ObservabilityDefaults

GRAFANA_UID = 472
"""The image's `grafana` user (`GF_UID`); it owns the uploaded files and the data volume's content."""
GRAFANA_GID = 0
"""The image's `GF_GID`: the user's primary group is root's group, as the image's own folders expect."""

ADMIN_USER = "admin"

PROMETHEUS_UID = "prometheus"
"""Fixed datasource uid every dashboard target references."""
JAEGER_UID = "jaeger"

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
"""The repository's dashboard JSON files, one per seed dashboard."""

FOLDER = "Payment Platform"
FOLDER_UID = "payment-platform"

HEALTH_PROBE = (
    f"curl --fail --silent --show-error --max-time 4 --output /dev/null http://127.0.0.1:{GRAFANA.port}/api/health"
)
"""`/api/health` answers 200 once the server is up and its database usable (503 otherwise); curl is in the image."""
PASSWORD_APPLIED = "/tmp/payment-admin-password.done"
HEALTHCHECK = ("CMD-SHELL", f"{HEALTH_PROBE} && test -f {PASSWORD_APPLIED}")


def reset_password(password_file: str) -> str:
    """Re-assert the admin password on every start; the password travels on stdin, never as an argument."""
    return f"grafana cli admin reset-admin-password --password-from-stdin < {shlex.quote(password_file)}"


@dataclass(frozen=True)
class GrafanaPaths:
    """Where things live inside the container."""

    provisioning: str = "/etc/grafana/provisioning"
    """`GF_PATHS_PROVISIONING`: Grafana reads `datasources/` and `dashboards/` below it."""
    datasources: str = "/etc/grafana/provisioning/datasources/payment-platform.yaml"
    dashboard_provider: str = "/etc/grafana/provisioning/dashboards/payment-platform.yaml"
    dashboards: str = "/etc/grafana/dashboards"
    """The dashboard JSON files the provider loads (outside the provisioning folder, which holds YAML only)."""
    data: str = "/var/lib/grafana"
    """`GF_PATHS_DATA`: the SQLite database and everything else Grafana writes; the data volume."""
    plugins: str = "/var/lib/grafana/plugins"
    """`GF_PATHS_PLUGINS`: on the data volume, since the root filesystem is read-only."""
    password: str = secret_path(GRAFANA_ADMIN_PASSWORD.name)


# --- pure builders -----------------------------------------------------------------------------------------


def datasources(prometheus_url: str, jaeger_url: str, scrape_interval_seconds: int = 15) -> dict[str, Any]:
    """Datasource provisioning: Prometheus (default) and Jaeger's query API (`Prometheus.url`,
    `Jaeger.query_url`), by fixed uids, read-only in the UI.

    `timeInterval` is the scrape interval, so Grafana never asks for a step finer than the data has.
    Values are public: neither datasource needs a credential on the platform network.
    """
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": PROMETHEUS_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "httpMethod": "POST",
                    "prometheusType": "Prometheus",
                    "timeInterval": f"{scrape_interval_seconds}s",
                    # Exemplars carrying a trace id open the trace in Jaeger.
                    "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": JAEGER_UID}],
                },
            },
            {
                "name": "Jaeger",
                "uid": JAEGER_UID,
                "type": "jaeger",
                "access": "proxy",
                "url": jaeger_url,
                "isDefault": False,
                "editable": False,
            },
        ],
    }


def dashboard_provider(path: str) -> dict[str, Any]:
    """Dashboard provisioning: every JSON file in `path`, in one folder, not editable or deletable in the UI."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "payment-platform",
                "orgId": 1,
                "folder": FOLDER,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }


def render_yaml(document: dict[str, Any], source: str) -> str:
    """A provisioning document as YAML, with a header naming where it comes from."""
    header = f"# Generated by payment-platform (components/grafana.py: {source}). Holds no secret.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def load_dashboards(folder: Path = DASHBOARDS_DIR) -> dict[str, str]:
    """File name -> text of every `*.json` dashboard in `folder`, each checked to parse, in name order.

    Raises ValueError naming the file when one is not a JSON object with a `uid` and a `title`, or when two
    share a uid (Grafana would silently keep only one of them).
    """
    found: dict[str, str] = {}
    uids: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path.name}: not valid JSON: {error}") from error
        if not isinstance(document, dict) or not document.get("uid") or not document.get("title"):
            raise ValueError(f"{path.name}: expected a dashboard object with a uid and a title")
        uid = str(document["uid"])
        if uid in uids:
            raise ValueError(f"{path.name}: uid {uid!r} is already used by {uids[uid]}")
        uids[uid] = path.name
        found[path.name] = text
    if not found:
        raise ValueError(f"no dashboard (*.json) in {folder}")
    return found


def root_url(infra: Infrastructure) -> str:
    """The address users open Grafana at: the published port, or the network-internal URL when unpublished.

    Grafana builds absolute links (redirects, alert and share links) from it.
    """
    return f"{infra.published_url or f'http://{infra.address()}'}/"


def grafana_environment(infra: Infrastructure, paths: GrafanaPaths) -> dict[str, str]:
    """Grafana's settings (`GF_<SECTION>_<KEY>`): paths, the admin account, and everything switched off.

    The password is only named by its file (`__FILE`); no value here is secret.
    """
    return {
        "GF_PATHS_DATA": paths.data,
        "GF_PATHS_PLUGINS": paths.plugins,
        "GF_PATHS_PROVISIONING": paths.provisioning,
        "GF_LOG_MODE": "console",
        "GF_SERVER_HTTP_PORT": str(infra.port),
        "GF_SERVER_ROOT_URL": root_url(infra),
        "GF_SECURITY_ADMIN_USER": ADMIN_USER,
        "GF_SECURITY_ADMIN_PASSWORD__FILE": paths.password,
        "GF_SECURITY_DISABLE_GRAVATAR": "true",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_USERS_ALLOW_ORG_CREATE": "false",
        "GF_SNAPSHOTS_EXTERNAL_ENABLED": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "GF_ANALYTICS_FEEDBACK_LINKS_ENABLED": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        # Grafana 12 downloads "preinstalled" plugins from grafana.com at every start unless told not to.
        "GF_PLUGINS_PREINSTALL_DISABLED": "true",
    }


# --- the component -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrafanaArgs:
    infra: Infrastructure
    """Grafana's catalog entry, resolved: port, image, sizing, exposure."""
    observability: ObservabilityDefaults
    """The scrape interval: the finest step a panel asks for."""
    prometheus_url: str
    """`Prometheus.url`: the default datasource."""
    jaeger_url: str
    """`Jaeger.query_url`: the traces datasource."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    admin_password: pulumi.Output[str]
    """`grafana-admin-password` (secret), given to Grafana as a file whatever the stack's secret delivery."""


class Grafana(pulumi.ComponentResource):
    """Grafana: image, data volume and the `payment-grafana` container with provisioned datasources and dashboards."""

    container: docker.Container
    """The `payment-grafana` container."""
    url: str
    """Where users open Grafana (`http://127.0.0.1:40300/` when published)."""

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:observability:Grafana", name, None, opts)
        infra = args.infra
        paths = GrafanaPaths()
        sources = datasources(args.prometheus_url, args.jaeger_url, args.observability.scrape_interval_seconds)
        provisioning = (
            upload(
                paths.datasources,
                render_yaml(sources, "datasources"),
                GRAFANA_UID,
                PUBLIC_READ,
            ),
            upload(
                paths.dashboard_provider,
                render_yaml(dashboard_provider(paths.dashboards), "dashboard_provider"),
                GRAFANA_UID,
                PUBLIC_READ,
            ),
        )
        dashboards = tuple(
            upload(f"{paths.dashboards}/{file}", text, GRAFANA_UID, PUBLIC_READ)
            for file, text in load_dashboards().items()
        )
        # Always a file: the value must not show in `docker inspect`, whatever the stack delivers elsewhere.
        password = upload(paths.password, args.admin_password, GRAFANA_UID)
        start = upload(
            WRAPPER_PATH,
            wrapper_script(
                server=["/run.sh"], ready=HEALTH_PROBE, apply=reset_password(paths.password), marker=PASSWORD_APPLIED
            ),
            GRAFANA_UID,
            "0555",
        )
        files = ContainerFiles(
            env=grafana_environment(infra, paths), uploads=(password, start, *provisioning, *dashboards)
        )
        self.container = infrastructure_container(
            name,
            infra,
            args.host,
            InfraSpec(
                healthcheck=HEALTHCHECK,
                user=f"{GRAFANA_UID}:{GRAFANA_GID}",
                files=files,
                data_path=paths.data,
                entrypoint=[WRAPPER_PATH],
                # Nothing depends on Grafana, and it does not need Prometheus to start.
                wait=False,
            ),
            parent=self,
        )
        self.url = root_url(infra)
        self.register_outputs({"containerName": self.container.name, "url": self.url})


IMAGE_CONTRACT = ImageContract(
    stands_for=str(GRAFANA.image),
    local=GRAFANA.name,
    # The image's GF_UID:GF_GID; the container also runs as it.
    user=f"{GRAFANA_UID}:{GRAFANA_GID}",
    run_as=f"{GRAFANA_UID}:{GRAFANA_GID}",
    # The component replaces the entrypoint with its wrapper, which starts the image's /run.sh itself.
    entrypoint=None,
    # /run.sh (reads GF_*__FILE), `grafana cli` (reset_password), the healthcheck's curl and test, and what
    # the wrapper's shell script calls.
    executables=("/run.sh", "grafana", "curl", "sh", "test", "rm", "touch", "sleep", "kill"),
    paths=(
        # An empty data volume takes this folder's owner and mode: Grafana (472) writes its database there.
        PathContract(GrafanaPaths().data, owner=f"{GRAFANA_UID}:{GRAFANA_GID}", mode=0o777),
        PathContract(GrafanaPaths().plugins, owner=f"{GRAFANA_UID}:{GRAFANA_GID}", mode=0o777),
        # The marker of the applied password lies in the /tmp tmpfs, which takes this folder's mode.
        PathContract("/tmp", owner="0:0", mode=0o1777),
    ),
    probe=("grafana", "--version"),
    # The local build is a stand-in (images/grafana): Grafana's Go module is AGPL and is not built here.
    stand_in=True,
    ports=(GRAFANA.port,),
)
"""What this module relies on from `grafana/grafana` (checked against local builds by tests/images)."""
