"""Every file loader is bounded, and leaves no staged copy of the files it loaded (issue 15: loaders had no memory or
CPU limit, and their writable layers kept the staged copy of every secret).

The render shows what each loader asks Docker for, in both stacks. The script itself runs here for real, with the
host's `sh`, `find`, `cp` and `rm` (Debian's dash and GNU tools, as in the local loader image), on folders standing in
for the container's `/stage` and its files volumes; tests/images runs it in a container on the engine and
tests/e2e checks the deployed loaders.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from components.docker.containers import FILES, LOADER_LIMITS, STAGE, docker_cpus, loader_script
from plan import Render
from tests.conftest import rendered, unavailable
from vocabulary import CONTAINER

MIB = 1024 * 1024


@pytest.fixture(params=["dev", "prod"], scope="module")
def stack(request: pytest.FixtureRequest) -> Render:
    return rendered(request.param)


def loaders(render: Render) -> dict[str, dict[str, Any]]:
    """Docker name -> inputs of every container that receives uploads: the loaders, and only they."""
    return {str(r.inputs["name"]): dict(r.inputs) for r in render.by_type(CONTAINER) if r.inputs.get("uploads")}


def roots(loader: Mapping[str, Any]) -> list[str]:
    """The folders a loader fills, from the volumes it mounts at `/files<folder>`."""
    return [str(v["containerPath"]).removeprefix(FILES) for v in loader["volumes"]]


def test_every_container_with_files_has_one_loader(stack: Render) -> None:
    """Each container that mounts a files volume has its `<name>-files` loader, and each loader serves one."""
    served = {
        f"{r.inputs['name']}-files"
        for r in stack.by_type(CONTAINER)
        if any("-files-" in str(m.get("source")) for m in r.inputs.get("mounts") or [])
    }
    assert served and set(loaders(stack)) == served


def test_every_loader_is_bounded(stack: Render) -> None:
    """Memory (32M, no swap) and a quarter of a CPU on every loader: CIS 5.11/5.12 hold for them too."""
    found = loaders(stack)
    assert found
    for name, loader in found.items():
        bounds = (loader.get("memory"), loader.get("memorySwap"), loader.get("cpus"))
        assert bounds == (32, 32, "0.25"), name
        # Spelled as the provider reads them back, or every `pulumi up` would replace every loader (`cpus`).
        assert loader["cpus"] == docker_cpus(LOADER_LIMITS.cpus), name
        assert loader["memory"] == LOADER_LIMITS.memory.mebibytes, name
        # Docker's floor for a memory limit is 6M.
        assert 6 * MIB <= int(LOADER_LIMITS.memory) <= 64 * MIB


def test_every_loader_stays_and_clears_its_staging(stack: Render) -> None:
    """Kept after it exits (`rm` would make the provider recreate it, and so replace its container, on every `up`),
    and its script, for exactly its folders, ends by deleting the staged uploads."""
    for name, loader in loaders(stack).items():
        assert loader.get("rm") in (None, False) and loader["mustRun"] is False, name
        assert loader["command"] == ["sh", "-c", loader_script(roots(loader))], name
        script = loader["command"][2]
        assert script.endswith(f"rm -rf {STAGE} || exit 1; exit $copied"), name
        assert all(str(u["file"]).startswith(f"{STAGE}/") for u in loader["uploads"]), name
        syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, f"{name}: {syntax.stderr}"


# ----------------------------------------------------------------------------------- the script, run for real


def _digest(data: bytes) -> str:
    """What assertions show of a file: never its content (keys and passwords)."""
    return hashlib.sha256(data).hexdigest()[:16]


def _stage(base: Path, uploads: Sequence[Mapping[str, Any]]) -> None:
    """The uploads as the provider extracts them into the container: at `/stage/...`, with owner, group and mode."""
    for upload in uploads:
        path = base / str(upload["file"]).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(upload["content"]))
        os.chown(path, int(upload["owner"]), int(upload["group"]))
        path.chmod(int(str(upload["permissions"]), 8))


def _listing(folder: Path) -> dict[str, tuple[int, int, str, str]]:
    """Relative path -> (uid, gid, mode, content digest) of every file under `folder`."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            info = path.stat()
            found[str(path.relative_to(folder))] = (
                info.st_uid,
                info.st_gid,
                oct(info.st_mode & 0o7777),
                _digest(path.read_bytes()),
            )
    return found


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def postgres_loader() -> dict[str, Any]:
    """prod's PostgreSQL loader with its real inputs: three folders, passwords and a TLS key among its files."""
    if os.geteuid() != 0:
        unavailable("the loader's script gives files their owners (cp -a): run as root, as CI does")
    return dict(rendered("prod").get(CONTAINER, "payment-postgres-container-loader").revealed_inputs)


def test_the_script_copies_then_deletes_every_staged_file(postgres_loader: dict[str, Any], tmp_path: Path) -> None:
    uploads = postgres_loader["uploads"]
    stage, files = tmp_path / STAGE.lstrip("/"), tmp_path / FILES.lstrip("/")
    folders = roots(postgres_loader)
    assert len(folders) > 1
    for root in folders:
        (files / root.lstrip("/")).mkdir(parents=True)
    stale = files / folders[0].lstrip("/") / "stale"
    stale.write_text("from an earlier upload\n")
    _stage(tmp_path, uploads)
    staged = _listing(stage)
    script = loader_script(folders, stage=str(stage), files=str(files))

    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert not stage.exists(), f"left staged: {sorted(_listing(stage)) if stage.exists() else []}"
    # Every upload in its volume with its owner, group, mode and content; the earlier upload's file gone.
    assert _listing(files) == staged and len(staged) == len(uploads)
    assert not stale.exists()

    # Started again (by hand: the provider never does), it finds nothing staged and leaves the volumes alone.
    again = _run(script)
    assert again.returncode == 0 and "nothing staged" in again.stderr, again.stderr
    assert _listing(files) == staged


def test_a_failed_copy_still_deletes_the_staged_files(postgres_loader: dict[str, Any], tmp_path: Path) -> None:
    """A folder whose files were never staged: the loader fails (exit 1, so the failure shows) and the files that
    were staged are deleted all the same."""
    stage, files = tmp_path / STAGE.lstrip("/"), tmp_path / FILES.lstrip("/")
    folders = roots(postgres_loader)
    for root in (*folders, "/missing"):
        (files / root.lstrip("/")).mkdir(parents=True)
    _stage(tmp_path, postgres_loader["uploads"])
    assert _listing(stage)
    failed = _run(loader_script([*folders, "/missing"], stage=str(stage), files=str(files)))
    assert failed.returncode == 1, failed.stderr
    assert not stage.exists()
