"""g. Rotation for real: the runbook's step (`pulumi config set --path rotation.<secret> <n+1>`, then `pulumi up`)
replaces exactly the containers the runbook names (container ids before and after), the old password is
refused, the new one works, and everything is healthy again."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stacks.catalog import db_password_secret
from tests.e2e.conftest import service_containers
from tests.e2e.live import Live, inspect, psql, staged_leftovers, wait_until_healthy

SERVICE = "order-service"
EXPECTED_REPLACED = {f"payment-{SERVICE}", "payment-postgres", "payment-postgres-files"}
"""The README's rotation runbook: `db-password-<svc>` replaces that service (dev delivers secrets as variables,
so its loader, holding only certificates, stays) and the database with its loader (the bootstrap file applies
the new password)."""


def _ids(live: Live) -> dict[str, str]:
    return {c["Name"].lstrip("/"): c["Id"] for c in live.containers()}


def _login(live: Live, password: str, ca: Path) -> subprocess.CompletedProcess[str]:
    outputs = live.outputs()
    database = outputs["services"][SERVICE]["database"]
    return psql(outputs, ca, database, database, password=password)


def test_rotating_a_database_password_replaces_exactly_its_holders(deployed: Live, ca_file: Path) -> None:
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
    # The replacement loader copied the new password file and deleted its staged copy, as the first one did.
    loader = inspect(["payment-postgres-files"])[0]
    assert (loader["State"]["Status"], loader["State"]["ExitCode"]) == ("exited", 0), loader["State"]
    assert staged_leftovers(loader["Id"]) == []

    new_password = deployed.generated_secrets()[secret]
    assert new_password != old_password
    refused = _login(deployed, old_password, ca_file)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr, refused.stderr
    accepted = _login(deployed, new_password, ca_file)
    assert accepted.returncode == 0 and accepted.stdout.strip() == "1", accepted.stderr
