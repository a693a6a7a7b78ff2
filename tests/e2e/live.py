"""The throwaway stack `make e2e` deploys on a real Docker engine, and the ways tests look at it.

`scripts/e2e.py` prepares a workspace (a copy of the program, a file state backend, a passphrase file and the
stack files, all in a temporary folder) and describes it in `workspace.json`; the tests under tests/e2e load it
with `Live.load()`. Every command goes through the toolchain `make toolchain` built, against that backend only:
the repository's own `Pulumi.<stack>.yaml` and `.pulumi-state` are never touched.

Network rule: containers are reached from the host only through ports published on 127.0.0.1 or with
`docker exec`; nothing here sends traffic to the Docker network's own addresses.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from components.docker.containers import STAGE
from components.docker.labels import PREFIX
from tests.conftest import pulumi_cli_env, require_tool
from vocabulary import RANDOM_PASSWORD

WORKSPACE_VARIABLE = "PAYMENT_E2E_WORKSPACE"
"""Environment variable naming the workspace folder `scripts/e2e.py` prepared."""
PROJECT = "payment-platform"
STACK_LABEL = f"{PREFIX}.stack"
PROJECT_LABEL = f"{PREFIX}.project"
SECRETS_COMPONENT = "payment-secrets"
"""The Secrets component's name (`components.platform`): its RandomPasswords are `payment-secrets-<secret>`."""
PULUMI_TIMEOUT = 1200
"""Seconds any one pulumi command may take: a cold `up` takes about 2 minutes here, so this is a hang."""


class CommandError(AssertionError):
    """A command failed; the message holds its tail of output (never a secret: none is ever printed)."""


@dataclass
class Timing:
    label: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Live:
    """One e2e workspace: `program/` (the project copy), `state/`, `passphrase`, `workspace.json`."""

    root: Path
    bin_dir: Path
    images: dict[str, str]
    """Image role -> local image reference the stack files point at (`images.<role>`)."""
    kinds: dict[str, str]
    """Image role -> `real` or `stand-in` (the local image's `com.payment-platform.kind` label)."""
    docker_data_root: str
    engine: dict[str, str]
    timings: list[Timing] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    """Free-form measurements tests record for the report (counts, container ids, ...)."""

    # ------------------------------------------------------------------------------------------ workspace

    @classmethod
    def load(cls, root: Path | None = None) -> Live:
        folder = root or Path(os.environ[WORKSPACE_VARIABLE])
        data = json.loads((folder / "workspace.json").read_text())
        return cls(
            root=folder,
            bin_dir=Path(data["binDir"]),
            images=data["images"],
            kinds=data["kinds"],
            docker_data_root=data["dockerDataRoot"],
            engine=data["engine"],
        )

    def save(self) -> None:
        document = {
            "binDir": str(self.bin_dir),
            "images": self.images,
            "kinds": self.kinds,
            "dockerDataRoot": self.docker_data_root,
            "engine": self.engine,
        }
        (self.root / "workspace.json").write_text(json.dumps(document, indent=2) + "\n")

    @property
    def program(self) -> Path:
        return self.root / "program"

    def stack_file(self, stack: str) -> Path:
        return self.program / f"Pulumi.{stack}.yaml"

    @property
    def env(self) -> dict[str, str]:
        return pulumi_cli_env(self.bin_dir, self.root / "state", self.root / "passphrase")

    # ------------------------------------------------------------------------------------------- commands

    def pulumi(
        self,
        *args: str,
        stack: str = "dev",
        check: bool = True,
        timeout: int = PULUMI_TIMEOUT,
        label: str = "",
        quiet: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi <args> --stack <stack> --non-interactive` in the program copy; timed when `label` is set."""
        command = ["pulumi", *args, "--stack", stack, "--non-interactive"]
        started = time.monotonic()
        out = subprocess.run(
            command, cwd=self.program, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        elapsed = time.monotonic() - started
        if not quiet:
            print(f"e2e: pulumi {' '.join(args)} --stack {stack}: exit {out.returncode} in {elapsed:.1f} s", flush=True)
        if label:
            self.timings.append(Timing(label, round(elapsed, 1)))
        if check and out.returncode != 0:
            raise CommandError(f"pulumi {' '.join(args)} failed (exit {out.returncode}):\n{failure_output(out)}")
        return out

    def config_set(self, key: str, value: str, *, stack: str = "dev", secret: bool = False) -> None:
        """`pulumi config set [--secret] --path payment-platform:<key> <value>`; the value goes in on stdin
        when secret, so it is on no command line."""
        args = ["config", "set", "--path", f"{PROJECT}:{key}"]
        if secret:
            command = ["pulumi", *args, "--secret", "--stack", stack, "--non-interactive"]
            out = subprocess.run(
                command, cwd=self.program, env=self.env, input=value, capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                raise CommandError(f"pulumi config set --secret {key} failed:\n{failure_output(out)}")
            return
        self.pulumi(*args, value, stack=stack)

    def config_rm(self, key: str, *, stack: str = "dev") -> None:
        self.pulumi("config", "rm", "--path", f"{PROJECT}:{key}", stack=stack)

    def stack_document(self, stack: str = "dev") -> dict[str, Any]:
        return yaml.safe_load(self.stack_file(stack).read_text()) or {}

    def outputs(self, *, stack: str = "dev", show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json", *(["--show-secrets"] if show_secrets else [])]
        document: dict[str, Any] = json.loads(self.pulumi(*args, stack=stack, quiet=True).stdout)
        return document

    def preview_json(self, *extra: str, stack: str = "dev") -> dict[str, Any]:
        """`pulumi preview --json`: the steps the real engine plans, with their operations."""
        out = self.pulumi("preview", "--json", *extra, stack=stack, check=False)
        try:
            document: dict[str, Any] = json.loads(out.stdout)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"pulumi preview --json printed no JSON (exit {out.returncode}):\n{failure_output(out)}"
            ) from error
        if out.returncode != 0:
            raise CommandError(f"pulumi preview --json failed (exit {out.returncode}):\n{failure_output(out)}")
        return document

    def generated_secrets(self, stack: str = "dev") -> dict[str, str]:
        """Secret name (`db-password-order-service`, `redis-password`, ...) -> the value pulumi-random generated,
        read from the stack's state. For logging in from tests only: never printed, never on a command line."""
        state = json.loads(self.pulumi("stack", "export", "--show-secrets", stack=stack).stdout)
        found: dict[str, str] = {}
        for resource in state["deployment"].get("resources") or []:
            if resource["type"] != RANDOM_PASSWORD:
                continue
            name = resource["urn"].rsplit("::", 1)[1]
            result = resource.get("outputs", {}).get("result")
            if isinstance(
                result, dict
            ):  # a secret in the export: {"4dabf18193072939515e22adb298388d": ..., "plaintext": "\"...\""}
                result = json.loads(result["plaintext"])
            found[name.removeprefix(SECRETS_COMPONENT + "-")] = str(result)
        return found

    # ----------------------------------------------------------------------------------------- the engine

    def containers(self, stack: str = "dev", *, all_states: bool = True) -> list[dict[str, Any]]:
        """`docker inspect` of every container of this project's `stack`, loaders included."""
        ids = docker(
            "ps", *(["-a"] if all_states else []), "-q",
            "--filter", f"label={PROJECT_LABEL}={PROJECT}", "--filter", f"label={STACK_LABEL}={stack}",
        ).split()  # fmt: skip
        return inspect(ids) if ids else []

    def volumes(self, stack: str = "dev") -> list[str]:
        out = docker(
            "volume", "ls", "-q",
            "--filter", f"label={PROJECT_LABEL}={PROJECT}", "--filter", f"label={STACK_LABEL}={stack}",
        )  # fmt: skip
        return sorted(out.split())

    def networks(self, stack: str = "dev") -> list[str]:
        out = docker(
            "network", "ls", "-q",
            "--filter", f"label={PROJECT_LABEL}={PROJECT}", "--filter", f"label={STACK_LABEL}={stack}",
        )  # fmt: skip
        return sorted(out.split())


class EngineEvents:
    """`docker events` of containers, streamed to a file while a `with` block runs.

    Streamed, not asked for afterwards with `--since`: the engine keeps only its last 256 events, and a cold `up`
    (creates, starts, a healthcheck exec every few seconds per container) produces far more."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "events.jsonl"
        self.events: list[dict[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EngineEvents:
        with self.path.open("wb") as sink:
            self._process = subprocess.Popen(
                ["docker", "events", "--filter", "type=container", "--format", "{{json .}}"], stdout=sink
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:  # our own child: ended by its handle, nothing else is signalled
            self._process.terminate()
            self._process.wait(timeout=30)
        self.events = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def critical_path(events: Sequence[Mapping[str, Any]], depends_on: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """The chain of containers that decided how long a `pulumi up` waited, from the engine's events.

    Pulumi creates a container once the containers it depends on are healthy (they are created with `wait`).
    Starting from the container that became healthy last, each step goes back to the dependency that became
    healthy last; each link is that container's `create` to its first `health_status: healthy`. `depends_on`:
    container name -> names of containers it depends on (loaders included; they have no health and drop out).
    """
    created: dict[str, float] = {}
    healthy: dict[str, float] = {}
    for event in events:
        name = str(event.get("Actor", {}).get("Attributes", {}).get("name", ""))
        moment = float(event.get("timeNano", 0)) / 1e9
        if event.get("Action") == "create":
            created.setdefault(name, moment)
        elif event.get("Action") == "health_status: healthy" and name in created:
            healthy.setdefault(name, moment)
    if not healthy:
        return {"chain": [], "chainSeconds": 0.0, "containersSeen": 0}
    chain = [max(healthy, key=healthy.__getitem__)]
    while True:
        previous = [d for d in depends_on.get(chain[-1], ()) if d in healthy and d not in chain]
        if not previous:
            break
        chain.append(max(previous, key=healthy.__getitem__))
    chain.reverse()
    return {
        "chain": [{"container": n, "createToHealthySeconds": round(healthy[n] - created[n], 1)} for n in chain],
        "chainSeconds": round(healthy[chain[-1]] - created[chain[0]], 1),
        "firstCreateToLastHealthySeconds": round(max(healthy.values()) - min(created.values()), 1),
        "containersSeen": len(healthy),
    }


def docker(*args: str, check: bool = True, timeout: int = 120, stdin: str | None = None) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, input=stdin)
    if check and out.returncode != 0:
        raise CommandError(f"docker {' '.join(args[:3])} ... failed (exit {out.returncode}): {out.stderr.strip()}")
    return out.stdout


def docker_exec(
    container: str, *command: str, user: str | None = None, timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    """Run `command` inside `container` (no shell on the host side); the result, whatever its exit code."""
    args = ["docker", "exec", *(["--user", user] if user else []), container, *command]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def inspect(names: Iterable[str]) -> list[dict[str, Any]]:
    return list(json.loads(docker("inspect", *names)))


def staged_leftovers(container: str) -> list[str]:
    """What of the loaders' staging folder (`/stage`, where the provider uploads their files) `container` still holds:
    the paths `docker diff` lists in its writable layer, and the folder when `docker cp` finds it. Names only: the
    copy goes to /dev/null, so no staged key or password is ever read into a message."""
    changed = docker("diff", container).splitlines()
    left = [
        path
        for _, _, path in (line.partition(" ") for line in changed)
        if path == STAGE or path.startswith(STAGE + "/")
    ]
    copied = subprocess.run(
        ["docker", "cp", f"{container}:{STAGE}", "-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
    )  # fmt: skip
    if copied.returncode == 0:
        left.append(f"{STAGE} (docker cp found it)")
    elif not any(words in copied.stderr.lower() for words in ("could not find", "no such")):
        raise CommandError(f"docker cp {container}:{STAGE} failed otherwise: {copied.stderr.strip()}")
    return left


def is_loader(container: Mapping[str, Any]) -> bool:
    """The one-shot file loaders (`payment-<x>-files`): exited by design, no healthcheck."""
    return str(container["Name"]).endswith("-files")


def wait_until_healthy(names: Sequence[str], timeout: float = 300) -> float:
    """Seconds until every container in `names` runs and reports `healthy`; raises after `timeout`."""
    started = time.monotonic()
    pending: list[str] = list(names)
    while True:
        states = {c["Name"].lstrip("/"): c["State"] for c in inspect(pending)} if pending else {}
        pending = [
            n for n, s in states.items() if not (s.get("Running") and s.get("Health", {}).get("Status") == "healthy")
        ]
        if not pending:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            shown = {n: (states[n].get("Status"), states[n].get("Health", {}).get("Status")) for n in pending}
            raise AssertionError(f"not healthy after {timeout:.0f} s: {shown}")
        time.sleep(1)


def published_port(outputs: Mapping[str, Any], name: str) -> int:
    """The 127.0.0.1 port `name` is published on, from the stack output `urls`."""
    port = urlsplit(str(outputs["urls"][name])).port
    assert port is not None, f"urls.{name} names no port"
    return port


def operator_tls(outputs: Mapping[str, Any], ca_file: Path, folder: Path) -> ssl.SSLContext:
    """A client context holding the operator's certificate (stack outputs `operatorCertificate`/`operatorKey`),
    trusting the platform CA alone: how the host reaches Prometheus's API. The key is written to `folder` with mode
    0600 before it holds anything."""
    cert, key = folder / "operator.pem", folder / "operator.key"
    if not cert.exists():
        cert.write_text(outputs["operatorCertificate"])
        key.touch(mode=0o600)
        key.write_text(outputs["operatorKey"])
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(cert), str(key))
    return context


def psql(
    outputs: Mapping[str, Any], ca: Path, user: str, database: str, *, password: str, query: str = "select 1"
) -> subprocess.CompletedProcess[str]:
    """`query` as `user` on `database` through PostgreSQL's published port, TLS verified against `ca` (verify-full).

    The password goes in through the environment (`PGPASSWORD`), never on a command line."""
    dsn = (
        f"host=127.0.0.1 port={published_port(outputs, 'postgres')} dbname={database} user={user} "
        f"sslmode=verify-full sslrootcert={ca}"
    )
    return subprocess.run(
        [require_tool("psql", "postgresql-client"), dsn, "-XAtc", query],
        env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def failure_output(out: subprocess.CompletedProcess[str], limit: int = 4000) -> str:
    """What a failed command said: Pulumi's `Diagnostics:` section first (it names the resources that errored
    and why, and comes before the long `Outputs:` listing), then the end of each stream."""
    diagnostics = pulumi_diagnostics(out.stdout)
    head = f"{diagnostics[:limit]}\n...\n" if diagnostics else ""
    return f"{head}{out.stdout[-limit:]}\n{out.stderr[-limit:]}"


def pulumi_diagnostics(stdout: str) -> str:
    """The `Diagnostics:` section of a pulumi command's text output (empty when there is none): it ends where
    the `Outputs:` or `Resources:` summary begins."""
    lines = stdout.splitlines()
    try:
        start = lines.index("Diagnostics:")
    except ValueError:
        return ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i] in ("Outputs:", "Resources:")), len(lines))
    return "\n".join(lines[start:end]).strip()
