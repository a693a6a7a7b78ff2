"""What `make e2e` computes without an engine (tests/e2e/live.py): the start-up critical path from engine events,
and the message of a failed pulumi command."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from plan import PROJECT_DIR
from scripts import e2e
from scripts.e2e import copy_program, parse_port_list, pin_tag, published_ports, reserve_ports
from scripts.images import is_build_tag
from tests.conftest import rendered
from tests.e2e.live import critical_path, failure_output, pulumi_diagnostics


def _event(action: str, name: str, second: float) -> dict[str, Any]:
    return {"Action": action, "Actor": {"Attributes": {"name": name}}, "timeNano": int(second * 1e9)}


def test_the_chain_follows_the_dependency_that_became_healthy_last() -> None:
    events = [
        _event("create", "payment-postgres", 0),
        _event("create", "payment-redis", 0.5),
        _event("health_status: healthy", "payment-redis", 3),
        _event("health_status: healthy", "payment-postgres", 8),
        _event("create", "payment-order-service-files", 8.5),
        _event("create", "payment-order-service", 9),
        _event("create", "payment-kong", 9.5),
        _event("health_status: healthy", "payment-order-service", 12),
        _event("health_status: healthy", "payment-order-service", 30),  # later checks do not count
        _event("health_status: healthy", "payment-kong", 20),
    ]
    depends_on = {
        "payment-order-service": {"payment-postgres", "payment-redis", "payment-order-service-files"},
        "payment-kong": {"payment-order-service"},
    }
    path = critical_path(events, depends_on)
    assert [link["container"] for link in path["chain"]] == [
        "payment-postgres",
        "payment-order-service",
        "payment-kong",
    ]
    assert [link["createToHealthySeconds"] for link in path["chain"]] == [8.0, 3.0, 10.5]
    assert path["chainSeconds"] == 20.0
    assert path["firstCreateToLastHealthySeconds"] == 20.0
    assert path["containersSeen"] == 4


def test_no_health_events_give_an_empty_chain() -> None:
    assert critical_path([_event("create", "payment-kong", 0)], {})["chain"] == []


def test_a_failed_pulumi_command_reports_its_diagnostics_not_just_the_outputs_listing() -> None:
    """The CI failure this guards against: `up` errored on 2 resources and the message held only the tail of a
    long Outputs listing, so nobody could tell which resources failed or why."""
    stdout = "\n".join(
        [
            "Updating (dev):",
            " +  docker:index/container:Container payment-kong created (3s)",
            "Diagnostics:",
            "  docker:index/container:Container (payment-kong):",
            "    error: container exited unexpectedly",
            "Outputs:",
            *(f"    service-{n}: 40{n:03d}" for n in range(400)),
            "Resources:",
            "    + 240 created",
            "    2 errored",
        ]
    )
    message = failure_output(subprocess.CompletedProcess(["pulumi"], 1, stdout=stdout, stderr=""))
    assert "payment-kong" in message.split("...")[0]
    assert "container exited unexpectedly" in message
    assert "2 errored" in message
    assert pulumi_diagnostics("Updating (dev):\nResources:\n    1 unchanged\n") == ""


def test_published_ports_are_merged_into_the_reserved_ports_and_nothing_reserved_is_dropped(tmp_path: Path) -> None:
    sysctl = tmp_path / "ip_local_reserved_ports"
    sysctl.write_text("8080,40000-40002\n")
    line = reserve_ports({40001, 40003, 40379}, sysctl)
    assert sysctl.read_text() == "8080,40000-40003,40379"
    assert parse_port_list(sysctl.read_text()) == {8080, 40000, 40001, 40002, 40003, 40379}
    assert "2 newly" in line
    reserve_ports({40379}, sysctl)
    assert sysctl.read_text() == "8080,40000-40003,40379"


def test_a_host_that_refuses_the_reservation_is_told_what_may_fail(tmp_path: Path) -> None:
    line = reserve_ports({40379}, tmp_path / "missing" / "ip_local_reserved_ports")
    assert line.startswith("could not reserve the published ports")


def test_the_dev_stack_publishes_the_seed_ports_inside_linux_s_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the reservation exists: every published port of the rendered dev stack lies in 32768-60999."""
    monkeypatch.setattr(e2e, "render", lambda stack, **_: rendered(stack))  # the shared render of the dev stack
    ports = published_ports("dev")
    assert {40379, 40432, 40080, 50686} <= ports
    assert all(32768 <= port <= 60999 for port in ports)


def _imported(entry: Path) -> set[str]:
    """The modules a file imports at its top level."""
    found: set[str] = set()
    for node in ast.parse(entry.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_program_copy_holds_everything_the_program_and_the_policy_pack_import(tmp_path: Path) -> None:
    """`make e2e` runs `pulumi up` and the policy pack from a copy of `PROGRAM_PARTS`: a project module they import
    that is not copied fails only there, minutes into a real run."""
    program = tmp_path / "program"
    copy_program(program)
    modules = sorted(_imported(program / "__main__.py") | _imported(program / "policy" / "__main__.py"))
    ours = sorted(
        p.stem
        for p in PROJECT_DIR.iterdir()
        if not p.name.startswith("__") and (p.suffix == ".py" or (p / "__init__.py").exists())
    )
    # -I: neither the working folder nor PYTHONPATH is on the path, only the copy (as under the CLI) and the venv.
    probe = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(program)!r})\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps({{n: m.__file__ for n, m in sys.modules.items() if n.split('.')[0] in {ours!r}}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout)
    assert {"stacks", "components.platform", "policy.adapter", "policy_rules", "vocabulary"} <= loaded.keys()
    outside = {name: file for name, file in loaded.items() if file and not Path(file).is_relative_to(program)}
    assert not outside, f"imported from outside the copy: {outside}"


def test_a_run_pins_its_images_under_a_tag_make_images_never_prunes(tmp_path: Path) -> None:
    tag = pin_tag(tmp_path / "payment-e2e-a1rlbv8o")
    assert tag == "e2e-a1rlbv8o"
    assert not is_build_tag(tag) and is_build_tag("0123456789ab")
