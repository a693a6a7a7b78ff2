"""The policy pack's adapter over the engine's view of the stack: same verdicts as `plan check`."""

from __future__ import annotations

import copy
from typing import Any

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, Secret
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from plan import Render
from policy.adapter import document, validate
from tests.conftest import rendered
from vocabulary import LOCALLY_SIGNED_CERT, SECRET, SELF_SIGNED_CERT, UNKNOWN


def as_policy_resources(render: Render, *, reveal: bool = False) -> list[PolicyResource]:
    """What the engine gives a stack policy: type, inputs (secrets wrapped), URN, name, options."""
    resources = []
    for record in render.resources:
        if not record.custom:
            continue
        props: dict[str, Any] = copy.deepcopy(dict(record.revealed_inputs if reveal else record.inputs))
        if not reveal:
            props = {k: Secret(v) if v == SECRET else v for k, v in props.items()}
        opts = PolicyResourceOptions(
            protect=record.protect,
            ignore_changes=[],
            delete_before_replace=record.delete_before_replace,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
            parent=record.parent,
        )
        resources.append(PolicyResource(record.type, props, record.urn, record.name, opts, None, None, [], {}))
    return resources


class Collect(list[tuple[str, str | None]]):
    """A `report_violation` callback that keeps what it is given."""

    def __call__(self, message: str, urn: str | None) -> None:
        self.append((message, urn))


def test_both_stacks_pass_the_pack() -> None:
    for stack in ("dev", "prod"):
        reported = Collect()
        result = validate(as_policy_resources(rendered(stack)), stack, reported)
        assert reported == [] and result.violations == []


def test_documented_exceptions_are_shown_with_their_resource() -> None:
    reported: list[tuple[str, str | None]] = []
    validate(as_policy_resources(rendered("prod")), "prod", lambda m, u: reported.append((m, u)), exceptions=True)
    kafka = [(m, u) for m, u in reported if "payment-kafka-container" in m]
    assert kafka and kafka[0][1] is not None and kafka[0][1].endswith("::payment-kafka-container")
    assert all(m.startswith("exception ") and "(documented: " in m for m, _ in reported)


def test_a_broken_container_is_a_violation_with_its_urn() -> None:
    resources = as_policy_resources(rendered("prod"))
    redis = next(r for r in resources if r.name == "payment-redis-container")
    redis.props = {**redis.props, "privileged": True}
    reported: list[tuple[str, str | None]] = []
    validate(resources, "prod", lambda m, u: reported.append((m, u)))
    assert len(reported) == 1
    assert reported[0][0].startswith("violation CIS-5.5 payment-redis-container")
    assert reported[0][1] == redis.urn


def test_data_volumes_are_recognised_without_retain_on_delete() -> None:
    records = document(as_policy_resources(rendered("prod")), "prod")["resources"]
    data = {r["name"] for r in records if r["retainOnDelete"]}
    assert data == {"postgres-data", "redis-data", "kafka-data", "prometheus-data", "grafana-data"}


def test_an_unprotected_data_volume_fails_in_prod_only() -> None:
    for profile, expected in (("prod", 1), ("dev", 0)):
        resources = as_policy_resources(rendered("prod"))
        volume = next(r for r in resources if r.name == "postgres-data")
        volume.opts.protect = False
        reported = Collect()
        validate(resources, profile, reported)
        assert len(reported) == expected


def test_the_pack_runs_on_a_first_preview_where_computed_values_are_unknown() -> None:
    """The engine hands a preview's computed values (certificate dates, image ids) to the pack as unknowns, behind
    proxies that raise on reading one; the pack must still check every container, not skip the policy."""
    resources = as_policy_resources(rendered("prod"))
    redis = next(r for r in resources if r.name == "payment-redis-container")
    redis.props = {**redis.props, "privileged": True}
    unknowns = 0
    for resource in resources:
        if resource.resource_type in (
            SELF_SIGNED_CERT,
            LOCALLY_SIGNED_CERT,
        ):
            resource.props = {**resource.props, "validityStartTime": UNKNOWN_STRING_VALUE}
            unknowns += 1
        if resource.name == "payment-redis-container":
            resource.props = {**resource.props, "image": UNKNOWN_STRING_VALUE}
        if resource.name == "payment-kong-container":
            resource.props = {**resource.props, "healthcheck": UNKNOWN_OBJECT_VALUE}
        resource.props = unknown_checking_proxy(dict(resource.props))
    assert unknowns > 0
    reported = Collect()
    result = validate(resources, "prod", reported)
    assert [m.split(" ")[1] for m, _ in reported] == ["CIS-5.5"]
    # An unknown healthcheck cannot be judged before `pulumi up`: listed as unchecked, not a crash or a pass,
    # and shown by the advisory policy.
    assert result.unchecked == ["CIS-5.27 payment-kong-container"]
    advisory = Collect()
    validate(resources, "prod", advisory, exceptions=True)
    kong = next(r.urn for r in resources if r.name == "payment-kong-container")
    line = "unchecked CIS-5.27 payment-kong-container: an input it reads is not known before `pulumi up`"
    assert (line, kong) in advisory
    records = document(resources, "prod")["resources"]
    assert next(r for r in records if r["name"] == "payment-redis-container")["inputs"]["image"] == UNKNOWN


def test_secrets_in_variables_are_stopped_as_the_real_cli_presents_them() -> None:
    """A stack policy under the real CLI gets secret values in the clear and unmarked (pulumi_policy deserializes
    without its Secret wrapper for stack validation); the pack must still stop variables holding secrets in prod."""
    resources = as_policy_resources(rendered("dev"), reveal=True)
    reported = Collect()
    validate(resources, "prod", reported)
    secret_env = [m for m, _ in reported if "PAY-SECRET-ENV" in m]
    assert len(secret_env) >= 19, "every service's JWT_SECRET and DB_PASSWORD at least"
    assert all("SIMULATED-SECRET" not in m for m, _ in reported), "a message showed a secret value"
