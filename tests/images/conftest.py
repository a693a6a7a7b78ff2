"""Shared fixtures of the image tests: the Docker engine, the local images, and docker CLI calls.

Every test here talks to a real engine through the `docker` CLI and touches containers from the host only
with `docker run`/`docker exec` (`--network none`): no traffic to a Docker network's private addresses.
Without an engine the tests skip, naming the command that starts one; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from components.docker.image_contract import ImageContract, all_contracts
from tests.conftest import unavailable

CONTRACTS: dict[str, ImageContract] = all_contracts()
"""Every contract the components declare, by local image name."""

PREFIX = os.environ.get("PAYMENT_IMAGETEST_PREFIX") or f"payment-imagetest-{os.getpid()}"
"""Names of the containers and volumes these tests create; all removed at the end of each test.
`PAYMENT_IMAGETEST_PREFIX` names them otherwise, on an engine shared with other runs that reserve name prefixes."""


def local_ref(contract: ImageContract) -> str:
    return f"payment-local/{contract.local}:local"


def docker(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`docker ARGS`, never raising on a non-zero exit: callers assert with what it printed."""
    proc = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=timeout, check=False)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    )


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    """A docker call as a reader wants it in a failure message."""
    out = (proc.stdout + proc.stderr).strip()
    return f"`{' '.join(map(str, proc.args))}` exited {proc.returncode}: {out[-1500:] or '(no output)'}"


@pytest.fixture(scope="session")
def engine() -> str:
    """The engine's version; skips (fails under CI=true) when no engine answers."""
    if shutil.which("docker") is None:
        unavailable("no docker CLI on PATH; `scripts/engine.sh start` installs and starts an engine")
    proc = docker("version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})", timeout=30)
    if proc.returncode != 0:
        unavailable(f"no Docker engine answers ({proc.stderr.strip()}); start one with `scripts/engine.sh start`")
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def inspect_image(engine: str) -> Callable[[ImageContract], dict[str, Any]]:
    """`docker image inspect` of a contract's local image, once per image; skips (fails in CI) if not built."""
    cache: dict[str, dict[str, Any]] = {}

    def get(contract: ImageContract) -> dict[str, Any]:
        ref = local_ref(contract)
        if ref not in cache:
            proc = docker("image", "inspect", ref)
            if proc.returncode != 0:
                unavailable(f"{ref} is not built: run `python3 -m scripts.images {contract.local}`")
            cache[ref] = json.loads(proc.stdout)[0]
        return cache[ref]

    return get


def run_in_image(
    contract: ImageContract, argv: Sequence[str], *, user: str | None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`argv` in a throw-away container of the local image: no network, argv[0] as the entrypoint."""
    args = ["run", "--rm", "--network", "none", "--entrypoint", argv[0]]
    if user is not None:
        args += ["--user", user]
    return docker(*args, local_ref(contract), *argv[1:], timeout=timeout)
