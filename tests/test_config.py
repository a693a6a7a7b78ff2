"""Resolving stack config: profiles, overrides, added services. Pure: no Pulumi runtime involved."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from stacks.catalog import SERVICES, Tier
from stacks.errors import ConfigError
from stacks.models import PlatformConfig
from stacks.profiles import select_profile
from stacks.resolve import resolve
from tests.conftest import stack_config


def config(stack: str = "dev", **values: Any) -> PlatformConfig:
    return stack_config(stack, **values)


def test_dev_profile_is_the_seed_sizing() -> None:
    dev = config("dev")
    assert dev.profile == "dev"
    for service in dev.services:
        assert (str(service.workload.limits.cpus), str(service.workload.limits.memory)) == ("1", "512M")
        assert (str(service.workload.reservations.cpus), str(service.workload.reservations.memory)) == ("0.5", "256M")
        assert service.replicas == 1
        assert service.container_names == (f"payment-{service.name}",)


def test_dev_publishes_everything_on_loopback_only() -> None:
    dev = config("dev")
    workloads = [s.workload for s in dev.services] + [i.workload for i in dev.infrastructure]
    assert all(w.publish.enabled and w.publish.address == IPv4Address("127.0.0.1") for w in workloads)


def test_prod_publishes_only_kong_publicly() -> None:
    prod = config("prod")
    published = {i.name: str(i.workload.publish.address) for i in prod.infrastructure if i.workload.publish.enabled}
    # Kong is the only public port; Grafana, an admin UI, is reachable from the host's loopback only.
    assert published == {"kong": "0.0.0.0", "grafana": "127.0.0.1"}
    assert not any(s.workload.publish.enabled for s in prod.services)


def test_prod_runs_three_gateway_replicas_named_like_the_seed() -> None:
    gateway = config("prod").service("payment-gateway")
    assert gateway.replicas == 3
    assert gateway.container_names == (
        "payment-payment-gateway-1",
        "payment-payment-gateway-2",
        "payment-payment-gateway-3",
    )
    assert config("prod").service("order-service").replicas == 1


def test_prod_is_bigger_than_dev() -> None:
    dev, prod = config("dev"), config("prod")
    assert prod.service("order-service").workload.limits.memory > dev.service("order-service").workload.limits.memory
    assert prod.infra("postgres").workload.limits.memory > dev.infra("postgres").workload.limits.memory


def test_log_rotation_follows_the_seed_and_containers_come_back_after_a_reboot() -> None:
    for stack in ("dev", "prod"):
        resolved = config(stack)
        assert resolved.logging.docker_options() == {"max-size": "10m", "max-file": "3"}
        # unless-stopped: on-failure left every container that exits 0 on the daemon's SIGTERM down after a reboot.
        assert (resolved.restart.policy, resolved.restart.max_retries) == ("unless-stopped", 0)


def test_profile_key_overrides_the_stack_name() -> None:
    staging = config("staging", profile="prod", demo=True)
    assert staging.profile == "prod"
    assert staging.stack == "staging"
    assert staging.service("payment-gateway").replicas == 3


def test_per_service_override_changes_only_that_service() -> None:
    resolved = config(
        "dev",
        services={"payment-gateway": {"limits": {"memory": "1G"}, "replicas": 2, "publish": {"enabled": False}}},
    )
    gateway = resolved.service("payment-gateway")
    assert str(gateway.workload.limits.memory) == "1G"
    assert str(gateway.workload.limits.cpus) == "1"  # untouched fields keep the profile's value
    assert gateway.replicas == 2
    assert str(resolved.service("order-service").workload.limits.memory) == "512M"


def test_scalar_config_arrives_as_strings_like_the_cli_passes_it() -> None:
    resolved = config(
        "dev",
        logMaxFiles="5",
        logMaxSize="20m",
        restartPolicy="on-failure",
        restartMaxRetries="3",
        networkSubnet="10.20.0.0/16",
    )
    assert resolved.logging.max_files == 5
    assert resolved.logging.docker_options()["max-size"] == "20m"
    assert resolved.restart.max_retries == 3
    assert resolved.network.subnet == IPv4Network("10.20.0.0/16")
    assert resolved.network.gateway == IPv4Address("10.20.0.1")


def test_unless_stopped_has_no_retry_count_and_on_failure_is_bounded() -> None:
    resolved = config("dev", restartPolicy="unless-stopped")
    assert (resolved.restart.policy, resolved.restart.max_retries) == ("unless-stopped", 0)
    resolved = config("dev", restartPolicy="on-failure")
    assert (resolved.restart.policy, resolved.restart.max_retries) == ("on-failure", 5)


def test_a_stack_can_add_a_service() -> None:
    resolved = config("dev", services={"loyalty-service": {"port": 40030, "database": "payment_loyalty"}})
    added = resolved.service("loyalty-service")
    assert (added.port, added.database, added.tier, added.builtin) == (40030, "payment_loyalty", Tier.CORE, False)
    assert [s.name for s in resolved.services][: len(SERVICES)] == [s.name for s in SERVICES]
    assert len(resolved.services) == len(SERVICES) + 1
    assert str(added.workload.limits.memory) == "512M"


def test_added_services_come_in_a_stable_order() -> None:
    names = {"zeta-service": 40031, "alpha-service": 40032}
    resolved = config("dev", services={n: {"port": p, "database": n.replace("-", "_")} for n, p in names.items()})
    assert [s.name for s in resolved.services[len(SERVICES) :]] == ["alpha-service", "zeta-service"]


def test_secret_storage_of_a_plain_key_is_refused_without_revealing_it() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve({"logMaxSize": "hunter2-size"}, project="payment-platform", stack="dev", secret_keys={"logMaxSize"})
    text = str(raised.value)
    assert "payment-platform:logMaxSize: is stored as a secret" in text
    assert "hunter2" not in text


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        config(
            "dev",
            services={
                "payment-gateway": {"reservations": {"memory": "1G"}},
                "order-service": {"reservations": {"cpus": "2"}},
            },
            networkSubnet="8.8.8.0/24",
        )
    assert [p.path for p in raised.value.problems] == [
        ("services", "payment-gateway", "reservations", "memory"),
        ("services", "order-service", "reservations", "cpus"),
        ("networkSubnet",),
    ]


@pytest.mark.parametrize(
    ("stack", "profile", "environment", "runs", "rules"),
    [
        ("dev", None, None, "dev", "dev"),
        ("prod", None, None, "prod", "prod"),
        ("prod-eu", None, None, "prod", "prod"),
        ("eu_prod2", None, None, "prod", "prod"),
        ("Production", None, None, "prod", "prod"),
        ("preprod", "dev", None, "dev", "dev"),  # a word of its own, not a part of one
        ("staging", "prod", None, "prod", "prod"),
        ("staging", "dev", "staging", "dev", "dev"),
        ("live", None, "prod", "prod", "prod"),
        ("dev", None, "prod", "prod", "prod"),  # declared production beats the name's profile
    ],
)
def test_select_profile_follows_the_declared_environment(
    stack: str, profile: str | None, environment: str | None, runs: str, rules: str
) -> None:
    selection = select_profile(stack, profile, environment)
    assert (selection.profile, selection.rules) == (runs, rules) and not selection.problems


@pytest.mark.parametrize(
    ("stack", "profile", "environment", "key"),
    [
        ("prod", "dev", None, "profile"),
        ("prod", None, "dev", "environment"),
        ("prod-eu", None, "staging", "environment"),
        ("staging", "dev", "prod", "profile"),
        ("staging", None, None, "profile"),
    ],
)
def test_a_production_stack_cannot_opt_out(stack: str, profile: str | None, environment: str | None, key: str) -> None:
    """Issue 15: `plan check --stack prod --set profile=dev` reported 0 violations under the dev rules."""
    selection = select_profile(stack, profile, environment)
    assert [p.path for p in selection.problems] == [(key,)]
    assert selection.rules == "prod"
    with pytest.raises(ConfigError, match=f"payment-platform:{key}"):
        config(
            stack, **({"profile": profile} if profile else {}), **({"environment": environment} if environment else {})
        )
