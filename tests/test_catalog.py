"""The catalog is exactly the seed guide's port table, and both profiles honour it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks.catalog import INFRASTRUCTURE, PINNED_IMAGES, SERVICES, Tier
from tests.conftest import IN_CI

# The seed's "服务端口映射" table, row by row (service, internal port, database), as the issue lists it.
SEED_SERVICES = [
    ("admin-bff-service", 40001, "payment_admin"),
    ("merchant-bff-service", 40023, "payment_merchant"),
    ("payment-gateway", 40003, "payment_gateway"),
    ("order-service", 40004, "payment_order"),
    ("channel-adapter", 40005, "payment_channel"),
    ("risk-service", 40006, "payment_risk"),
    ("accounting-service", 40007, "payment_accounting"),
    ("notification-service", 40008, "payment_notification"),
    ("analytics-service", 40009, "payment_analytics"),
    ("config-service", 40010, "payment_config"),
    ("merchant-auth-service", 40011, "payment_merchant_auth"),
    ("settlement-service", 40013, "payment_settlement"),
    ("withdrawal-service", 40014, "payment_withdrawal"),
    ("kyc-service", 40015, "payment_kyc"),
    ("cashier-service", 40016, "payment_cashier"),
    ("reconciliation-service", 40020, "payment_reconciliation"),
    ("dispute-service", 40021, "payment_dispute"),
    ("merchant-policy-service", 40022, "payment_merchant_policy"),
    ("merchant-quota-service", 40024, "payment_merchant_quota"),
]
SEED_INFRASTRUCTURE = {
    "postgres": 40432,
    "redis": 40379,
    "kafka": 40092,
    "prometheus": 40090,
    "grafana": 40300,
    "jaeger": 50686,
    "kong": 40080,
}
SEED_FILE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_1ba4f7143992b18e.txt"


def test_services_are_the_seed_table_in_order() -> None:
    assert [(s.name, s.port, s.database) for s in SERVICES] == SEED_SERVICES


def test_two_bffs_and_seventeen_core_services() -> None:
    assert [s.name for s in SERVICES if s.tier is Tier.BFF] == ["admin-bff-service", "merchant-bff-service"]
    assert sum(s.tier is Tier.CORE for s in SERVICES) == 17


def test_infrastructure_published_ports_are_the_seed_table() -> None:
    assert {i.name: i.published_port for i in INFRASTRUCTURE} == SEED_INFRASTRUCTURE


def test_catalog_matches_the_seed_file_itself() -> None:
    """Cross-check the oracle above against the seed document, where the checkout has it beside it."""
    if not SEED_FILE.exists():
        if IN_CI:
            pytest.fail(f"CI must have the seed guide at {SEED_FILE}")
        pytest.skip(f"seed guide not found at {SEED_FILE} (shared/ is not beside this checkout)")
    text = SEED_FILE.read_text(encoding="utf-8")
    rows = re.findall(r"^\| \*\*(?:BFF|核心)\*\* \| ([a-z-]+) \| (\d+) \| (\d+) \| (payment_[a-z_]+) \|$", text, re.M)
    assert [(name, int(port), db) for name, port, _external, db in rows] == SEED_SERVICES
    assert all(port == external for _, port, external, _ in rows)
    infra = dict(re.findall(r"^\| \*\*[^|]+\*\* \| ([A-Za-z ]+?) \| (\d+) \| [^|]+ \|$", text, re.M))
    assert infra == {
        "PostgreSQL": "40432",
        "Redis": "40379",
        "Kafka": "40092",
        "Prometheus": "40090",
        "Grafana": "40300",
        "Jaeger UI": "50686",
        "Kong Gateway": "40080",
    }
    assert {i.title: str(i.published_port) for i in INFRASTRUCTURE} == infra


def test_every_image_the_platform_runs_states_its_contract() -> None:
    """tests/images checks each local build against its component's contract and skips an image without one: a
    contract lost (a module moved out of the search) would silently check nothing."""
    from components.docker.image_contract import all_contracts  # noqa: PLC0415 (components load Pulumi)

    contracts = all_contracts()
    assert set(contracts) == set(PINNED_IMAGES)
    for role, contract in contracts.items():
        assert contract.stands_for == PINNED_IMAGES[role], role
