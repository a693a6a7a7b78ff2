"""Every container of both stacks meets the hardening baseline, or departs from it where documented.

The baseline's exceptions live in components/docker/hardening.py and the rules in policy_rules, the engine the
policy pack and `python -m plan check` run: this test walks the real renders with those rules, so a new container
is checked the moment it is declared, by exactly what a user's `pulumi preview` enforces. What the rules cannot
see (the platform's exact settings: the network, log options, read-only binds) is asserted below.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.docker.containers import NETWORKED, docker_cpus
from components.docker.hardening import EXCEPTIONS, LOADER, LOADER_CAPABILITIES, loader_name
from plan import Render
from policy_rules import RULES, check, identities
from stacks.catalog import APP_NETWORK, DATA_STORES, MONITORING_NETWORK, TRACING_NETWORK, edge_network, store_network
from stacks.units import Cpus
from tests.conftest import rendered
from vocabulary import CONTAINER

ITEM = {rule.id: rule.item for rule in RULES}
"""Rule id -> the baseline item (`EXCEPTIONS` key) it checks."""
STACK_NETWORKS = (
    APP_NETWORK.name,
    MONITORING_NETWORK.name,
    TRACING_NETWORK.name,
    *(store_network(store).name for store in DATA_STORES),
)


@pytest.fixture(params=["dev", "prod"], scope="module")
def stack(request: pytest.FixtureRequest) -> Render:
    return rendered(request.param)


def containers(render: Render) -> list[dict[str, Any]]:
    return [dict(r.inputs) for r in render.by_type(CONTAINER)]


def excepted(render: Render) -> set[tuple[str, str, str | None]]:
    """(container identity, rule id, baseline item) of every documented exception the rules apply to `render`."""
    names = identities(render.to_json())
    return {(names[f.resource], f.rule, ITEM[f.rule]) for f in check(render.to_json()).exceptions}


def test_every_departure_is_a_documented_exception(stack: Render) -> None:
    report = check(stack.to_json())
    assert report.ok, "\n".join(f.line() for f in report.violations)
    assert all(f.reason in {documented.reason for documented in EXCEPTIONS.values()} for f in report.exceptions)


def test_which_containers_depart_from_which_rule() -> None:
    """The departures a user sees listed by `plan check` and the pack's advisory policy, in both stacks."""
    # Not CIS-5.11/5.12: loaders have memory and CPU limits like every container (issue 15).
    loader_rules = {"CIS-4.1", "CIS-5.4", "CIS-5.13", "CIS-5.27", "CIS-5.15"}
    for stack in ("dev", "prod"):
        applied = {(container, rule) for container, rule, _ in excepted(rendered(stack))}
        assert applied == {
            ("payment-kafka", "CIS-5.13"),
            # cAdvisor: read-only host paths, as a non-root user, without the Docker socket (issue 14).
            ("payment-cadvisor", "CIS-5.6"),
            # The one holder of the Docker socket: cAdvisor's read-only proxy.
            ("payment-docker-api-proxy", "CIS-5.32"),
            *((LOADER, rule) for rule in loader_rules),
        }, stack


def test_every_documented_exception_is_still_needed() -> None:
    used = {(container, item) for stack in ("dev", "prod") for container, _, item in excepted(rendered(stack))}
    assert set(EXCEPTIONS) == used


def test_the_invariant_items_hold_everywhere(stack: Render) -> None:
    """The platform's own settings behind the rules (which accept any compliant value)."""
    for container in containers(stack):
        name = container["name"]
        assert "no-new-privileges:true" in container["securityOpts"], name
        # On the stack's own networks only (`stacks.resolve.networks`), never Docker's default bridge beyond the
        # provider's create-time default it leaves before the start; or on none (loaders, the Docker API proxy).
        joined = [n["name"] for n in container.get("networksAdvanced") or []]
        assert set(joined) <= {*STACK_NETWORKS, edge_network(str(container.get("hostname"))).name}, name
        assert container.get("networkMode") == (NETWORKED if joined else "none"), name
        assert container.get("ipcMode") in (None, "private"), name
        assert container["logDriver"] == "json-file", name
        assert container["logOpts"] == {"max-file": "3", "max-size": "10m"}, name
        # Host paths only as read-only binds, even where an exception allows host paths (cAdvisor's).
        assert not any("hostPath" in volume for volume in container.get("volumes", [])), name
        for mount in container.get("mounts", []):
            assert mount["type"] in ("volume", "bind"), name
            if mount["type"] == "bind":  # only with a documented exception (CIS-5.6, CIS-5.32), and never writable
                assert mount["readOnly"] is True, name


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


def loader_names(render: Render) -> set[str]:
    """Docker names of the containers the rules take for loaders."""
    names = identities(render.to_json())
    return {str(r.inputs["name"]) for r in render.by_type(CONTAINER) if names[r.name] == LOADER}


def test_read_only_containers_get_scratch_space(stack: Render) -> None:
    loaders = loader_names(stack)
    for container in containers(stack):
        if container.get("readOnly") and container["name"] not in loaders:
            assert "/tmp" in container.get("tmpfs", {}), container["name"]


def test_loaders_have_no_network_and_only_the_copying_capabilities(stack: Render) -> None:
    loaders = [c for c in containers(stack) if c["name"] in loader_names(stack)]
    # Every container with files has its loader, and every loader is one (a name alone makes none: test_policy_rules).
    assert {c["name"] for c in loaders} == {c["name"] for c in containers(stack) if c["name"].endswith("-files")}
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


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_loader_exception_allows_exactly_the_capabilities_the_loaders_get(stack: str) -> None:
    """Every rendered loader adds exactly the capabilities its exception documents, and the exception allows
    nothing else: one list, or a loader with one more capability would stop every preview."""
    loaders = [c for c in containers(rendered(stack)) if c["name"] == loader_name(c["name"].removesuffix("-files"))]
    assert loaders
    for loader in loaders:
        assert loader["capabilities"] == {"drops": ["ALL"], "adds": list(LOADER_CAPABILITIES)}, loader["name"]
    allows = EXCEPTIONS[(LOADER, "capabilities")].allows
    assert all(allows(cap) for cap in LOADER_CAPABILITIES) and not allows("CAP_SYS_ADMIN")
