"""The local Grafana STAND-IN runs the program's own Grafana container, and refuses malformed provisioning.

The rendered dev stack's `payment-grafana` (tests/images/harness.py: user 472:0, read-only root, /tmp tmpfs,
data volume, GF_* environment, the start-up wrapper, the provisioning files, dashboards and admin password
file loaded by the local loader image) runs on the engine with the local image in place of
`grafana/grafana:12.4.12`, with no network. The container's own healthcheck passes only once `/api/health`
answers and the wrapper re-asserted the admin password with `grafana cli`; then the password from the
file must open the API, which must list the provisioned datasources and dashboards. A malformed
provisioning file must stop the server, as Grafana does. Printed timings are shown with `pytest -s`.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
import time
from pathlib import Path

from components.docker.containers import files_volume_name
from components.docker.hardening import SECURITY_OPTS
from components.observability.grafana import (
    ADMIN_USER,
    JAEGER_UID,
    PROMETHEUS_UID,
    GrafanaPaths,
    load_dashboards,
)
from stacks.catalog import GRAFANA
from tests.conftest import rendered, unavailable
from tests.images.conftest import CONTRACTS, PREFIX, docker, local_ref, shown
from tests.images.harness import container_named, loader_of, sandbox, wait_healthy

HEALTHY_WITHIN = 60


def needs() -> None:
    for name in (GRAFANA.name, "loader"):
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        if docker("image", "inspect", local_ref(CONTRACTS[name])).returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")


def api(name: str, path: str, user: str | None = None) -> tuple[int, str]:
    """GET `path` inside the container with the image's curl; (status, body)."""
    auth = ["--user", user] if user else []
    proc = docker(
        "exec", name, "curl", "--silent", "--max-time", "5", *auth, "--write-out", "\n%{http_code}",
        f"http://127.0.0.1:{GRAFANA.port}{path}",
    )  # fmt: skip
    assert proc.returncode == 0, shown(proc)
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), body


def test_grafana_container_is_healthy_and_serves_what_was_provisioned(engine: str) -> None:
    """Healthy by its own healthcheck; the admin password file opens the API; datasources and dashboards listed."""
    needs()
    dev = rendered("dev")
    spec = container_named(dev, f"payment-{GRAFANA.name}")
    password_file = GrafanaPaths().password
    files = files_volume_name(f"payment-{GRAFANA.name}", posixpath.dirname(password_file))
    uploads = loader_of(dev, files).revealed_inputs["uploads"]
    password = next(str(u["content"]) for u in uploads if str(u["file"]).endswith(password_file))
    with sandbox("grafana") as box:
        name = box.run_rendered(dev, spec, local_ref(CONTRACTS[GRAFANA.name]), local_ref(CONTRACTS["loader"]))
        seconds = wait_healthy(name, spec.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"grafana stand-in: healthy (admin password applied) after {seconds:.1f} s")

        status, body = api(name, "/api/health")
        health = json.loads(body)
        assert status == 200 and health["database"] == "ok", body
        assert health.get("standIn") is True, f"the stand-in must say so in /api/health: {body}"

        assert api(name, "/api/datasources")[0] == 401, "the API must refuse an anonymous caller"
        assert api(name, "/api/datasources", f"{ADMIN_USER}:not-the-password")[0] == 401
        status, body = api(name, "/api/datasources", f"{ADMIN_USER}:{password}")
        assert status == 200, f"the admin password from {password_file} was refused: {body}"
        assert {d["uid"] for d in json.loads(body)} == {PROMETHEUS_UID, JAEGER_UID}, body

        status, body = api(name, "/api/search", f"{ADMIN_USER}:{password}")
        assert status == 200, body
        expected = {json.loads(text)["uid"] for text in load_dashboards().values()}
        assert {hit["uid"] for hit in json.loads(body)} == expected, body

        logs = docker("logs", name)
        assert "STAND-IN" in logs.stdout + logs.stderr, "the stand-in must print its banner at start"


def test_malformed_provisioning_stops_the_server(engine: str) -> None:
    """A datasource file that is not YAML stops the stand-in with an error naming it, as Grafana stops."""
    needs()
    image = local_ref(CONTRACTS[GRAFANA.name])
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "broken.yaml"
        bad.write_text("apiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: [prometheus\n")
        bad.chmod(0o644)
        target = f"{GrafanaPaths().provisioning}/datasources/broken.yaml"
        started = time.monotonic()
        proc = docker(
            "run", "--rm", "--name", f"{PREFIX}-grafana-malformed", "--network", "none", "--read-only",
            "--tmpfs", "/tmp", "--tmpfs", GrafanaPaths().data,
            *(f"--security-opt={o}" for o in SECURITY_OPTS), "--cap-drop", "ALL",
            "--volume", f"{bad}:{target}:ro", image,
            timeout=60,
        )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"the server started with a malformed provisioning file: {shown(proc)}"
    assert "Datasource provisioning error" in output and "broken.yaml" in output, shown(proc)
    print(f"grafana stand-in: refused malformed provisioning in {time.monotonic() - started:.1f} s")
