"""`python -m plan diff`: what a config change does to a stack, from two real renders."""

from __future__ import annotations

import json
from pathlib import Path

from plan import render
from plan.diff import CONTAINER, Change, Diff, diff, format_markdown
from tests.conftest import rendered, run_cli

LOYALTY = ("services.loyalty-service.port=40030", "services.loyalty-service.database=payment_loyalty")


def between(stack: str, *sets: str, base: tuple[str, ...] = ()) -> Diff:
    return diff(rendered(stack, *base).to_json(), rendered(stack, *sets).to_json())


def by_name(result: Diff) -> dict[str, Change]:
    return {c.name: c for c in result.changes}


def test_one_services_memory_is_an_in_place_update_of_that_container_only() -> None:
    result = between("dev", "services.order-service.limits.memory=1G")
    (change,) = result.changes
    assert (change.name, change.type, change.action, change.keys) == (
        "payment-services-payment-order-service",
        CONTAINER,
        "update",
        ("memory", "memorySwap"),  # no swap: memory + swap follows the limit; both update in place
    )
    assert change.component == "payment-services"
    assert result.summary().endswith(": 0 to add, 0 to remove, 1 to update, 0 to replace")


def test_a_rotation_replaces_the_password_and_exactly_its_consumer_containers() -> None:
    before, after = rendered("prod"), rendered("prod", "rotation.jwt-secret=1")
    # The oracle sees through `[secret]`: the loaders whose files really changed.
    old = {r.name: r for r in before.resources}
    consumers = {
        r.name.removesuffix("-loader")
        for r in after.resources
        if r.name.endswith("-loader") and r.revealed_inputs != old[r.name].revealed_inputs
    }
    assert consumers, "the rotated secret reaches no container"
    assert all(name.startswith("payment-services-") for name in consumers)

    changes = by_name(diff(before.to_json(), after.to_json()))
    assert set(changes) == {"payment-secrets-jwt-secret"} | consumers | {f"{c}-loader" for c in consumers}
    password = changes["payment-secrets-jwt-secret"]
    assert (password.action, password.keys) == ("replace", ("keepers",))
    for name in consumers:
        assert (changes[name].action, changes[name].keys) == ("replace", ("replacementTrigger",))
        loader = changes[f"{name}-loader"]
        assert (loader.action, loader.keys, loader.inferred) == ("replace", ("uploads",), True)


def test_a_new_catalog_service_adds_its_resources_and_changes_postgres_and_prometheus_only() -> None:
    result = between("dev", *LOYALTY)
    assert result.of("remove") == []
    assert {c.name for c in result.of("add")} == {
        "payment-services-payment-loyalty-service",
        "payment-services-payment-loyalty-service-loader",
        "payment-services-payment-loyalty-service-files",
        "payment-pki-loyalty-service-key",
        "payment-pki-loyalty-service-csr",
        "payment-pki-loyalty-service-cert",
        "payment-secrets-db-password-loyalty-service",
    }
    changed = {c.name: c for c in result.changes if c.action in ("update", "replace")}
    # Not routed through Kong, so the gateway does not change.
    assert set(changed) == {
        "payment-postgres-container",
        "payment-postgres-container-loader",
        "payment-prometheus-container",
        "payment-prometheus-container-loader",
    }
    assert "uploads" in changed["payment-postgres-container-loader"].keys  # the bootstrap SQL
    assert changed["payment-prometheus-container-loader"].keys == ("uploads",)  # the scrape job
    assert all(c.action == "replace" for c in changed.values())
    assert not any(c.inferred for c in result.changes)
    assert {c.component for c in changed.values()} == {"payment-postgres", "payment-prometheus"}


def test_secret_values_compare_equal_and_their_surroundings_do_not() -> None:
    def document(content: object, keepers: object) -> dict[str, object]:
        return {
            "project": "p",
            "stack": "s",
            "resources": [
                {"urn": "u::a", "type": "t", "name": "a", "parent": None, "inputs": {"c": content, "k": keepers}}
            ],
        }

    assert diff(document("[secret]", 1), document("[secret]", 1)).changes == ()
    assert diff(document("[secret]", 1), document({"v": "[secret]"}, 1)).changes[0].keys == ("c",)
    assert diff(document("[secret]", 1), document("[secret]", 2)).changes[0].keys == ("k",)


def test_identical_renders_have_an_empty_diff() -> None:
    # A fresh run of the program against the cached one: not the same object.
    result = diff(render("prod").to_json(), rendered("prod").to_json())
    assert result.changes == ()
    assert "no changes" in format_markdown(result)


def test_cli_prints_markdown_and_json_without_secrets(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(rendered("prod").to_json()))
    after.write_text(json.dumps(rendered("prod", "rotation.jwt-secret=1").to_json()))

    markdown = run_cli("diff", str(before), str(after))
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("**Plan diff** payment-platform/prod → payment-platform/prod: ")
    assert markdown.stdout.splitlines()[0].endswith(" to replace")
    assert "### payment-secrets" in markdown.stdout
    assert "| `payment-secrets-jwt-secret` (random:RandomPassword) | replace | `keepers` |" in markdown.stdout

    as_json = run_cli("diff", str(before), str(after), "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["summary"]["add"] == 0
    assert document["summary"]["replace"] > 1
    assert document["groups"]["payment-secrets"][0]["keys"] == ["keepers"]

    for output in (markdown.stdout, as_json.stdout):
        assert "SIMULATED-SECRET" not in output


def test_cli_names_an_unreadable_input(tmp_path: Path) -> None:
    present = tmp_path / "present.json"
    present.write_text(json.dumps(rendered("dev").to_json()))
    missing = tmp_path / "missing.json"
    result = run_cli("diff", str(present), str(missing))
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr

    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"not": "a render"}')
    result = run_cli("diff", str(garbage), str(present))
    assert result.returncode == 2
    assert str(garbage) in result.stderr
