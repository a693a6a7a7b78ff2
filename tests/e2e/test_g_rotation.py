"""g. Rotation for real: the runbook's step (`pulumi config set --path rotation.<secret> <n+1>`, then `pulumi up`)
replaces exactly the containers the runbook names (container ids before and after), the old password is
refused, the new one works, and everything is healthy again."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from stacks.catalog import db_password_secret
from tests.conftest import require_tool
from tests.e2e.conftest import service_containers
from tests.e2e.live import Live, wait_until_healthy

SERVICE = "order-service"
EXPECTED_REPLACED = {f"payment-{SERVICE}", "payment-postgres", "payment-postgres-files"}
"""The README's rotation runbook: `db-password-<svc>` replaces that service (dev delivers secrets as variables,
so its loader, holding only certificates, stays) and the database with its loader (the bootstrap file applies
the new password)."""


def _ids(live: Live) -> dict[str, str]:
    return {c["Name"].lstrip("/"): c["Id"] for c in live.containers()}


def _login(live: Live, password: str, ca: Path) -> subprocess.CompletedProcess[str]:
    outputs = live.outputs()
    port = outputs["urls"]["postgres"].rsplit(":", 1)[1].split("/")[0]
    database = outputs["services"][SERVICE]["database"]
    dsn = f"host=127.0.0.1 port={port} dbname={database} user={database} sslmode=verify-full sslrootcert={ca}"
    return subprocess.run(
        [require_tool("psql", "postgresql-client"), dsn, "-XAtc", "select 1"],
        env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_rotating_a_database_password_replaces_exactly_its_holders(deployed: Live, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(deployed.outputs()["caBundle"])
    secret = db_password_secret(SERVICE)
    old_password = deployed.generated_secrets()[secret]
    before = _ids(deployed)

    generation = int((deployed.stack_document()["config"].get("payment-platform:rotation") or {}).get(secret, 0))
    deployed.config_set(f"rotation.{secret}", str(generation + 1))
    deployed.pulumi("up", "--yes", "--skip-preview", label="rotation (db-password-order-service)")
    deployed.results["rotationHealthySeconds"] = round(wait_until_healthy(service_containers(deployed), 180), 1)

    after = _ids(deployed)
    replaced = {name for name, cid in after.items() if before.get(name) != cid}
    assert set(before) == set(after)
    assert replaced == EXPECTED_REPLACED
    deployed.results["rotationReplaced"] = sorted(replaced)

    new_password = deployed.generated_secrets()[secret]
    assert new_password != old_password
    refused = _login(deployed, old_password, ca)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr, refused.stderr
    accepted = _login(deployed, new_password, ca)
    assert accepted.returncode == 0 and accepted.stdout.strip() == "1", accepted.stderr
