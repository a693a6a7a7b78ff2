"""Shared test helpers: every stack-level test renders through `plan.render`, the engine `python -m plan` uses."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from components.docker.containers import STAGE, Host
from components.docker.labels import platform_labels
from components.network import Network, NetworkArgs
from components.platform import docker_host as platform_host
from plan import PROJECT_DIR, Project, Render, render
from plan.stackfile import build
from stacks.catalog import LOADER_IMAGE
from stacks.models import PlatformConfig
from stacks.resolve import resolve
from tests.support.tlsmodel import Faithful
from vocabulary import CONTAINER

IN_CI = os.environ.get("CI") == "true"

# The real-engine deploy tests run only through `make e2e` (scripts/e2e.py), which prepares their workspace and
# names it here; `make test` never deploys.
collect_ignore = [] if "PAYMENT_E2E_WORKSPACE" in os.environ else ["e2e"]


@functools.cache
def rendered(stack: str, *sets: str) -> Render:
    """Render a stack once per distinct set of `--set` edits; renders are immutable, so sharing is safe."""
    return render(stack, sets=sets)


@functools.cache
def rendered_again(stack: str) -> Render:
    """A second, separate run of the program for `stack` (never `rendered`'s object), for determinism checks."""
    return render(stack)


@functools.cache
def faithful(stack: str, *sets: str) -> Render:
    """`rendered`, with real keys and certificates (`tests.support.tlsmodel.Faithful`) in place of placeholders.

    Once per process like `rendered`, as the provider issues a certificate once and keeps it in state: every test
    handshakes with the same material."""
    return render(stack, sets=sets, simulator=Faithful())


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m plan ...` in a fresh interpreter, exactly as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "plan", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="session")
def dev() -> Render:
    return rendered("dev")


@pytest.fixture(scope="session")
def prod() -> Render:
    return rendered("prod")


FIXTURES = Path(__file__).parent / "fixtures"


def changed(before: Render, after: Render) -> dict[str, set[str]]:
    """Resource names added, removed and changed (inputs incl. secret values, or replacement trigger)."""
    old = {(r.type, r.name): r for r in before.resources}
    new = {(r.type, r.name): r for r in after.resources}
    return {
        "added": {name for (_, name) in new.keys() - old.keys()},
        "removed": {name for (_, name) in old.keys() - new.keys()},
        "changed": {
            key[1]
            for key in old.keys() & new.keys()
            if (old[key].revealed_inputs, old[key].replacement_trigger)
            != (new[key].revealed_inputs, new[key].replacement_trigger)
        },
    }


def unavailable(message: str) -> NoReturn:
    """A test prerequisite is missing: a failure in CI (which installs everything), a loud skip elsewhere."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, package: str) -> str:
    """The path of an external program the test needs."""
    found = shutil.which(name)
    if found:
        return found
    unavailable(f"{name} not found: install Debian's {package} (.ci/run does) to run this test")


def uploads(render: Render, container: str, *, revealed: bool = False) -> list[dict[str, Any]]:
    """The files a container is given: its loader's uploads, at the paths the container sees them."""
    loader = render.get(CONTAINER, f"{container}-loader")
    items = loader.revealed_inputs["uploads"] if revealed else loader.inputs["uploads"]
    return [{**item, "file": str(item["file"]).removeprefix(STAGE)} for item in items]


def stack_config(stack: str, *, secret_keys: Iterable[str] = (), **values: Any) -> PlatformConfig:
    """The resolved configuration of `stack` as its stack file sets it, plus `values` on top (pure); `secrets` and
    the `secret_keys` are stored as secrets."""
    project = Project.load(PROJECT_DIR)
    prefix = f"{project.name}:"
    raw = {key[len(prefix) :]: value for key, value in build(project, stack).values.items() if key.startswith(prefix)}
    raw.update(values)
    secret = ({"secrets"} if "secrets" in raw else set()) | set(secret_keys)
    return resolve(raw, project=project.name, stack=stack, secret_keys=secret)


def attachments(stack: str, alias: str) -> list[dict[str, Any]]:
    """The `networksAdvanced` the container `alias` of `stack` renders with: each of its networks
    (`PlatformConfig.networks_of`, tested in test_network.py), joined under both its names."""
    config = stack_config(stack)
    return [{"name": n, "aliases": [alias, f"{alias}.{config.network.name}"]} for n in config.networks_of(alias)]


def docker_host(config: PlatformConfig) -> Host:
    """The Docker host of a component test's program, as `Platform` builds it: the network and the shared defaults.
    Call it inside the program (it creates the network)."""
    labels = platform_labels(config.project, config.stack, config.profile)
    network = Network("payment-network", NetworkArgs(segments=config.segments, labels=labels))
    return platform_host(config, network, LOADER_IMAGE)


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now, for a test server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pulumi_cli_env(bin_dir: Path, state: Path, passphrase: Path) -> dict[str, str]:
    """The environment of the built Pulumi CLI against a file backend in `state`, with the stack secrets'
    passphrase read from a file (never an environment value), and no update check or plugin download."""
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    return env
