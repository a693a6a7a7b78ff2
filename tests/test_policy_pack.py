"""The policy pack: its adapter over the engine's view of the stack (same verdicts as `plan check`), and the pack
itself, started as the CLI starts it and driven over gRPC as the engine drives it.

Issue 15: the pack defaulted to the prod profile when no policy config was passed, so a real dev preview stopped
on 62 mandatory violations, and the test that should have caught it handed the adapter the profile itself. Here
the profile is never handed over: the pack process is told only what the engine tells it (the stack and its config
in `ConfigureStack`, the pack config `make preview` writes, or nothing at all), and must decide as the program does.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, Secret
from pulumi_policy import policy as sdk
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from plan import PROJECT_DIR, Render
from policy.adapter import DOCUMENTED, HARDENING, Seen, document, from_environment, pack_config, select, validate
from tests.conftest import rendered
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, SECRET, SELF_SIGNED_CERT, UNKNOWN

PROJECT = "payment-platform"


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
        profile = select(Seen(stack, PROJECT, {}), pack_config(stack)[HARDENING]).profile
        assert profile == stack
        result = validate(as_policy_resources(rendered(stack)), profile, reported)
        assert reported == [] and result.violations == []


@pytest.mark.parametrize(
    ("seen", "config", "profile"),
    [
        (Seen("dev", PROJECT, {}), None, "dev"),  # issue 15: no pack config, no prod default
        (Seen("dev", PROJECT, {}), {"stack": "dev"}, "dev"),
        (Seen("prod", PROJECT, {}), None, "prod"),
        (Seen("prod", PROJECT, {f"{PROJECT}:profile": "dev"}), None, "prod"),  # cannot opt out
        (Seen("prod-eu", PROJECT, {}), None, "prod"),
        (Seen("staging", PROJECT, {f"{PROJECT}:profile": "dev", f"{PROJECT}:environment": "prod"}), None, "prod"),
        (Seen("staging", PROJECT, {f"{PROJECT}:profile": "dev"}), None, "dev"),
        (Seen("staging", PROJECT, {f"{PROJECT}:profile": "prod"}), None, "prod"),
        (Seen("staging", PROJECT, {}), None, "prod"),  # the program refuses it; the strict rules meanwhile
        (Seen(None, None, {}), {"stack": "dev"}, "dev"),  # an engine that says nothing: the pack config's stack
    ],
)
def test_the_pack_picks_the_rules_as_the_program_picks_the_profile(
    seen: Seen, config: dict[str, str] | None, profile: str
) -> None:
    assert select(seen, config).profile == profile


@pytest.mark.parametrize(
    ("seen", "config", "problem"),
    [
        (Seen("prod", PROJECT, {}), {"stack": "dev"}, 'policy config stack = "dev", but the engine runs stack "prod"'),
        (Seen("prod", PROJECT, {}), {"profile": "dev"}, "policy config key 'profile' = \"dev\" is not one"),
        (Seen("dev", PROJECT, {}), {"stack": "dev; rm -rf /"}, "expected a stack name"),
        (Seen(None, None, {}), None, "cannot tell which stack it checks"),
        (
            Seen("dev", PROJECT, {}, lowered={HARDENING: 2}),
            None,
            "set container-hardening to enforcement level disabled",
        ),
    ],
)
def test_a_pack_config_that_tries_to_steer_the_rules_is_a_violation(
    seen: Seen, config: dict[str, str] | None, problem: str
) -> None:
    problems = select(seen, config).problems
    assert len(problems) == 1 and problem in problems[0], problems


def test_an_older_cli_tells_the_stack_through_the_environment() -> None:
    seen = from_environment(
        {"PULUMI_STACK": "prod", "PULUMI_PROJECT": PROJECT, "PULUMI_CONFIG": json.dumps({f"{PROJECT}:profile": "dev"})}
    )
    assert (seen.stack, seen.project, select(seen, None).profile) == ("prod", PROJECT, "prod")
    assert from_environment({}).stack is None


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
    for profile, expected in (("prod", 1), ("dev", 0)):  # the profile the rules apply, as `select` gives it
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


# --- the pack itself, as the engine runs it ------------------------------------------------------------------


class Pack:
    """`python -u policy/__main__.py` as the language host starts it, and its gRPC analyzer service."""

    def __init__(self, process: subprocess.Popen[str], channel: grpc.Channel) -> None:
        self.process, self.channel = process, channel
        self.stub = analyzer_pb2_grpc.AnalyzerStub(channel)

    def configure_stack(self, stack: str, config: Mapping[str, str] | None = None) -> None:
        """What the engine sends first: the stack, its project and its (decrypted) config."""
        self.stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack, project=PROJECT, config=dict(config or {}))
        )

    def configure(self, policies: Mapping[str, tuple[int, Mapping[str, Any]]]) -> None:
        """What the engine sends for `--policy-pack-config` (policy -> (enforcement level, properties))."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in policies.items():
            request.policyConfig[name].enforcementLevel = level
            request.policyConfig[name].properties.update(dict(properties))
        self.stub.Configure(request)

    def analyze_stack(self, render: Render, edit: Any = None) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        """The stack's resources as the engine sends them to a stack policy (secrets in the clear, unmarked)."""
        request = analyzer_pb2.AnalyzeStackRequest()
        for record in render.resources:
            if not record.custom:
                continue
            inputs = copy.deepcopy(dict(record.revealed_inputs))
            if edit is not None:
                edit(record, inputs)
            properties = struct_pb2.Struct()
            json_format.ParseDict(json.loads(json.dumps(inputs, default=str)), properties)
            request.resources.append(
                analyzer_pb2.AnalyzerResource(
                    type=record.type,
                    properties=properties,
                    urn=record.urn,
                    name=record.name,
                    options=analyzer_pb2.AnalyzerResourceOptions(protect=record.protect),
                )
            )
        return list(self.stub.AnalyzeStack(request, timeout=120).diagnostics)


@pytest.fixture
def pack() -> Iterator[Pack]:
    process = subprocess.Popen(
        [sys.executable, "-u", str(PROJECT_DIR / "policy" / "__main__.py"), "127.0.0.1:0"],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the pack printed no port: {port!r} {process.stderr.read() if process.stderr else ''}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield Pack(process, channel)
    finally:  # our own child, ended by its handle
        process.kill()
        process.wait(timeout=30)


def said(diagnostic: analyzer_pb2.AnalyzeDiagnostic) -> str:
    """The violation's own line (pulumi_policy puts the policy's description on the line before it)."""
    return str(diagnostic.message).split("\n", 1)[-1]


def mandatory(diagnostics: list[analyzer_pb2.AnalyzeDiagnostic]) -> list[str]:
    return [said(d) for d in diagnostics if d.enforcementLevel == analyzer_pb2.MANDATORY]


def test_the_hook_the_pack_relies_on_is_there() -> None:
    """pulumi_policy's servicer receives the engine's ConfigureStack; `policy.adapter.listen` wraps it. An upgrade
    that renames it must fail here, not quietly fall back to the pack config."""
    assert callable(sdk._PolicyAnalyzerServicer.ConfigureStack)
    assert callable(sdk._PolicyAnalyzerServicer.Configure)
    assert set(analyzer_pb2.AnalyzerStackConfigureRequest.DESCRIPTOR.fields_by_name) >= {"stack", "project", "config"}


def test_a_dev_preview_passes_the_real_pack_without_any_pack_config(pack: Pack) -> None:
    """Issue 15: `make preview STACK=dev` passed no policy config, and the pack stopped on 62 mandatory violations."""
    pack.configure_stack("dev")
    diagnostics = pack.analyze_stack(rendered("dev"))
    assert mandatory(diagnostics) == []
    assert any(d.policyName == DOCUMENTED and said(d).startswith("exception ") for d in diagnostics)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_both_stacks_pass_the_real_pack_with_the_config_make_writes(pack: Pack, stack: str) -> None:
    pack.configure_stack(stack)
    pack.configure({name: (level, pack_config(stack)[name]) for name, level in LEVELS.items()})
    assert mandatory(pack.analyze_stack(rendered(stack))) == []


LEVELS = {HARDENING: analyzer_pb2.MANDATORY, DOCUMENTED: analyzer_pb2.ADVISORY}


def test_a_prod_stack_gets_the_prod_rules_whatever_it_or_the_pack_config_says(pack: Pack) -> None:
    """The dev render's containers hold their secrets in variables: allowed in dev, a violation under prod rules. A
    stack named prod gets the prod rules even when its config says profile dev and the pack config names dev."""
    pack.configure_stack("prod", {f"{PROJECT}:profile": "dev"})
    pack.configure({name: (level, {"stack": "dev"}) for name, level in LEVELS.items()})
    messages = mandatory(pack.analyze_stack(rendered("dev")))
    assert any('policy config stack = "dev", but the engine runs stack "prod"' in m for m in messages)
    assert sum("PAY-SECRET-ENV" in m for m in messages) >= 19, "every service's JWT_SECRET and DB_PASSWORD at least"


def test_the_hardening_policy_cannot_be_switched_off_by_config(pack: Pack) -> None:
    pack.configure_stack("dev")
    pack.configure({HARDENING: (analyzer_pb2.DISABLED, {}), DOCUMENTED: (analyzer_pb2.ADVISORY, {})})

    def privileged_redis(record: Any, inputs: dict[str, Any]) -> None:
        if record.type == CONTAINER and inputs.get("name") == "payment-redis":
            inputs["privileged"] = True

    messages = mandatory(pack.analyze_stack(rendered("dev"), privileged_redis))
    assert any("set container-hardening to enforcement level disabled: it stays mandatory" in m for m in messages)
    assert any(m.startswith("violation CIS-5.5 payment-redis-container") for m in messages), messages


def test_an_insecure_dev_container_stops_the_real_pack(pack: Pack) -> None:
    pack.configure_stack("dev")

    def public_postgres(record: Any, inputs: dict[str, Any]) -> None:
        if record.type == CONTAINER and inputs.get("name") == "payment-postgres":
            inputs["ports"] = [{**port, "ip": "0.0.0.0"} for port in inputs["ports"]]

    assert mandatory(pack.analyze_stack(rendered("dev"), public_postgres)) == [
        "violation CIS-5.14 payment-postgres-container: port 40432 is published on every host address (0.0.0.0); "
        "only the gateway's 40080 may be"
    ]


@pytest.mark.parametrize(("target", "stack"), [("preview", "dev"), ("up", "prod")])
def test_make_preview_and_up_pass_the_pack_its_config(target: str, stack: str) -> None:
    """Issue 15: `make preview` passed no policy config. Both targets write it for their stack and pass it."""
    out = subprocess.run(
        ["make", "-n", target, f"STACK={stack}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    config = f".pulumi-state/policy-{stack}.json"
    assert any(f"-m policy.config --stack '{stack}' --output {config}" in line for line in lines), lines
    (run,) = [line for line in lines if f"pulumi {target} --stack {stack}" in line]
    assert run.endswith(f"--policy-pack policy --policy-pack-config {config}"), run


def _write_pack_config(stack: str, output: Path) -> subprocess.CompletedProcess[str]:
    """`python -m policy.config`, as `make preview`/`make up` run it."""
    return subprocess.run(
        [sys.executable, "-m", "policy.config", "--stack", stack, "--output", str(output)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_written_pack_config_names_the_stack_for_each_policy(tmp_path: Path) -> None:
    out = _write_pack_config("prod", tmp_path / "p.json")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "p.json").read_text()) == {
        HARDENING: {"stack": "prod"},
        DOCUMENTED: {"stack": "prod"},
    }
    bad = _write_pack_config("prod\n", tmp_path / "q.json")
    assert bad.returncode == 2 and "expected a stack name" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "q.json").exists()
