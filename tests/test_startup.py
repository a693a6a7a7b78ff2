"""The data containers' start-up wrapper, run for real with sh and a stand-in server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from components.docker.startup import wrapper_script


def start(
    tmp_path: Path, apply: str, server: str = "sleep 30", ready: str | None = None, attempts: int = 20
) -> subprocess.Popen[str]:
    script = tmp_path / "start.sh"
    script.write_text(
        wrapper_script(
            server=["sh", "-c", f"echo started >> {tmp_path}/server.log; exec {server}", "server"],
            ready=ready or f"test -f {tmp_path}/ready",
            apply=apply,
            marker=str(tmp_path / "done"),
            attempts=attempts,
        ),
        encoding="utf-8",
    )
    return subprocess.Popen(["sh", str(script)], stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def test_applies_once_ready_then_marks_and_keeps_serving(tmp_path: Path) -> None:
    process = start(tmp_path, apply=f"test -f {tmp_path}/ready && echo applied > {tmp_path}/applied")
    try:
        time.sleep(0.5)
        assert not (tmp_path / "applied").exists()  # nothing is applied before the server is ready
        (tmp_path / "ready").touch()
        assert wait_for(tmp_path / "done")
        assert (tmp_path / "applied").read_text().strip() == "applied"
        assert process.poll() is None  # still serving
        process.send_signal(signal.SIGTERM)  # docker stop
        assert process.wait(timeout=10) == 143
    finally:
        process.kill()


def test_a_failed_apply_stops_the_server_and_fails_the_container(tmp_path: Path) -> None:
    (tmp_path / "ready").touch()
    process = start(tmp_path, apply="exit 3")
    assert process.wait(timeout=20) == 1
    assert not (tmp_path / "done").exists()
    assert "applying desired state failed" in (process.stderr.read() if process.stderr else "")


def test_a_server_that_dies_before_it_is_ready_fails_the_container(tmp_path: Path) -> None:
    process = start(tmp_path, apply="true", server="false")
    assert process.wait(timeout=20) != 0
    assert not (tmp_path / "done").exists()


def test_a_server_that_never_gets_ready_fails_after_the_attempts(tmp_path: Path) -> None:
    process = start(tmp_path, apply="true", ready="false", attempts=3)
    assert process.wait(timeout=20) == 1
    assert "not ready after 3 attempts" in (process.stderr.read() if process.stderr else "")


def test_a_stale_marker_from_a_previous_run_is_removed(tmp_path: Path) -> None:
    (tmp_path / "done").touch()
    process = start(tmp_path, apply="true")
    try:
        time.sleep(0.5)
        assert not (tmp_path / "done").exists()
    finally:
        process.kill()
        process.wait(timeout=10)
    assert os.path.exists(tmp_path / "server.log")
