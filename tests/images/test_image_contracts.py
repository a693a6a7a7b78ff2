"""Each local image (`make images`, folder images/) honours what its component relies on from the official image.

The contracts are the `IMAGE_CONTRACT`s the component modules declare (`components.docker.image_contract`), so
an image added under images/ with a contract in its component is checked here with no change to this
file. Each test runs the real image (`payment-local/<name>:local`) on the engine: `docker image inspect`
for the image's configuration, throw-away `docker run --rm --network none` containers for what is inside.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from components.docker.image_contract import ImageContract
from tests.images.conftest import CONTRACTS, local_ref, run_in_image, shown

STANDS_FOR = "com.payment-platform.stands-for"
KIND = "com.payment-platform.kind"
TITLE = "org.opencontainers.image.title"

Inspect = Callable[[ImageContract], dict[str, Any]]


def contracts(applies: Callable[[ImageContract], object] = lambda _: True) -> pytest.MarkDecorator:
    """Parametrize over every contract that states the fact a test checks (no skip for the others)."""
    chosen = {name: c for name, c in CONTRACTS.items() if applies(c)}
    return pytest.mark.parametrize("contract", list(chosen.values()), ids=list(chosen))


def run_user(contract: ImageContract) -> str | None:
    """Who the component runs the container as: its own user, else the image's default."""
    return contract.run_as or contract.user


def test_every_component_image_has_a_contract() -> None:
    """The images this task builds each state a contract (a missing one would silently go unchecked)."""
    expected = {"postgres", "redis", "demo", "prometheus", "postgres-exporter", "redis-exporter", "loader"}
    assert expected <= CONTRACTS.keys(), f"contracts found: {sorted(CONTRACTS)}"


@contracts()
def test_labels_name_the_official_image_and_kind(contract: ImageContract, inspect_image: Inspect) -> None:
    """The image says which official image it stands for, and whether it is the real software."""
    labels = inspect_image(contract)["Config"].get("Labels") or {}
    assert labels.get(TITLE), f"{local_ref(contract)} has no {TITLE} label; labels: {labels}"
    assert labels.get(STANDS_FOR) == contract.stands_for, (
        f"{local_ref(contract)} stands for {labels.get(STANDS_FOR)!r}, the component pins {contract.stands_for!r}"
    )
    expected_kind = "stand-in" if contract.stand_in else "local-build"
    assert labels.get(KIND) == expected_kind, (
        f"{local_ref(contract)} is labelled kind={labels.get(KIND)!r}; the contract (stand_in={contract.stand_in}) "
        f"expects {expected_kind!r}"
    )


@contracts(lambda c: c.user is not None)
def test_default_user(contract: ImageContract, inspect_image: Inspect) -> None:
    """The image's default user is the uid:gid the component relies on (when it sets none itself)."""
    configured = inspect_image(contract)["Config"].get("User") or ""
    if re.fullmatch(r"\d+:\d+", configured):
        effective = configured
    elif configured in ("", "0", "root", "0:0"):
        effective = "0:0"
    else:
        proc = run_in_image(contract, ["sh", "-c", 'echo "$(id -u):$(id -g)"'], user=None)
        assert proc.returncode == 0, f"could not resolve USER {configured!r}: {shown(proc)}"
        effective = proc.stdout.strip()
    assert effective == contract.user, (
        f"{local_ref(contract)} runs as {effective} (USER {configured!r}), the component relies on {contract.user}"
    )


@contracts(lambda c: c.entrypoint is not None)
def test_entrypoint(contract: ImageContract, inspect_image: Inspect) -> None:
    """The image's ENTRYPOINT is the one the component's command is written for."""
    assert contract.entrypoint is not None
    entrypoint = tuple(inspect_image(contract)["Config"].get("Entrypoint") or ())
    assert entrypoint == contract.entrypoint, (
        f"{local_ref(contract)} has ENTRYPOINT {list(entrypoint)}, the component relies on {list(contract.entrypoint)}"
    )


# Resolves each argument on PATH (or as an absolute path) and says whether the caller may execute it. A shell
# builtin (`test` in a CMD-SHELL healthcheck) counts: the component's shell runs it.
_WHICH = r"""
for x in "$@"; do
  case "$x" in /*) p="$x" ;; *) p="$(command -v "$x" || true)" ;; esac
  case "$p" in
    /*) if [ -f "$p" ] && [ -x "$p" ]; then echo "ok $x $p"; else echo "missing $x"; fi ;;
    "") echo "missing $x" ;;
    *) echo "ok $x builtin" ;;
  esac
done
echo "PATH=$PATH"
"""


@contracts(lambda c: c.executables or c.entrypoint)
def test_executables_on_path(contract: ImageContract, inspect_image: Inspect) -> None:
    """Every program the component's command, entrypoint and healthcheck call is there, executable by its user."""
    inspect_image(contract)
    wanted = [*contract.executables, *(contract.entrypoint or ())[:1]]
    proc = run_in_image(contract, ["sh", "-c", _WHICH, "sh", *wanted], user=run_user(contract))
    assert proc.returncode == 0, f"could not look programs up with the image's sh: {shown(proc)}"
    missing = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("missing ")]
    path = next((line for line in proc.stdout.splitlines() if line.startswith("PATH=")), "PATH unknown")
    assert not missing, (
        f"{local_ref(contract)} as {run_user(contract)}: not found or not executable: {missing} ({path})"
    )


@contracts(lambda c: c.paths)
def test_paths_kind_owner_mode(contract: ImageContract, inspect_image: Inspect) -> None:
    """Folders the component mounts over or writes into exist with the official image's owner and mode.

    The engine gives a tmpfs or a new named volume the owner and mode of the image's folder, so these
    decide what the container's user may write there.
    """
    inspect_image(contract)
    script = 'for p in "$@"; do stat -c "%n|%F|%u:%g|%a" "$p" 2>/dev/null || echo "$p|missing||"; done'
    proc = run_in_image(contract, ["sh", "-c", script, "sh", *(p.path for p in contract.paths)], user=None)
    assert proc.returncode == 0, f"stat failed: {shown(proc)}"
    seen = {line.split("|")[0]: line.split("|")[1:] for line in proc.stdout.splitlines() if "|" in line}
    problems = []
    for expected in contract.paths:
        kind, owner, mode = seen.get(expected.path, ["missing", "", ""])
        actual_kind = {"directory": "dir", "regular file": "file", "regular empty file": "file"}.get(kind, kind)
        if actual_kind != expected.kind:
            problems.append(f"{expected.path} is {kind}, expected {expected.kind}")
            continue
        if expected.owner is not None and owner != expected.owner:
            problems.append(f"{expected.path} is owned by {owner}, expected {expected.owner}")
        if expected.mode is not None and int(mode, 8) != expected.mode:
            problems.append(f"{expected.path} has mode {int(mode, 8):04o}, expected {expected.mode:04o}")
    assert not problems, f"{local_ref(contract)}: " + "; ".join(problems)


@contracts(lambda c: c.env or c.env_paths)
def test_environment(contract: ImageContract, inspect_image: Inspect) -> None:
    """The image sets the variables the component relies on (exactly, or to a path inside a folder)."""
    env = dict(item.split("=", 1) for item in inspect_image(contract)["Config"].get("Env") or ())
    problems = [
        f"{name}={env.get(name)!r}, expected {value!r}" for name, value in contract.env if env.get(name) != value
    ]
    problems += [
        f"{name}={env.get(name)!r}, expected a path inside {folder}/"
        for name, folder in contract.env_paths
        if not (env.get(name) or "").startswith(folder.rstrip("/") + "/")
    ]
    assert not problems, f"{local_ref(contract)}: " + "; ".join(problems)


@contracts(lambda c: c.ports)
def test_exposed_ports(contract: ImageContract, inspect_image: Inspect) -> None:
    """The image declares the ports its software listens on, as the official image does."""
    exposed = set((inspect_image(contract)["Config"].get("ExposedPorts") or {}).keys())
    missing = [f"{port}/tcp" for port in contract.ports if f"{port}/tcp" not in exposed]
    assert not missing, f"{local_ref(contract)} exposes {sorted(exposed)}, missing {missing}"


@contracts(lambda c: c.probe is not None)
def test_probe_runs(contract: ImageContract, inspect_image: Inspect) -> None:
    """The software is really there: the contract's probe exits 0 as the container's user."""
    inspect_image(contract)
    assert contract.probe is not None
    proc = run_in_image(contract, contract.probe, user=run_user(contract))
    assert proc.returncode == 0, f"{local_ref(contract)} as {run_user(contract)}: {shown(proc)}"
