"""scripts/bench/waits.py: the start-up chain of health waits stays data stores → services → Kong."""

from __future__ import annotations

import pytest

from plan import Render, Resource
from scripts.bench.waits import longest_wait_chain
from stacks.catalog import INFRASTRUCTURE, SERVICES
from tests.conftest import rendered
from vocabulary import CONTAINER

DATA_STORES = {"postgres", "redis", "kafka"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_longest_chain_is_a_data_store_then_a_service_then_kong(stack: str) -> None:
    chain = longest_wait_chain(rendered(stack))
    assert len(chain) == 3
    first, middle, last = chain
    assert first.removeprefix("payment-") in DATA_STORES
    assert middle.removeprefix("payment-") in {s.name for s in SERVICES}
    assert last == "payment-kong"


def test_services_added_through_config_do_not_lengthen_it() -> None:
    render = rendered("dev", "services.loyalty-service.port=40030", "services.loyalty-service.database=payment_loyalty")
    assert len(longest_wait_chain(render)) == 3


def test_the_data_stores_are_known_to_the_catalog() -> None:
    assert {item.name for item in INFRASTRUCTURE} >= DATA_STORES


def resource(name: str, *dependencies: str, wait: bool | None = None, type_: str = CONTAINER) -> Resource:
    inputs: dict[str, object] = {"name": name}
    if wait is not None:
        inputs["wait"] = wait
    return Resource(
        urn=name,
        type=type_,
        name=name,
        custom=True,
        parent=None,
        dependencies=tuple(dependencies),
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        inputs=inputs,
    )


def chain_of(*resources: Resource) -> list[str]:
    return longest_wait_chain(Render(project="p", stack="s", resources=resources, outputs={}))


def test_waits_add_up_through_resources_in_between() -> None:
    # db (waited) <- volume <- app (waited) <- gateway (waited) <- edge: four health waits before edge starts.
    assert chain_of(
        resource("db", wait=True),
        resource("volume", "db", type_="docker:index/volume:Volume"),
        resource("app", "volume", wait=True),
        resource("gateway", "app", wait=True),
        resource("edge", "gateway", wait=False),
    ) == ["db", "app", "gateway", "edge"]


def test_a_container_nobody_waits_for_does_not_count() -> None:
    # The loader is created before app but not waited for: app's start waits on db's health only.
    assert chain_of(
        resource("db", wait=True),
        resource("loader", "db", wait=False),
        resource("app", "loader", wait=True),
        resource("other", wait=True),
    ) == ["db", "app"]
