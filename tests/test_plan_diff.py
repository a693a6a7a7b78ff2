"""`python -m plan diff`: what a config change does to a stack, from two real renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from plan import PROJECT_DIR, Render, render
from plan.diff import Change, Diff, diff, format_markdown
from tests.conftest import rendered, rendered_again, run_cli
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, SECRET

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
    # A password rotated in place (its keepers); the JWT key has one resource per generation instead.
    before, after = rendered("prod"), rendered("prod", "rotation.db-password-order-service=1")
    # The oracle sees through `[secret]`: the loaders whose files really changed.
    old = {r.name: r for r in before.resources}
    consumers = {
        r.name.removesuffix("-loader")
        for r in after.resources
        if r.name.endswith("-loader") and r.revealed_inputs != old[r.name].revealed_inputs
    }
    assert consumers, "the rotated secret reaches no container"
    assert consumers == {"payment-services-payment-order-service", "payment-postgres-container"}

    changes = by_name(diff(before.to_json(), after.to_json()))
    password_name = "payment-secrets-db-password-order-service"
    assert set(changes) == {password_name} | consumers | {f"{c}-loader" for c in consumers}
    password = changes[password_name]
    assert (password.action, password.keys) == ("replace", ("keepers",))
    for name in consumers:
        assert (changes[name].action, changes[name].keys) == ("replace", ("replacementTrigger",))
        loader = changes[f"{name}-loader"]
        # Seen directly: the digest of the loader's uploads changed.
        assert (loader.action, loader.keys, loader.inferred) == ("replace", ("uploads",), False)

    # Renders made before `secretDigests` existed: the same result, the loaders' change inferred from the triggers.
    old_style = [{k: v for k, v in r.items() if k != "secretDigests"} for r in (before.to_json(), after.to_json())]
    for document in old_style:
        document["resources"] = [{k: v for k, v in r.items() if k != "secretDigests"} for r in document["resources"]]
    inferred = by_name(diff(*old_style))
    assert set(inferred) == set(changes)
    for name in consumers:
        loader = inferred[f"{name}-loader"]
        assert (loader.action, loader.keys, loader.inferred) == ("replace", ("uploads",), True)


def test_a_rotation_of_a_secret_delivered_as_a_variable_replaces_its_consumers() -> None:
    """dev passes secrets as environment variables: no file, no loader, no trigger; the digest of `envs` shows it."""
    before, after = rendered("dev"), rendered("dev", "rotation.jwt-secret=1")
    old = {r.name: r for r in before.resources}
    consumers = {
        r.name
        for r in after.resources
        if r.type == CONTAINER and r.revealed_inputs.get("envs") != old[r.name].revealed_inputs.get("envs")
    }
    assert len(consumers) == 19, "every service receives the JWT secret"
    changes = by_name(diff(before.to_json(), after.to_json()))
    # One resource per JWT generation (components/jwt.py): without an overlap, generation 1 takes 0's place.
    assert set(changes) == {"payment-jwt-secret-0", "payment-jwt-secret-1"} | consumers
    assert (changes["payment-jwt-secret-0"].action, changes["payment-jwt-secret-1"].action) == ("remove", "add")
    for name in consumers:
        # `dependencies`: the variable's value now comes from generation 1's resource
        assert (changes[name].action, changes[name].keys) == ("replace", ("envs", "dependencies"))


def test_a_service_redis_password_rotation_replaces_redis_and_that_service_only() -> None:
    """Redis holds only a hash of the password (its ACL file): no simulated value is left in it, yet the digest of its
    loader's uploads must change, or the offline plan would miss the Redis restart the real preview shows."""
    before, after = rendered("prod"), rendered("prod", "rotation.redis-password-order-service=1")
    changes = by_name(diff(before.to_json(), after.to_json()))
    holders = ("payment-redis-container", "payment-services-payment-order-service")
    assert set(changes) == {"payment-secrets-redis-password-order-service"} | {
        name for holder in holders for name in (holder, f"{holder}-loader")
    }
    for holder in holders:
        assert (changes[holder].action, changes[holder].keys) == ("replace", ("replacementTrigger",))
        loader = changes[f"{holder}-loader"]
        assert (loader.action, loader.keys, loader.inferred) == ("replace", ("uploads",), False)


def test_a_hash_of_a_secret_set_in_clear_is_never_digested_and_other_real_secrets_change_nothing_else() -> None:
    """Redis's ACL file holds the SHA-256 of a password set with `--set-secret`: a digest of it could be checked
    against guesses, so two values leave Redis's digests equal. Stripe keys set in clear do not touch Redis at all."""

    def redis_digests(document: dict[str, Any]) -> object:
        return next(r for r in document["resources"] if r["name"] == "payment-redis-container-loader")["secretDigests"]

    key = "secrets.redis-password-order-service="
    first = render("dev", secret_sets=(key + "a" * 40,)).to_json()
    second = render("dev", secret_sets=(key + "b" * 40,)).to_json()
    assert redis_digests(first) == redis_digests(second)
    stripe = ("secrets.stripe-api-key=sk_test_" + "a" * 40, "secrets.stripe-webhook-secret=whsec_" + "w" * 40)
    changed = diff(rendered("dev").to_json(), render("dev", secret_sets=stripe).to_json()).changes
    assert changed and not any(c.component == "payment-redis" for c in changed)


def _env_consumers(before: Render, after: Render) -> set[str]:
    """The oracle: containers whose variables really changed (it sees through `[secret]`)."""
    old = {r.name: r for r in before.resources}
    return {
        r.name
        for r in after.resources
        if r.type == CONTAINER and r.revealed_inputs.get("envs") != old[r.name].revealed_inputs.get("envs")
    }


def test_a_new_secure_value_shows_without_revealing_anything(tmp_path: Path) -> None:
    """A real stack file with Stripe keys as `secure:` ciphertext renders offline (the placeholder has the `sk_`
    shape the program checks), and `pulumi config set --secret` (a new ciphertext) shows as a change."""
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    renders = []
    for api_key in ("v1:AAAA:first", "v1:BBBB:second"):
        stack["config"]["payment-platform:secrets"] = {
            "stripe-api-key": {"secure": api_key},
            "stripe-webhook-secret": {"secure": "v1:CCCC:webhook"},
        }
        path = tmp_path / f"{api_key[3:7]}.yaml"
        path.write_text(yaml.safe_dump(stack))
        renders.append(render("dev", config_file=path))
    consumers = _env_consumers(*renders)
    assert consumers, "the Stripe key reaches no container"
    changes = by_name(diff(renders[0].to_json(), renders[1].to_json()))
    assert set(changes) == consumers
    assert {(c.action, c.keys) for c in changes.values()} == {("replace", ("envs",))}
    assert "SIMULATED-SECRET" not in renders[1].dumps()


def test_a_plaintext_secret_is_never_digested() -> None:
    """`--set-secret` plaintext is a real secret: no digest of it may be printed (it could be checked against
    guesses), so its change stays invisible offline, as documented."""
    webhook = "secrets.stripe-webhook-secret=whsec_" + "w" * 40
    first = render("dev", secret_sets=("secrets.stripe-api-key=sk_test_" + "a" * 40, webhook))
    second = render("dev", secret_sets=("secrets.stripe-api-key=sk_test_" + "b" * 40, webhook))
    assert _env_consumers(first, second), "the key reaches a container"
    assert diff(first.to_json(), second.to_json()).changes == ()


def test_a_new_catalog_service_adds_its_resources_and_changes_postgres_redis_and_prometheus_only() -> None:
    result = between("dev", *LOYALTY)
    assert result.of("remove") == []
    assert {c.name for c in result.of("add")} == {
        "payment-services-payment-loyalty-service",
        "payment-services-payment-loyalty-service-loader",
        "payment-services-payment-loyalty-service-files-app-certs-ca",
        "payment-services-payment-loyalty-service-files-app-certs-services-loyalty-service",
        "payment-services-payment-loyalty-service-files-etc-payment-demo",
        "payment-pki-loyalty-service-key",
        "payment-pki-loyalty-service-csr",
        "payment-pki-loyalty-service-cert",
        "payment-secrets-db-password-loyalty-service",
        "payment-secrets-redis-password-loyalty-service",
    }
    changed = {c.name: c for c in result.changes if c.action in ("update", "replace")}
    # Not routed through Kong, so the gateway does not change.
    assert set(changed) == {
        "payment-postgres-container",
        "payment-postgres-container-loader",
        "payment-redis-container",
        "payment-redis-container-loader",
        "payment-prometheus-container",
        "payment-prometheus-container-loader",
    }
    assert "uploads" in changed["payment-postgres-container-loader"].keys  # the bootstrap SQL
    assert changed["payment-prometheus-container-loader"].keys == ("uploads",)  # the scrape job
    # Its user in the ACL file: the file is secret, its digest shows the change (plan.engine.secret_digests).
    assert "uploads" in changed["payment-redis-container-loader"].keys
    assert all(c.action == "replace" for c in changed.values())
    assert not any(c.inferred for c in result.changes)
    assert {c.component for c in changed.values()} == {"payment-postgres", "payment-redis", "payment-prometheus"}


def test_secret_values_compare_equal_and_their_surroundings_do_not() -> None:
    def document(content: object, keepers: object) -> dict[str, object]:
        return {
            "project": "p",
            "stack": "s",
            "resources": [
                {"urn": "u::a", "type": "t", "name": "a", "parent": None, "inputs": {"c": content, "k": keepers}}
            ],
        }

    assert diff(document(SECRET, 1), document(SECRET, 1)).changes == ()
    assert diff(document(SECRET, 1), document({"v": SECRET}, 1)).changes[0].keys == ("c",)
    assert diff(document(SECRET, 1), document(SECRET, 2)).changes[0].keys == ("k",)


def test_identical_renders_have_an_empty_diff() -> None:
    # A fresh run of the program against the cached one: not the same object.
    result = diff(rendered_again("prod").to_json(), rendered("prod").to_json())
    assert result.changes == ()
    assert "no changes" in format_markdown(result)


def test_cli_prints_markdown_and_json_without_secrets(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(rendered("prod").to_json()))
    after.write_text(json.dumps(rendered("prod", "rotation.grafana-admin-password=1").to_json()))

    markdown = run_cli("diff", str(before), str(after))
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("**Plan diff** payment-platform/prod → payment-platform/prod: ")
    assert markdown.stdout.splitlines()[0].endswith(" to replace")
    assert "### payment-secrets" in markdown.stdout
    row = "| `payment-secrets-grafana-admin-password` (random:RandomPassword) | replace | `keepers` |"
    assert row in markdown.stdout

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


def test_a_ca_rotation_replaces_every_leaf_certificate() -> None:
    """A leaf's `caCertPem` requires replacement in pulumi-tls (the real preview replaces every leaf): not an update."""
    changes = between("dev", "rotation.ca=1")
    leaves = {r.name for r in rendered("dev").by_type(LOCALLY_SIGNED_CERT)}
    replaced = {c.name for c in changes.of("replace") if c.type == LOCALLY_SIGNED_CERT}
    assert leaves and replaced == leaves
    assert not [c for c in changes.of("update") if c.type.startswith("tls:")]


def test_a_changed_stack_output_shows_as_pulumi_preview_lists_it() -> None:
    """Unpublishing Kong changes no resource's identity but the gatewayUrl a client uses: a reviewer must see it."""
    result = between("dev", "kong.publish.enabled=false")
    outputs = {o.name: o for o in result.outputs}
    assert outputs["gatewayUrl"].before == "https://127.0.0.1:40080"
    assert outputs["gatewayUrl"].after == "https://kong.payment-network:8443"
    assert "kong" not in (outputs["urls"].after or {})
    text = format_markdown(result)
    assert "| `gatewayUrl` | change | `https://127.0.0.1:40080` | `https://kong.payment-network:8443` |" in text
    assert "output" in result.summary()
    assert json.loads(json.dumps(result.to_json()))["outputs"][0]["name"] == "endpoints"


def test_a_new_caller_replaces_exactly_the_services_it_calls() -> None:
    """Their allow lists name it now: the env contract and the stand-in's nginx.conf change, nothing else of theirs."""
    plain = between("dev", *LOYALTY)
    calling = between("dev", *LOYALTY, "services.loyalty-service.calls=[order-service]")

    def changed_names(result: Diff) -> set[str]:
        return {c.name for c in result.changes if c.action in ("update", "replace")}

    extra = changed_names(calling) - changed_names(plain)
    assert extra == {"payment-services-payment-order-service", "payment-services-payment-order-service-loader"}
    changed = {c.name: c for c in calling.changes}
    assert "envs" in changed["payment-services-payment-order-service"].keys
    assert changed["payment-services-payment-order-service-loader"].keys == ("uploads",)
