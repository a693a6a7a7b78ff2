"""Every container of both stacks meets the hardening baseline, or departs from it where documented.

The baseline and its exceptions live in components/hardening.py; this test walks the real renders, so a
new container is checked the moment it is declared.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.docker.containers import docker_cpus
from components.docker.hardening import EXCEPTIONS, LOADER
from plan import Render
from policy_rules import restart_policy
from stacks.units import Cpus
from tests.conftest import rendered

CONTAINER = "docker:index/container:Container"
SENSITIVE_HOST_PATHS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/root",
    "/var/lib/docker",
)


def identity(container: dict[str, Any]) -> str:
    """The name exceptions are keyed by: the container's Docker name, or LOADER for file loaders."""
    name = str(container["name"])
    return LOADER if name.endswith("-files") else name


def departures(container: dict[str, Any]) -> set[str]:
    """Baseline items this container does not meet."""
    found = set()
    user = str(container.get("user", ""))
    if user.split(":", maxsplit=1)[0] in ("", "0", "root"):
        found.add("user")
    if container.get("readOnly") is not True:
        found.add("read_only")
    caps = container.get("capabilities", {})
    if caps.get("drops") != ["ALL"] or caps.get("adds"):
        found.add("capabilities")
    if not container.get("healthcheck", {}).get("tests"):
        found.add("healthcheck")
    if restart_policy({"inputs": container}, "prod"):
        found.add("restart")
    if not container.get("memory") or not container.get("cpus"):
        found.add("limits")
    if any(m["type"] == "bind" for m in container.get("mounts", [])):
        found.add("host_mounts")
    return found


@pytest.fixture(params=["dev", "prod"], scope="module")
def stack(request: pytest.FixtureRequest) -> Render:
    return rendered(request.param)


def containers(render: Render) -> list[dict[str, Any]]:
    return [dict(r.inputs) for r in render.by_type(CONTAINER)]


def test_every_departure_is_a_documented_exception(stack: Render) -> None:
    for container in containers(stack):
        undocumented = {item for item in departures(container) if (identity(container), item) not in EXCEPTIONS}
        assert not undocumented, f"{container['name']}: {sorted(undocumented)} without a documented exception"


def test_every_documented_exception_is_still_needed() -> None:
    used = {
        (identity(c), item) for stack in ("dev", "prod") for c in containers(rendered(stack)) for item in departures(c)
    }
    assert set(EXCEPTIONS) == used


def test_the_invariant_items_hold_everywhere(stack: Render) -> None:
    for container in containers(stack):
        name = container["name"]
        assert "no-new-privileges:true" in container["securityOpts"], name
        assert container.get("privileged") in (None, False), name
        assert container.get("networkMode") in ("payment-network", "none"), name
        assert container.get("pidMode") in (None, ""), name
        assert container.get("ipcMode") in (None, "private"), name
        assert container.get("usernsMode") in (None, ""), name
        assert container["logDriver"] == "json-file", name
        assert container["logOpts"] == {"max-file": "3", "max-size": "10m"}, name
        for volume in container.get("volumes", []):
            assert "hostPath" not in volume, name
        for mount in container.get("mounts", []):
            assert mount["type"] in ("volume", "bind"), name
            if mount["type"] == "bind":  # only with a documented exception (see departures), and never writable
                assert mount["readOnly"] is True, name
            else:
                assert mount.get("source") not in SENSITIVE_HOST_PATHS, name
        for port in container.get("ports", []):
            assert port.get("ip"), f"{name}: a published port must name its host address"
            assert port["external"] >= 1025, name


def test_limited_containers_never_swap(stack: Render) -> None:
    for container in containers(stack):
        if container.get("memory"):
            assert container.get("memorySwap") == container["memory"], f"{container['name']}: memory + swap = memory"


@pytest.mark.parametrize(
    ("configured", "read_back"),
    # What the Docker provider stores after reading NanoCPUs back from the engine (nanoInt64ToDecimalString).
    [("1", "1.0"), ("2", "2.0"), ("0.5", "0.5"), ("0.25", "0.25"), ("1.5", "1.5"), ("0.1", "0.1")],
)
def test_cpus_are_spelled_as_the_provider_reads_them_back(configured: str, read_back: str) -> None:
    # Any other spelling is a change on every refresh, and cpus forces a replacement.
    assert docker_cpus(Cpus.parse(configured)) == read_back


def test_read_only_containers_get_scratch_space(stack: Render) -> None:
    for container in containers(stack):
        if container.get("readOnly") and identity(container) != LOADER:
            assert "/tmp" in container.get("tmpfs", {}), container["name"]


def test_loaders_have_no_network_and_only_the_copying_capabilities(stack: Render) -> None:
    loaders = [c for c in containers(stack) if identity(c) == LOADER]
    assert loaders
    for loader in loaders:
        assert loader["networkMode"] == "none"
        # With the CAP_ prefix, as the engine reports them: otherwise every refresh shows a change.
        assert sorted(loader["capabilities"]["adds"]) == ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]
        assert loader["mustRun"] is False and loader["attach"] is True


def test_prod_publishes_only_the_gateway_proxy_publicly() -> None:
    published = {(c["name"], p["ip"], p["external"]) for c in containers(rendered("prod")) for p in c.get("ports", [])}
    public = {entry for entry in published if entry[1] != "127.0.0.1"}
    assert public == {("payment-kong", "0.0.0.0", 40080)}
    # admin UIs, where published, stay on the host's loopback
    assert published - public == {("payment-grafana", "127.0.0.1", 40300)}


def test_dev_publishes_on_loopback_only() -> None:
    addresses = {p["ip"] for c in containers(rendered("dev")) for p in c.get("ports", [])}
    assert addresses == {"127.0.0.1"}
