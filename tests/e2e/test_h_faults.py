"""h. Faults: after a crash of a service container and of PostgreSQL, each is back to healthy with no operator
action; after the Docker daemon itself restarts (a host reboot), the whole platform comes back healthy without
`pulumi up`.

The crash is the container's init process killed with SIGKILL from the host (as the kernel's OOM killer or a
segfault ends it), not `docker kill`: the engine records `docker kill` as an operator's stop and no restart
policy (on-failure, always, unless-stopped) restarts such a container (README, "Deploy proof")."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import service_containers
from tests.e2e.live import Live, inspect, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["payment-order-service", "payment-postgres"])
def test_a_crashed_container_comes_back_healthy(deployed: Live, name: str) -> None:
    state = inspect([name])[0]
    started = time.monotonic()
    os.kill(state["State"]["Pid"], signal.SIGKILL)  # the container's init, started by our own `pulumi up`
    # Until the engine has seen the crash and restarted it, it may still report the old process as healthy.
    while inspect([name])[0]["RestartCount"] == state["RestartCount"]:
        assert time.monotonic() - started < 60, f"{name} was not restarted within 60 s of its crash"
        time.sleep(0.5)
    wait_until_healthy([name], timeout=180)
    after = inspect([name])[0]
    assert after["Id"] == state["Id"] and after["RestartCount"] == state["RestartCount"] + 1
    deployed.results[f"crashRecoverySeconds:{name}"] = round(time.monotonic() - started, 1)


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
