"""i. Destroy: `pulumi destroy --yes` removes every container and the network and keeps every data volume; the
next `pulumi up` finds the rows written before the destroy."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import service_containers
from tests.e2e.live import Live, docker_exec, wait_until_healthy

DATA_VOLUMES = {f"payment-{n}-data" for n in ("postgres", "redis", "kafka", "prometheus", "grafana")}
TABLE = "e2e_retention"


def _psql(sql: str) -> str:
    """SQL as the superuser inside the PostgreSQL container (local socket, no password on any command line)."""
    out = docker_exec("payment-postgres", "psql", "-XAtq", "-U", "postgres", "-d", "postgres", "-c", sql)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_destroy_keeps_the_data_and_the_next_up_finds_it(deployed: Live) -> None:
    marker = uuid.uuid4().hex
    _psql(f"create table if not exists {TABLE} (marker text); insert into {TABLE} values ('{marker}')")

    deployed.pulumi("destroy", "--yes", "--skip-preview", label="destroy")
    assert deployed.containers() == []
    assert deployed.networks() == []
    assert set(deployed.volumes()) == DATA_VOLUMES, "destroy removed a data volume, or left another one"

    deployed.pulumi("up", "--yes", "--skip-preview", label="up onto retained volumes")
    wait_until_healthy(service_containers(deployed), timeout=180)
    assert marker in _psql(f"select marker from {TABLE}").splitlines()
