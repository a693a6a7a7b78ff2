"""The real-engine kit's scripts refuse bad input with a message that names it, before doing anything.

No engine or toolchain is needed: each case stops at argument checking.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_toolchain_without_a_command_prints_its_usage() -> None:
    for args in ((), ("build",)):
        out = run("scripts/toolchain.sh", *args)
        assert out.returncode == 2, out
        assert "usage: scripts/toolchain.sh install|bin" in out.stderr


def test_engine_refuses_an_unknown_flavour_before_touching_anything(tmp_path: Path) -> None:
    state = tmp_path / "engine"
    for command in ("start", "stop", "status"):
        out = run("scripts/engine.sh", command, ENGINE="buster", ENGINE_STATE_DIR=str(state))
        assert out.returncode == 1, out
        assert "ENGINE=buster: expected trixie" in out.stderr and "or bookworm" in out.stderr
    assert not state.exists(), "nothing is created for a refused flavour"


def test_engine_without_a_command_prints_its_usage() -> None:
    out = run("scripts/engine.sh", "restart")
    assert out.returncode == 2, out
    assert "usage:" in out.stderr and "start|stop|status" in out.stderr


def test_images_names_an_unknown_image_and_the_known_ones() -> None:
    out = run(sys.executable, "-m", "scripts.images", "postgress")
    assert out.returncode == 1, out
    assert "no folder images/postgress" in out.stderr
    assert "known: " in out.stderr and "postgres," in out.stderr
