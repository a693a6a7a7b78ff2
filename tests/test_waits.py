"""A first `pulumi up` waits for health three times in a row at most: data stores → services → Kong.

Each health wait on a dependency path adds up (scripts/bench/waits.py), so this chain bounds how long a first `up`
takes and how long a replaced data store keeps the platform down.
"""

from __future__ import annotations

import pytest

from scripts.bench.waits import longest_wait_chain
from stacks.catalog import SERVICES
from tests.conftest import rendered

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
