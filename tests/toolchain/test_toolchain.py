"""The built Pulumi toolchain against a real Docker engine (`make toolchain engine images` first).

What a user of the toolchain relies on: `pulumi version` and `pulumi plugin ls` show the CLI and the docker,
tls and random plugins at the versions the Python SDKs request, and a program goes up, shows no changes on a
second preview, and comes down again, through the CLI, the language host and all three plugins, with a
container from a local image really running in between.

Without a toolchain or engine these tests skip, except under CI=true, where they fail: CI installs both.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pulumi_cli_env, unavailable
from vocabulary import SECRET

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).with_name("smoke_program")
BASE_IMAGE = "payment-local/debian:bookworm"
"""The debootstrap base every local image builds on (scripts/images.py), so present wherever images are."""
STEP_TIMEOUT = 300


def _requested_versions() -> dict[str, str]:
    pins = dict(re.findall(r"^pulumi-(docker|tls|random)==([0-9.]+)$", (ROOT / "requirements.txt").read_text(), re.M))
    assert set(pins) == {"docker", "tls", "random"}, f"requirements.txt pins {pins}"
    return pins


@pytest.fixture(scope="module")
def pulumi_bin() -> Path:
    out = subprocess.run(["scripts/toolchain.sh", "bin"], cwd=ROOT, capture_output=True, text=True, check=False)
    folder = Path(out.stdout.strip())
    if out.returncode != 0 or not (folder / "pulumi").exists():
        unavailable(f"no Pulumi toolchain at {folder or '?'}: run make toolchain")
    return folder


@pytest.fixture(scope="module")
def engine() -> None:
    answers = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, check=False)
    if not answers or answers.returncode:
        unavailable("no Docker engine answers: run make engine")
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False).returncode:
        unavailable(f"no local image {BASE_IMAGE}: run make images")


class Cli:
    """The built CLI against a throwaway file backend and passphrase in a temporary folder."""

    def __init__(self, bin_dir: Path, work: Path) -> None:
        self.work = work
        passphrase = work / "passphrase"
        passphrase.write_text(uuid.uuid4().hex)
        state = work / "state"
        state.mkdir()
        self.env = pulumi_cli_env(bin_dir, state, passphrase)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        out = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.work / "program",
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        elapsed = time.monotonic() - started
        print(f"pulumi {' '.join(args)}: exit {out.returncode} in {elapsed:.1f} s")
        if check:
            assert out.returncode == 0, f"pulumi {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out


def test_versions_are_the_ones_the_sdks_request(pulumi_bin: Path, tmp_path: Path) -> None:
    (tmp_path / "program").mkdir()
    cli = Cli(pulumi_bin, tmp_path)
    assert re.fullmatch(r"v3\.\d+\.\d+\s*", cli.run("version").stdout), "pulumi version prints a v3 release"
    listed = json.loads(cli.run("plugin", "ls", "--json").stdout)
    installed = {(p["name"], p["kind"], p["version"]) for p in listed}
    for name, version in _requested_versions().items():
        assert (name, "resource", version) in installed, f"plugin {name} {version} not installed; have {installed}"


@pytest.fixture
def stack(pulumi_bin: Path, engine: None, tmp_path: Path) -> Iterator[tuple[Cli, str]]:
    program = tmp_path / "program"
    shutil.copytree(PROGRAM, program)
    # The project file is written here so the program runs in the repository's virtualenv (the SDKs).
    (program / "Pulumi.yaml").write_text(
        "name: toolchain-smoke\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {ROOT / '.venv'}\n"
    )
    cli = Cli(pulumi_bin, tmp_path)
    name = f"payment-smoke-{uuid.uuid4().hex[:8]}"
    cli.run("stack", "init", "smoke")
    cli.run("config", "set", "image", BASE_IMAGE)
    cli.run("config", "set", "containerName", name)
    try:
        yield cli, name
    finally:
        # Tear-down always runs, and leaves no container of ours behind even when destroy failed.
        cli.run("destroy", "--yes", check=False)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _inspect(name: str) -> dict[str, object] | None:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def test_a_program_goes_up_and_down_through_the_built_cli(stack: tuple[Cli, str]) -> None:
    cli, name = stack
    cli.run("up", "--yes", "--skip-preview")

    outputs = json.loads(cli.run("stack", "output", "--json").stdout)
    state = _inspect(name)
    assert state is not None, f"container {name} does not exist after up"
    assert state["State"]["Running"], f"container {name} is not running: {state['State']}"  # type: ignore[index]
    labels = state["Config"]["Labels"]  # type: ignore[index]
    assert labels.get("com.payment-platform.smoke") == outputs["suffix"], f"labels {labels}"
    assert outputs["password"] == SECRET, "the random password is shown only as a secret"

    # The certificate the tls plugin made reached the container through the docker plugin's upload.
    uploaded = subprocess.run(
        ["docker", "exec", name, "cat", "/smoke/cert.pem"], capture_output=True, text=True, check=False
    )
    assert uploaded.returncode == 0, uploaded.stderr
    assert uploaded.stdout == outputs["certPem"], "the uploaded file is the certificate the stack made"
    assert uploaded.stdout.startswith("-----BEGIN CERTIFICATE-----")

    assert outputs["secretKeys"] == [], "no secret config: an empty list, which stacks.load() iterates"

    # A secret set with `pulumi config set --secret` reaches the program marked secret, and is never printed.
    token = uuid.uuid4().hex
    cli.run("config", "set", "--secret", "token", token)
    shown = cli.run("up", "--yes", "--skip-preview")
    outputs = json.loads(cli.run("stack", "output", "--json").stdout)
    assert outputs["secretKeys"] == ["toolchain-smoke:token"], outputs["secretKeys"]
    assert outputs["token"] == SECRET
    assert token not in shown.stdout + shown.stderr, "the secret appeared in pulumi up's output"
    assert json.loads(cli.run("stack", "output", "--json", "--show-secrets").stdout)["token"] == token

    cli.run("preview", "--expect-no-changes")

    cli.run("destroy", "--yes", "--skip-preview")
    assert _inspect(name) is None, f"container {name} still exists after destroy"


def _sdk_tokens_and_inputs(package: str) -> dict[str, set[str]]:
    """Every resource and function token the installed Python SDK of `package` calls, with the input property
    names it sends (camelCase, as on the wire)."""
    sdk = importlib.import_module(f"pulumi_{package}")
    found: dict[str, set[str]] = {}
    for source in Path(str(sdk.__file__)).parent.glob("*.py"):
        text = source.read_text()
        for token in re.findall(rf"'({package}:index/\w+:\w+)'", text):
            names = re.findall(r'__props__\.__dict__\["(\w+)"\]', text)  # a resource's properties
            found[token] = {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), n) for n in names}
            found[token] |= set(re.findall(r"__args__\['(\w+)'\]", text))  # a function's arguments
    return found


@pytest.mark.parametrize("package", ["docker", "tls", "random"])
def test_plugin_schema_agrees_with_the_python_sdk(pulumi_bin: Path, tmp_path: Path, package: str) -> None:
    """Our bridged plugins name every resource, function and property as the published SDK the program uses."""
    (tmp_path / "program").mkdir()
    cli = Cli(pulumi_bin, tmp_path)
    version = _requested_versions()[package]
    schema = json.loads(cli.run("package", "get-schema", f"{package}@{version}").stdout)
    assert schema["name"] == package and schema.get("version", version) == version
    offered = {**schema["resources"], **schema.get("functions", {})}
    # The published docker provider's native Image resource (Buildx builds) is not part of our bridged build.
    not_bridged = {"docker:index/image:Image"}
    for token, inputs in sorted(_sdk_tokens_and_inputs(package).items()):
        if token in not_bridged:
            assert token not in offered
            continue
        assert token in offered, f"the SDK calls {token}, the plugin does not offer it"
        spec = offered[token]
        known = set(spec.get("inputProperties", {})) | set(spec.get("properties", {}))
        known |= set(spec.get("inputs", {}).get("properties", {})) | set(spec.get("outputs", {}).get("properties", {}))
        assert inputs <= known, f"{token}: the SDK sends {sorted(inputs - known)} the plugin does not know"


def test_the_language_host_ends_when_the_cli_that_started_it_is_gone(pulumi_bin: Path) -> None:
    """A host orphaned by a CLI that exited early (seen after a configuration error) must not linger."""
    host = pulumi_bin / "pulumi-language-python"
    # The shell starts the host as the CLI would (engine address as the argument), prints its PID, lives on
    # for a second (the host is up and knows its parent), then exits without stopping it.
    out = subprocess.run(
        ["sh", "-c", f'"{host}" 127.0.0.1:1 >/dev/null 2>&1 & echo $!; sleep 1'],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    gone = not Path(f"/proc/{pid}").exists()
    if not gone:
        os.kill(pid, 9)
    assert gone, "the language host outlived its parent by 10 s"
