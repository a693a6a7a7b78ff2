"""a. After `pulumi up`, every container runs and is healthy, and `docker inspect` shows the hardening baseline
took effect exactly as the program declared it (read-only root, dropped capabilities, user, limits, log
options, restart policy), and each loader ran once under its limits, exited 0 and kept no staged file."""

from __future__ import annotations

from typing import Any

from components.docker.hardening import exception
from plan import Render
from tests.e2e.live import Live, is_loader, staged_leftovers
from vocabulary import CONTAINER

MIB = 1024 * 1024


def _declared(expected: Render) -> dict[str, dict[str, Any]]:
    """Container name -> the inputs the program declared for it."""
    return {str(r.inputs["name"]): dict(r.inputs) for r in expected.resources if r.type == CONTAINER}


def test_every_declared_container_exists_and_nothing_else(deployed: Live, expected: Render) -> None:
    running = {c["Name"].lstrip("/") for c in deployed.containers()}
    assert running == set(_declared(expected)), "containers on the engine differ from the declared ones"
    deployed.results["containers"] = len([n for n in running if not n.endswith("-files")])
    deployed.results["loaders"] = len([n for n in running if n.endswith("-files")])


def test_every_container_runs_healthy_and_every_loader_exited_0(deployed: Live) -> None:
    problems = []
    for c in deployed.containers():
        state, name = c["State"], c["Name"].lstrip("/")
        if is_loader(c):
            if state["Status"] != "exited" or state["ExitCode"] != 0:
                problems.append(f"{name}: loader {state['Status']} exit {state['ExitCode']}")
        elif not state["Running"] or state.get("Health", {}).get("Status") != "healthy":
            problems.append(f"{name}: {state['Status']}, health {state.get('Health', {}).get('Status')}")
    assert problems == []


def test_hardening_took_effect_as_declared(deployed: Live, expected: Render) -> None:
    declared = _declared(expected)
    problems: list[str] = []
    for c in deployed.containers():
        name = c["Name"].lstrip("/")
        want, host, config = declared[name], c["HostConfig"], c["Config"]

        def check(what: str, got: object, wanted: object, name: str = name) -> None:
            if got != wanted:
                problems.append(f"{name}: {what} is {got!r}, declared {wanted!r}")

        check("read-only root", host["ReadonlyRootfs"], bool(want.get("readOnly", False)))
        caps = want.get("capabilities") or {}
        check("dropped capabilities", sorted(host.get("CapDrop") or []), sorted(caps.get("drops") or []))
        check("added capabilities", sorted(host.get("CapAdd") or []), sorted(caps.get("adds") or []))
        check("security options", host.get("SecurityOpt") or [], list(want.get("securityOpts") or []))
        check("log driver", host["LogConfig"]["Type"], want["logDriver"])
        check("log options", host["LogConfig"]["Config"], want["logOpts"])
        check("restart policy", host["RestartPolicy"]["Name"], want["restart"])
        check("restart retries", host["RestartPolicy"]["MaximumRetryCount"], want.get("maxRetryCount", 0))
        check("privileged", host["Privileged"], False)
        if is_loader(c):
            check("network", host["NetworkMode"], "none")
            continue
        check("user", config["User"], want["user"])
        runs_as_root = config["User"].split(":")[0] in ("", "0", "root")
        check("root user only where documented", runs_as_root, exception(name, "user") is not None)
        check("memory limit", host["Memory"], want["memory"] * MIB)
        check("memory + swap", host["MemorySwap"], want["memorySwap"] * MIB)
        check("memory reservation", host["MemoryReservation"], want["memoryReservation"] * MIB)
        check("CPUs", host["NanoCpus"], round(float(want["cpus"]) * 1e9))
        check("CPU shares", host["CpuShares"], want["cpuShares"])
        check("init", host["Init"], True)
        check("IPC", host["IpcMode"], "private")
        check("network", host["NetworkMode"], want["networkMode"])
        # Exactly its declared networks, with both aliases each: never Docker's default bridge it was created on.
        joined: dict[str, list[str]] = {
            n: sorted(e.get("Aliases") or []) for n, e in c["NetworkSettings"]["Networks"].items()
        }
        networks: dict[str, list[str]] = {n["name"]: sorted(n["aliases"]) for n in want.get("networksAdvanced") or []}
        check("networks and their aliases", joined, networks or {"none": []})
        check("tmpfs", host.get("Tmpfs") or {}, want.get("tmpfs") or {})
        published = {
            f"{p['internal']}/tcp": [{"HostIp": p["ip"], "HostPort": str(p["external"])}]
            for p in want.get("ports") or []
        }
        check("published ports", host.get("PortBindings") or {}, published)
        health = config.get("Healthcheck") or {}
        check("healthcheck", health.get("Test"), want["healthcheck"]["tests"])
    assert problems == []


def test_every_loader_ran_bounded_and_kept_no_staged_file(deployed: Live, expected: Render) -> None:
    """Issue 15: each loader ran under its declared memory (no swap) and CPU limits, exited 0 without being
    OOM-killed, and its exited container holds none of the files it copied: `/stage` is neither in its writable layer
    (`docker diff`) nor found by `docker cp`."""
    declared = _declared(expected)
    loaders = [c for c in deployed.containers() if is_loader(c)]
    assert loaders, "no loader on the engine"
    problems: list[str] = []
    for c in loaders:
        name, host, state = c["Name"].lstrip("/"), c["HostConfig"], c["State"]
        want = declared[name]
        if not (want.get("memory") and want.get("memorySwap") and want.get("cpus")):
            problems.append(f"{name}: declared without memory, swap or CPU limit")
            continue
        limits = (host["Memory"], host["MemorySwap"], host["NanoCpus"])
        wanted = (want["memory"] * MIB, want["memorySwap"] * MIB, round(float(want["cpus"]) * 1e9))
        if limits != wanted:
            problems.append(f"{name}: memory, memory + swap, NanoCpus {limits}, declared {wanted}")
        if (state["Status"], state["ExitCode"], state["OOMKilled"]) != ("exited", 0, False):
            problems.append(f"{name}: {state['Status']} exit {state['ExitCode']} OOM-killed {state['OOMKilled']}")
        left = staged_leftovers(c["Id"])
        if left:
            problems.append(f"{name}: staged files left in the container: {left[:5]} ({len(left)})")
    deployed.results["loadersChecked"] = len(loaders)
    assert problems == []


def test_published_ports_listen_only_on_loopback(deployed: Live) -> None:
    """dev publishes every port, on 127.0.0.1 only: the engine's port table says so."""
    addresses = {
        binding["HostIp"]
        for c in deployed.containers()
        for bindings in (c["NetworkSettings"].get("Ports") or {}).values()
        for binding in bindings or []
    }
    assert addresses == {"127.0.0.1"}
