"""Run a container of the rendered stack on the real engine, with the local image in place of the official one.

The render (`tests.conftest.rendered`) holds every input the program gives Docker: user, read-only root,
tmpfs mounts, environment, entrypoint, command, healthcheck, data volume, and the uploads its loader puts in
the files volume (certificates and passwords in the clear, simulated). `Sandbox.run_rendered` recreates that
container with `docker run`, except that it always runs with `--network none` (no peer is needed for the
checks here, and nothing is reachable from the host), and `wait_healthy` runs the container's own
healthcheck test with `docker exec` until it passes. Every container and volume a `Sandbox` creates is
removed when it closes, whatever happened.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from plan.engine import Render, Resource
from tests.images.conftest import PREFIX, docker, shown
from vocabulary import CONTAINER, REMOTE_IMAGE


def containers_running(render: Render, reference: str) -> list[Resource]:
    """The rendered containers whose image is the pulled `reference`, by container name."""
    ids = {r.revealed_outputs.get("imageId") for r in render.by_type(REMOTE_IMAGE) if r.inputs["name"] == reference}
    found = [r for r in render.by_type(CONTAINER) if r.revealed_inputs.get("image") in ids]
    return sorted(found, key=lambda r: str(r.inputs["name"]))


def container_named(render: Render, name: str) -> Resource:
    found = [r for r in render.by_type(CONTAINER) if r.inputs.get("name") == name]
    assert len(found) == 1, f"{len(found)} rendered containers named {name!r}"
    return found[0]


def loader_of(render: Render, files_volume: str) -> Resource:
    """The loader container that fills the rendered files volume `files_volume`."""
    for candidate in render.by_type(CONTAINER):
        volumes = candidate.revealed_inputs.get("volumes") or []
        if candidate.revealed_inputs.get("uploads") and any(v.get("volumeName") == files_volume for v in volumes):
            return candidate
    raise AssertionError(f"no rendered loader fills {files_volume}")


def uploads_tar(uploads: Sequence[dict[str, Any]]) -> bytes:
    """The uploads as the provider sends them: one tar, each file with its owner, group and mode."""
    buffer = io.BytesIO()
    folders: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for upload in uploads:
            path = str(upload["file"]).lstrip("/")
            parent = posixpath.dirname(path)
            while parent and parent not in folders:
                folders.add(parent)
                info = tarfile.TarInfo(parent)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                parent = posixpath.dirname(parent)
            data = str(upload["content"]).encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), int(str(upload["permissions"]), 8)
            info.uid, info.gid = int(upload["owner"]), int(upload["group"])
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Sandbox:
    """Containers and volumes of one test, named under PREFIX and removed on close."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def name(self, what: str) -> str:
        return f"{PREFIX}-{self.tag}-{what}"

    def volume(self, what: str) -> str:
        name = self.name(what)
        proc = docker("volume", "create", name)
        assert proc.returncode == 0, shown(proc)
        self.volumes.append(name)
        return name

    def close(self) -> None:
        for container in reversed(self.containers):
            docker("rm", "-f", "-v", container, timeout=60)
        for volume in reversed(self.volumes):
            docker("volume", "rm", "-f", volume, timeout=60)

    def files_volumes(self, loader: Mapping[str, Any]) -> dict[str, str]:
        """A fresh sandbox volume for each files volume the rendered `loader` fills: rendered name -> sandbox name."""
        return {str(v["volumeName"]): self.volume(str(v["volumeName"])) for v in loader["volumes"]}

    def load(self, spec: Mapping[str, Any], volumes: Mapping[str, str], loader_image: str) -> str:
        """Run a rendered loader (its command, capabilities, limits, uploads: `Resource.revealed_inputs`) into the
        sandbox volumes standing for its files volumes (`volumes`: rendered name -> sandbox name); returns the name
        of its exited container."""
        name = self.name(f"loader-{len(self.containers)}")
        args = ["create", "--name", name, "--network", "none", *limit_options(spec)]
        for volume in spec["volumes"]:
            args += ["--volume", f"{volumes[volume['volumeName']]}:{volume['containerPath']}"]
        caps = spec.get("capabilities") or {}
        args += [f"--cap-drop={c}" for c in caps.get("drops", [])] + [f"--cap-add={c}" for c in caps.get("adds", [])]
        args += [f"--security-opt={o}" for o in spec.get("securityOpts", [])]
        proc = docker(*args, loader_image, *spec["command"])
        assert proc.returncode == 0, shown(proc)
        self.containers.append(name)
        # A tar on stdin is extracted with its own owners and modes, as the provider's upload is. (`-a` would
        # re-own every file to the container's user.)
        proc = docker("cp", "-", f"{name}:/", stdin=uploads_tar(spec["uploads"]))
        assert proc.returncode == 0, shown(proc)
        proc = docker("start", "--attach", name, timeout=60)
        assert proc.returncode == 0, f"the loader failed: {shown(proc)}"
        return name

    def run_rendered(self, render: Render, container: Resource, image: str, loader_image: str, *extra: str) -> str:
        """Start `container` as rendered, with `image`, its files loaded and fresh volumes; returns its name.

        `extra` are further `docker run` options (a network, published ports, hosts); without a `--network`
        among them the container gets none.
        """
        spec = container.revealed_inputs
        name = self.name(str(spec["name"]))
        options = hardening_options(spec)
        if any(option.startswith("--network=container:") for option in extra) and "--hostname" in options:
            at = options.index("--hostname")  # a container sharing another's network has that one's hostname
            del options[at : at + 2]
        network = [] if any(option.startswith("--network") for option in extra) else ["--network", "none"]
        args = ["run", "--detach", "--name", name, "--init", *network, *extra, *options]
        args += self.mount_options(render, spec, loader_image)
        entrypoint = list(spec.get("entrypoints") or [])
        if entrypoint:
            args += ["--entrypoint", entrypoint[0]]
        proc = docker(*args, image, *entrypoint[1:], *(spec.get("command") or []))
        assert proc.returncode == 0, shown(proc)
        self.containers.append(name)
        return name

    def mount_options(self, render: Render, spec: Mapping[str, Any], loader_image: str) -> list[str]:
        """Fresh data volumes, and files volumes filled by their rendered loaders, mounted as rendered."""
        args: list[str] = []
        loaded: dict[str, str] = {}
        for mount in spec.get("mounts") or []:
            assert mount["type"] == "volume", f"{spec['name']}: a {mount['type']} mount cannot run in this sandbox"
            source = mount["source"]
            if source not in loaded:
                loader = loader_of(render, source).revealed_inputs
                made = self.files_volumes(loader)
                self.load(loader, made, loader_image)
                loaded.update(made)
            option = f"type=volume,src={loaded[source]},dst={mount['target']}"
            if mount.get("readOnly"):
                option += ",readonly"
            args += ["--mount", option]
        for volume in spec.get("volumes") or []:
            args += ["--volume", f"{self.volume(volume['volumeName'])}:{volume['containerPath']}"]
        return args


def limit_options(spec: Mapping[str, Any]) -> list[str]:
    """`docker create` options for the rendered memory, memory + swap and CPU limits (MiB and CPUs, as rendered)."""
    args: list[str] = []
    if spec.get("memory"):
        args += ["--memory", f"{int(spec['memory'])}m"]
    if spec.get("memorySwap"):
        args += ["--memory-swap", f"{int(spec['memorySwap'])}m"]
    if spec.get("cpus"):
        args += ["--cpus", str(spec["cpus"])]
    return args


def hardening_options(spec: Mapping[str, Any]) -> list[str]:
    """`docker run` options for the rendered user, read-only root, tmpfs, env, capabilities and limits."""
    args: list[str] = []
    for key, flag in (("hostname", "--hostname"), ("user", "--user"), ("ipcMode", "--ipc")):
        if spec.get(key):
            args += [flag, str(spec[key])]
    if spec.get("readOnly"):
        args.append("--read-only")
    if spec.get("memory"):
        args += ["--memory", f"{spec['memory']}m"]
    args += [f"--tmpfs={path}:{options}" for path, options in (spec.get("tmpfs") or {}).items()]
    args += [f"--env={assignment}" for assignment in spec.get("envs") or []]
    args += [f"--security-opt={o}" for o in spec.get("securityOpts", [])]
    args += [f"--cap-drop={c}" for c in (spec.get("capabilities") or {}).get("drops", [])]
    return args


@contextmanager
def sandbox(tag: str) -> Iterator[Sandbox]:
    box = Sandbox(tag)
    try:
        yield box
    finally:
        box.close()


def health_argv(test: Sequence[str]) -> list[str]:
    """A Docker healthcheck test as the argv `docker exec` runs."""
    kind, *rest = test
    if kind == "CMD":
        return list(rest)
    if kind == "CMD-SHELL":
        return ["sh", "-c", rest[0]]
    raise AssertionError(f"healthcheck test of kind {kind!r}")


def wait_healthy(name: str, test: Sequence[str], timeout: float) -> float:
    """Poll the healthcheck `test` in container `name` until it passes; returns the seconds it took."""
    started = time.monotonic()
    argv = health_argv(test)
    last = None
    while time.monotonic() - started < timeout:
        state = docker("inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", name)
        if state.stdout.split()[:1] != ["true"]:
            logs = docker("logs", "--tail", "30", name)
            raise AssertionError(f"{name} stopped ({state.stdout.strip()}) before it was healthy:\n{shown(logs)}")
        last = docker("exec", name, *argv, timeout=30)
        if last.returncode == 0:
            return time.monotonic() - started
        time.sleep(1)
    logs = docker("logs", "--tail", "30", name)
    raise AssertionError(
        f"{name} not healthy after {timeout:.0f} s; last check: {shown(last) if last else '-'}\n{shown(logs)}"
    )
