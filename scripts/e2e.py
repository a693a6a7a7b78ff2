"""`make e2e`: the dev stack on a real Docker engine, checked for real by tests/e2e, with a JSON report.

    python3 -m scripts.e2e [--report e2e-report.json] [pytest arguments...]

Needs `make toolchain engine images`. Prepares a throwaway workspace in a temporary folder (a copy of the
program, a file state backend, a passphrase file, the stack files of `dev` and a prod-profile stack with
`images.<role>` pointing at the local builds and `dockerDataRoot` at the engine's data root), runs the pytest
tests under tests/e2e against it (they deploy, probe, rotate, break and destroy the stack), then tears down
whatever is left: `pulumi destroy`, and every container, network and volume carrying the workspace's labels
(data volumes included, after the tests checked they survive a destroy). The report records each test's
outcome, the engine and toolchain versions, every component as real or stand-in, and the timings.

Before the first `up` it adds the stack's published host ports to the kernel's reserved ports
(`net.ipv4.ip_local_reserved_ports`, merged, never removed): the seed's ports (40001-40432, 50686) lie in Linux's
ephemeral range, and a CI run failed when a localhost connection of the Pulumi engine's own gRPC traffic held
127.0.0.1:40379 as its source port just as Redis was started ("bind: address already in use").

    python3 -m scripts.e2e --teardown DIR   destroys and removes what a `--keep` run left in workspace DIR

Exit status: pytest's (0 when every check passed), or 2 when a prerequisite is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.observability.exporters import DOCKER_SOCKET
from plan import render
from scripts.images import KIND_LABEL, PREFIX, discover
from stacks.catalog import PINNED_IMAGES
from tests.e2e.live import PROJECT, WORKSPACE_VARIABLE, CommandError, Live, docker
from vocabulary import CONTAINER

ROOT = Path(__file__).resolve().parent.parent
PROGRAM_PARTS = (
    "Pulumi.yaml",
    "__main__.py",
    "requirements.txt",
    "components",
    "stacks",
    "vocabulary.py",
    "policy",
    "policy_rules",
    "dashboards",
)
"""What `pulumi up` runs: the project and everything it imports or reads (the policy pack included). `plan/` is not
among them: only the tests and the scripts use it (tests/test_e2e_offline.py checks the copy imports nothing else)."""
STACKS = ("dev", "prod")
"""Stack files copied into the workspace; `prod` is previewed (policy pack), `dev` deployed."""
DEFAULT_REPORT = ROOT / "e2e-report.json"
RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")


class MissingError(Exception):
    """A prerequisite of `make e2e` is missing; the message says which and the make target that provides it."""


def toolchain_bin() -> Path:
    out = subprocess.run([str(ROOT / "scripts/toolchain.sh"), "bin"], capture_output=True, text=True, check=False)
    folder = Path(out.stdout.strip())
    if out.returncode != 0 or not (folder / "pulumi").exists():
        raise MissingError(f"no Pulumi toolchain at {folder or '?'}: run make toolchain")
    return folder


def engine_facts() -> dict[str, str]:
    out = subprocess.run(
        ["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True, timeout=30, check=False
    )
    if out.returncode != 0:
        raise MissingError("no Docker engine answers: run make engine")
    info = json.loads(out.stdout)
    version = json.loads(docker("version", "--format", "{{json .Server}}"))
    return {
        "serverVersion": str(info.get("ServerVersion")),
        "apiVersion": str(version.get("ApiVersion")),
        "dockerRootDir": str(info.get("DockerRootDir")),
        "storageDriver": str(info.get("Driver")),
        "cgroupVersion": str(info.get("CgroupVersion")),
    }


def docker_socket_group() -> int:
    """The gid owning the engine's socket: cAdvisor's Docker API proxy runs in it (`dockerSocketGroup`)."""
    try:
        return os.stat(DOCKER_SOCKET).st_gid
    except OSError as error:
        raise MissingError(f"no Docker socket at {DOCKER_SOCKET} ({error}): make e2e drives a local engine") from error


def local_images() -> tuple[dict[str, str], dict[str, str]]:
    """Role -> the content-hashed tag of its local build, and role -> real/stand-in, for every pinned image."""
    specs = discover()
    images: dict[str, str] = {}
    kinds: dict[str, str] = {}
    missing = []
    for role in PINNED_IMAGES:
        if role not in specs:
            raise MissingError(f"no images/{role}/ builds a stand-in for {PINNED_IMAGES[role]}")
        out = subprocess.run(
            ["docker", "image", "inspect", f"{PREFIX}{role}:local"], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            missing.append(role)
            continue
        found = json.loads(out.stdout)[0]
        hashed = [
            t for t in found.get("RepoTags") or [] if t.startswith(f"{PREFIX}{role}:") and not t.endswith(":local")
        ]
        images[role] = sorted(hashed)[0] if hashed else f"{PREFIX}{role}:local"
        kinds[role] = (found.get("Config", {}).get("Labels") or {}).get(KIND_LABEL, "unlabelled")
    if missing:
        raise MissingError(f"no local image for {', '.join(missing)}: run make images")
    return images, kinds


def copy_program(destination: Path) -> None:
    """The program and the policy pack (`PROGRAM_PARTS`), copied into `destination`."""
    destination.mkdir(parents=True)
    for part in PROGRAM_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / part)


def prepare(root: Path) -> Live:
    """The workspace: program copy, state backend, passphrase, and the stack files pointed at local images."""
    images, kinds = local_images()
    images = pin_images(images, pin_tag(root))
    engine = engine_facts()
    live = Live(
        root=root,
        bin_dir=toolchain_bin(),
        images=images,
        kinds=kinds,
        docker_data_root=engine["dockerRootDir"],
        engine=engine,
    )
    copy_program(live.program)
    # The program and the policy pack run in the repository's virtualenv (Pulumi.yaml: `.venv`, pack: `../.venv`).
    (live.program / ".venv").symlink_to(ROOT / ".venv")
    (root / "state").mkdir()
    passphrase = root / "passphrase"
    passphrase.touch(mode=0o600)
    passphrase.write_text(secrets.token_urlsafe(32))
    for stack in STACKS:
        document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
        config = document.setdefault("config", {})
        config[f"{PROJECT}:images"] = dict(images)
        config[f"{PROJECT}:dockerDataRoot"] = live.docker_data_root
        config[f"{PROJECT}:dockerSocketGroup"] = docker_socket_group()
        live.stack_file(stack).write_text(yaml.safe_dump(document, sort_keys=True))
        live.pulumi("stack", "init", stack=stack)
    live.save()
    return live


def published_ports(stack: str, config_file: Path | None = None) -> set[int]:
    """Every host port `stack` publishes (with `config_file` as its stack file), from its offline render."""
    rendered = render(stack, config_file=config_file, project_dir=ROOT)
    return {
        int(port["external"])
        for resource in rendered.resources
        if resource.type == CONTAINER
        for port in resource.inputs.get("ports") or ()
        if port.get("external")
    }


def parse_port_list(text: str) -> set[int]:
    """`40001-40003,40379` (the kernel's port-list format) -> the ports it names."""
    ports: set[int] = set()
    for part in text.replace("\n", "").split(","):
        if not part.strip():
            continue
        low, _, high = part.strip().partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def format_port_list(ports: set[int]) -> str:
    """The ports as the kernel's port-list format, consecutive ports folded into ranges."""
    ranges: list[list[int]] = []
    for port in sorted(ports):
        if ranges and port == ranges[-1][1] + 1:
            ranges[-1][1] = port
        else:
            ranges.append([port, port])
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)


def reserve_ports(ports: set[int], sysctl: Path = RESERVED_PORTS) -> str:
    """Add `ports` to the reserved ports (what is reserved already stays); a line saying what happened."""
    try:
        current = parse_port_list(sysctl.read_text())
        missing = ports - current
        if missing:
            sysctl.write_text(format_port_list(current | ports))
    except OSError as error:
        return f"could not reserve the published ports ({error}); a bind may fail if one is in use as a source port"
    return f"{len(ports)} published ports reserved from the ephemeral range ({len(missing)} newly)"


def pin_tag(root: Path) -> str:
    """The tag this workspace gives its images: `e2e-` and the workspace folder's unique suffix."""
    return "e2e-" + root.name.rsplit("-", 1)[-1]


def pin_images(images: Mapping[str, str], tag: str) -> dict[str, str]:
    """Tag each image once more for this run, and use that tag. A `make images` while the run is going (another
    branch, a rebuilt stand-in) moves `:local` and untags the superseded hashed tag, and a container the run
    creates afterwards would find its image gone; this tag is left alone by `make images` and removed at tear-down."""
    pinned = {}
    for role, reference in images.items():
        pinned[role] = f"{reference.rsplit(':', 1)[0]}:{tag}"
        docker("tag", reference, pinned[role])
    return pinned


def unpin_images(live: Live) -> None:
    """Remove this run's tags (`pin_images`); the images stay under their other tags."""
    tag = pin_tag(live.root)
    pinned = [reference for reference in live.images.values() if reference.endswith(f":{tag}")]
    if pinned:
        docker("image", "rm", "--no-prune", *pinned, check=False)


def teardown(live: Live) -> dict[str, Any]:
    """Destroy every stack of the workspace, then remove whatever of its labels is left (data volumes too)."""
    left: dict[str, Any] = {}
    for stack in STACKS:
        out = live.pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
        if out.returncode != 0:
            left[f"destroy-{stack}"] = f"exit {out.returncode}"
        containers = [c["Id"] for c in live.containers(stack)]
        if containers:
            docker("rm", "-f", *containers, check=False)
        networks = live.networks(stack)
        if networks:
            docker("network", "rm", *networks, check=False)
        volumes = live.volumes(stack)
        if volumes:
            docker("volume", "rm", "-f", *volumes, check=False)
        remaining = {
            "containers": [c["Name"] for c in live.containers(stack)],
            "networks": live.networks(stack),
            "volumes": live.volumes(stack),
        }
        if any(remaining.values()):
            left[stack] = remaining
    unpin_images(live)
    return left


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m scripts.e2e", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--report", type=Path, default=DEFAULT_REPORT, help=f"JSON report (default {DEFAULT_REPORT.name})"
    )
    parser.add_argument("--keep", action="store_true", help="leave the workspace and the stack up (debugging)")
    parser.add_argument("--teardown", type=Path, metavar="DIR", help="tear down what a --keep run left in DIR")
    args, pytest_args = parser.parse_known_args(argv)
    if args.teardown:
        left = teardown(Live.load(args.teardown))
        if left:
            print(f"e2e: tear-down left {left}", file=sys.stderr)
            return 1
        shutil.rmtree(args.teardown, ignore_errors=True)
        return 0

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="payment-e2e-"))
    report: dict[str, Any] = {"workspace": str(root)}
    code = 2
    live: Live | None = None
    try:
        live = prepare(root)
        reserved = reserve_ports(published_ports("dev", live.stack_file("dev")))
        print(f"e2e: {reserved}")
        report_path = root / "pytest-report.json"
        command = [sys.executable, "-m", "pytest", "tests/e2e", "-p", "no:cacheprovider", "-q", *pytest_args]
        env = {**live.env, WORKSPACE_VARIABLE: str(root)}
        print(f"e2e: workspace {root}; engine {live.engine['serverVersion']} (API {live.engine['apiVersion']})")
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        if report_path.exists():
            report.update(json.loads(report_path.read_text()))
    except MissingError as error:
        print(f"e2e: {error}", file=sys.stderr)
        report["error"] = str(error)
    except CommandError as error:
        print(f"e2e: preparing the workspace failed: {error}", file=sys.stderr)
        report["error"] = str(error).splitlines()[0]
    finally:
        if live is not None and not args.keep:
            left = teardown(live)
            report["teardown"] = {"left": left, "clean": not left}
            if left:
                print(f"e2e: tear-down left {left}", file=sys.stderr)
                code = code or 1
            shutil.rmtree(root, ignore_errors=True)
        report["seconds"] = round(time.monotonic() - started, 1)
        report["exitCode"] = code
        args.report.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(f"e2e: report {args.report} (exit {code}, {report['seconds']} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
