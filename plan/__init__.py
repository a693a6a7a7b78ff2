"""Offline rendering of the Pulumi program: run the real `__main__.py` under the SDK's mock runtime.

`python -m plan render --stack dev` shows every resource a stack declares, without the Pulumi CLI,
credentials, a state backend or Docker. Tests use the same engine (`plan.render`).
"""

from __future__ import annotations

from pathlib import Path

from plan import engine
from plan.engine import RecordingMonitor, Render, Resource, StackConfig
from plan.simulate import Placeholders
from plan.stackfile import Project, StackFileError, build

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The Pulumi project this renderer belongs to (the folder holding Pulumi.yaml)."""

__all__ = [
    "PROJECT_DIR",
    "Project",
    "RecordingMonitor",
    "Render",
    "Resource",
    "StackConfig",
    "StackFileError",
    "render",
]


def render(
    stack: str = "dev",
    *,
    config_file: Path | None = None,
    sets: tuple[str, ...] = (),
    secret_sets: tuple[str, ...] = (),
    project_dir: Path = PROJECT_DIR,
    monitor: RecordingMonitor | None = None,
    simulator: Placeholders | None = None,
) -> Render:
    """Run the program for `stack` with its stack file plus `--set`-style edits; return what it declared."""
    # Imported here, not at the top: the program imports `stacks` anyway, while `plan`'s own import graph stays free
    # of the program (the benchmark's replay process, scripts/bench/replay.py, loads `plan` without it).
    from stacks.resolve import SECRET_PREFIXES  # noqa: PLC0415 (see above)

    project = Project.load(project_dir)
    prefixes = {f"{project.name}:secrets.{name}": shapes[0] for name, shapes in SECRET_PREFIXES.items()}
    config = build(
        project, stack, config_file=config_file, sets=sets, secret_sets=secret_sets, secret_prefixes=prefixes
    )
    monitor = monitor or RecordingMonitor(simulator)
    return engine.run(project_dir, project.name, stack, config, monitor)
