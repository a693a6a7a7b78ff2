"""What the program relies on from each image it runs, written once next to the component that relies on it.

The program never builds the official images it pins (`postgres:18.6-trixie`, `kong:3.9.1`, ...); it relies
on a few facts about them: which uid the processes run as, the entrypoint, the programs its commands and
healthchecks call, the folders it mounts over and their owners and modes. Each component module states
those facts as an `ImageContract`, and `tests/images/` checks every image built locally for a machine
without a registry (`make images`, folder `images/`) against the same contract, so a local build cannot
silently drift from what the program expects of the official image.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field

import components


@dataclass(frozen=True)
class PathContract:
    """A folder or file the program mounts over, writes into or reads from."""

    path: str
    kind: str = "dir"
    """`dir` or `file`."""
    owner: str | None = None
    """`uid:gid` (numeric) it must be owned by; None when any owner will do."""
    mode: int | None = None
    """Permission bits it must have (e.g. 0o3777); None when any mode will do."""


@dataclass(frozen=True)
class ImageContract:
    """The facts about one image that the program's containers depend on."""

    stands_for: str
    """The official image reference the program pins (catalog or component constant)."""
    local: str
    """Name of the local build under `images/` (`payment-local/<local>`)."""
    user: str | None
    """Numeric `uid:gid` the image's default user must be, or None when the component always sets the user."""
    entrypoint: tuple[str, ...] | None = None
    """The image's ENTRYPOINT the component relies on; None when the component sets its own; `()` when the
    component relies on there being none (its command is the whole argv, as with busybox)."""
    run_as: str | None = None
    """Numeric `uid:gid` the component runs the container as when it sets one (the probe runs as it too)."""
    executables: tuple[str, ...] = ()
    """Programs the component's command and healthcheck run; each must be on the image's PATH."""
    paths: tuple[PathContract, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    """Environment the image must set, exactly."""
    env_paths: tuple[tuple[str, str], ...] = ()
    """(variable, folder): the image must set the variable to a path inside the folder, when the exact value
    differs between versions but the program relies on where it lies (PGDATA inside the data volume)."""
    probe: tuple[str, ...] | None = None
    """A command that must exit 0 when run in the image as `user`: the software is really there."""
    stand_in: bool = False
    """The local build is a stand-in honouring only the container contract, not the real software."""
    ports: tuple[int, ...] = field(default=())
    """Ports the image's software listens on by default."""


def all_contracts() -> dict[str, ImageContract]:
    """Every contract declared in a module of `components/` (its sub-packages included), keyed by its `local`
    image name.

    A module declares one as a module-level `ImageContract` (`IMAGE_CONTRACT = ...`) or a module-level mapping
    of them (`IMAGE_CONTRACTS = {...}`), so a new image is checked by `tests/images/` as soon as its component
    states its contract.
    """
    found: dict[str, tuple[str, ImageContract]] = {}

    def add(where: str, contract: ImageContract) -> None:
        previous = found.get(contract.local)
        if previous is not None and previous[1] != contract:
            raise ValueError(f"two different contracts for image {contract.local!r}: {previous[0]} and {where}")
        found[contract.local] = (where, contract)

    modules = pkgutil.walk_packages(components.__path__, prefix="components.")
    for info in sorted(modules, key=lambda i: i.name):
        module = importlib.import_module(info.name)
        for attr, value in sorted(vars(module).items()):
            where = f"{info.name}.{attr}"
            if isinstance(value, ImageContract):
                add(where, value)
            elif isinstance(value, Mapping):
                for item in value.values():
                    if isinstance(item, ImageContract):
                        add(where, item)
    return {local: contract for local, (_, contract) in sorted(found.items())}
