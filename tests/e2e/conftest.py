"""Fixtures of the real-engine tests: the workspace `scripts/e2e.py` prepared, and the stack deployed once.

The files run in name order (a to j, as in the deploy-proof issue): they share one deployed stack, and the
later ones change it (rotation, faults, destroy). The outcome of every test and everything they measured go to
`<workspace>/pytest-report.json`, which `scripts/e2e.py` turns into the report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plan import Render, render
from tests.conftest import unavailable
from tests.e2e.live import (
    WORKSPACE_VARIABLE,
    EngineEvents,
    Live,
    critical_path,
    is_loader,
    wait_until_healthy,
)
from vocabulary import CONTAINER

FRESH_PREVIEW = "dev-fresh-preview.json"
"""`pulumi preview --json` of the dev stack before its first `up`, in the workspace."""
_OUTCOMES: dict[str, dict[str, Any]] = {}
_LIVE: list[Live] = []


@pytest.fixture(scope="session")
def live() -> Live:
    if WORKSPACE_VARIABLE not in os.environ:
        unavailable("tests/e2e run through `make e2e` (scripts/e2e.py prepares their workspace)")
    loaded = Live.load()
    _LIVE.append(loaded)
    return loaded


@pytest.fixture(scope="session")
def expected(live: Live) -> Render:
    """The offline render of the workspace's dev stack file: what every container should look like."""
    return render("dev", config_file=live.stack_file("dev"))


@pytest.fixture(scope="session")
def deployed(live: Live, expected: Render) -> Iterator[Live]:
    """`pulumi up` of the dev stack, once, timed against the engine's own events of the same run.

    Before it, while the stack has no state, its `pulumi preview --json` is kept for test_f (`fresh_preview`)."""
    (live.root / FRESH_PREVIEW).write_text(json.dumps(live.preview_json()))
    with EngineEvents(live.root) as events:
        live.pulumi("up", "--yes", "--skip-preview", label="cold up")
        # Containers nothing depends on are created without `wait` (Kong, the exporters, ...): `up` returns while
        # they may still be starting. Every one must be healthy within the profile's start period.
        live.results["healthyAfterUpSeconds"] = round(wait_until_healthy(service_containers(live), timeout=180), 1)
    live.results["coldUpCriticalPath"] = critical_path(events.events, container_dependencies(expected))
    yield live


def container_dependencies(render: Render) -> dict[str, set[str]]:
    """Container name -> the containers its `depends_on` names, from the render."""
    names = {r.urn: str(r.inputs["name"]) for r in render.resources if r.type == CONTAINER}
    return {names[r.urn]: {names[d] for d in r.dependencies if d in names} for r in render.resources if r.urn in names}


def service_containers(live: Live, stack: str = "dev") -> list[str]:
    """Names of the stack's long-running containers (everything but the one-shot loaders)."""
    return sorted(c["Name"].lstrip("/") for c in live.containers(stack) if not is_loader(c))


@pytest.fixture
def ca_file(deployed: Live, tmp_path: Path) -> Path:
    """The stack's current trust bundle in a file, for clients on the host (a destroy and up renews the CA)."""
    path = tmp_path / "ca.pem"
    path.write_text(deployed.outputs()["caBundle"])
    return path


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _OUTCOMES.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry["seconds"] = round(entry["seconds"] + report.duration, 1)
    if report.failed:
        entry["outcome"] = "failed"
        entry["message"] = str(report.longrepr).splitlines()[-1][:500] if report.longrepr else ""
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _LIVE or WORKSPACE_VARIABLE not in os.environ:
        return
    live = _LIVE[0]
    kinds = {role: ("real" if kind == "local-build" else kind) for role, kind in live.kinds.items()}
    document = {
        "engine": live.engine,
        "images": live.images,
        "components": kinds,
        "tests": _OUTCOMES,
        "timings": [{"label": t.label, "seconds": t.seconds, **t.detail} for t in live.timings],
        "results": live.results,
        "pytestExitStatus": int(exitstatus),
    }
    (live.root / "pytest-report.json").write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
