"""h. Faults: after `docker kill` of a service container and of PostgreSQL, each is back to healthy with no
operator action; after the Docker daemon itself restarts (a host reboot), the whole platform comes back
healthy without `pulumi up`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import service_containers
from tests.e2e.live import Live, docker, inspect, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["payment-order-service", "payment-postgres"])
def test_a_killed_container_comes_back_healthy(deployed: Live, name: str) -> None:
    restarts = inspect([name])[0]["RestartCount"]
    docker("kill", name)
    seconds = wait_until_healthy([name], timeout=180)
    assert inspect([name])[0]["RestartCount"] == restarts + 1
    deployed.results[f"killRecoverySeconds:{name}"] = round(seconds, 1)


def test_the_platform_comes_back_after_the_engine_restarts(deployed: Live) -> None:
    """Only the engine `make engine` started is restarted (scripts/engine.sh: by its recorded PID)."""
    status = subprocess.run([ROOT / "scripts/engine.sh", "status"], capture_output=True, text=True, check=False)
    if "it is ours" not in status.stdout + status.stderr:
        pytest.fail(f"the engine was not started by `make engine`, so this test may not restart it: {status.stdout}")
    names = service_containers(deployed)
    subprocess.run([ROOT / "scripts/engine.sh", "stop"], check=True, timeout=120)
    subprocess.run([ROOT / "scripts/engine.sh", "start"], check=True, timeout=120)
    seconds = wait_until_healthy(names, timeout=300)
    deployed.results["engineRestartRecoverySeconds"] = round(seconds, 1)
    deployed.pulumi("preview", "--expect-no-changes")
