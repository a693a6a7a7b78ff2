"""Whole stacks under the mock engine: both render, in the documented JSON shape, byte-identically."""

from __future__ import annotations

import json
from pathlib import Path

from components.platform import Platform, PlatformArgs
from plan import Render
from plan.engine import run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import SERVICES
from tests.conftest import rendered, rendered_again, run_cli, stack_config
from vocabulary import NETWORK, SECRET, STACK_TYPE, VOLUME

RESOURCE_KEYS = {
    "urn",
    "type",
    "name",
    "custom",
    "parent",
    "dependencies",
    "protect",
    "retainOnDelete",
    "deleteBeforeReplace",
    "inputs",
    "replacementTrigger",
    "secretDigests",
}


def test_both_stacks_render_the_platform_and_its_network(dev: Render, prod: Render) -> None:
    for stack_render in (dev, prod):
        platform = stack_render.get("payment:platform:Platform", "payment")
        network = stack_render.get("payment:network:Network", "payment-network")
        bridge = stack_render.get(NETWORK, "payment-network-bridge")
        assert network.parent == platform.urn
        assert bridge.parent == network.urn
        stack = stack_render.get(STACK_TYPE, f"payment-platform-{stack_render.stack}")
        assert platform.parent == stack.urn


def test_json_has_the_documented_shape() -> None:
    # What `render --format json` prints: the CLI writes `Render.dumps()` (test_render_is_byte_identical_...).
    document = json.loads(rendered("prod").dumps())
    assert set(document) == {"project", "stack", "resources", "outputs"}
    assert (document["project"], document["stack"]) == ("payment-platform", "prod")
    for resource in document["resources"]:
        assert set(resource) == RESOURCE_KEYS
    bridge = next(r for r in document["resources"] if r["type"] == NETWORK)
    assert bridge["urn"] == (
        "urn:pulumi:prod::payment-platform::payment:platform:Platform$payment:network:Network"
        "$docker:index/network:Network::payment-network-bridge"
    )
    assert bridge["custom"] is True
    assert bridge["inputs"]["ipamConfigs"] == [{"gateway": "172.28.0.1", "subnet": "172.28.0.0/16"}]
    assert document["outputs"]["profile"] == "prod"
    assert document["outputs"]["services"]["payment-gateway"]["containers"] == [
        "payment-payment-gateway-1",
        "payment-payment-gateway-2",
        "payment-payment-gateway-3",
    ]


def test_render_is_byte_identical_across_processes_and_written_or_printed(tmp_path: Path) -> None:
    # Different hash seeds change set and dict iteration orders between interpreters; output must not. One run
    # prints, the other writes `--output`: the same bytes, and the same as this process's render of the stack.
    target = tmp_path / "dev.json"
    written = run_cli("render", "--format", "json", "--output", str(target), env={"PYTHONHASHSEED": "1"})
    printed = run_cli("render", "--stack", "dev", "--format", "json", env={"PYTHONHASHSEED": "2"})
    assert written.returncode == printed.returncode == 0, written.stderr + printed.stderr
    assert written.stdout == ""
    assert target.read_text(encoding="utf-8") == printed.stdout == rendered("dev").dumps()
    assert printed.stdout.endswith("\n")


def test_render_is_identical_within_one_process() -> None:
    assert rendered("prod").to_json() == rendered_again("prod").to_json()


def test_table_lists_every_resource_with_key_facts() -> None:
    result = run_cli("render", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TYPE", "NAME", "PARENT", "DETAILS"]
    bridge = next(line for line in lines if line.startswith("docker:Network"))
    assert "name=payment-network" in bridge and "subnet=172.28.0.0/16" in bridge
    assert lines[-1] == f"payment-platform/dev: {len(rendered('dev').resources)} resources"


def test_config_file_option_uses_another_stack_file(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.custom.yaml"
    stack_file.write_text(
        "config:\n  payment-platform:networkSubnet: 10.77.0.0/16\n  payment-platform:demo: true\n", encoding="utf-8"
    )
    result = run_cli("render", "--stack", "dev", "--config-file", str(stack_file), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"]["network"]["subnet"] == "10.77.0.0/16"


def test_a_staging_stack_runs_prod_defaults() -> None:
    staging = rendered("staging", "profile=prod", "demo=true")
    assert staging.outputs["profile"] == "prod"
    assert staging.outputs["services"]["payment-gateway"]["replicas"] == 3
    assert staging.get(STACK_TYPE, "payment-platform-staging")


def test_an_added_service_appears_in_the_render() -> None:
    render = rendered("dev", "services.loyalty-service.port=40030", "services.loyalty-service.database=payment_loyalty")
    assert render.outputs["services"]["loyalty-service"] == {
        "port": 40030,
        "database": "payment_loyalty",
        "replicas": 1,
        "containers": ["payment-loyalty-service"],
    }


def test_no_simulated_secret_reaches_any_render(dev: Render, prod: Render) -> None:
    for stack_render in (dev, prod):
        assert SECRET_MARKER not in json.dumps(stack_render.to_json())


def test_renaming_the_platform_keeps_every_data_volume() -> None:
    """URNs carry parents' types, not names: fixed volume names survive a component rename."""
    config = stack_config("prod")

    def volumes(render: Render) -> set[str]:
        return {r.urn for r in render.by_type(VOLUME) if r.retain_on_delete}

    def program() -> None:
        Platform("payments-v2", PlatformArgs(config=config))  # __main__.py names it "payment"

    original, renamed = volumes(rendered("prod")), volumes(run_program(program, config.project, "prod"))
    assert {urn.rsplit("::", 1)[1] for urn in original} == {
        "postgres-data",
        "redis-data",
        "kafka-data",
        "prometheus-data",
        "grafana-data",
    }
    assert original == renamed


def test_outputs_list_every_published_endpoint(dev: Render, prod: Render) -> None:
    assert len(dev.outputs["urls"]) == 19 + 7
    assert dev.outputs["urls"]["postgres"] == "postgresql://127.0.0.1:40432/?sslmode=verify-full"
    assert dev.outputs["urls"]["payment-gateway"] == "https://127.0.0.1:40003"
    assert prod.outputs["urls"] == {"kong": "https://127.0.0.1:40080", "grafana": "http://127.0.0.1:40300"}
    assert prod.outputs["endpoints"] == [{"name": "kong", "health": "https://127.0.0.1:40080/health"}]
    assert {e["name"] for e in dev.outputs["endpoints"]} == {s.name for s in SERVICES} | {"kong"}
    assert prod.outputs["operatorKey"] == SECRET
    assert prod.outputs["operatorApiKey"] == SECRET  # the key of Kong's operator-only routes
    assert prod.outputs["gatewayUrl"] == dev.outputs["gatewayUrl"] == "https://127.0.0.1:40080"
    assert prod.outputs["operatorCertificate"].startswith("-----BEGIN CERTIFICATE-----")
