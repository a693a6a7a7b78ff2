"""policy_rules over deliberately broken resources, and through `python -m plan check` (real stacks: test_hardening)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.docker.hardening import EXCEPTIONS
from policy_rules import RULES, Finding, Report, check, restart_policy
from tests.conftest import rendered, run_cli
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET, UNKNOWN, VOLUME


def document(stack: str) -> dict[str, Any]:
    return rendered(stack).to_json()


def resource(stack: str, type_: str, docker_name: str) -> dict[str, Any]:
    """A deep copy of the record of `type_` whose inputs name it `docker_name`."""
    for record in document(stack)["resources"]:
        if record["type"] == type_ and record["inputs"].get("name") == docker_name:
            return copy.deepcopy(record)
    raise AssertionError(f"no {type_} named {docker_name} in {stack}")


def only(record: dict[str, Any], profile: str = "prod") -> Report:
    return check({"outputs": {"profile": profile}, "resources": [record]})


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(inputs: dict[str, Any]) -> None:
        inputs[key] = value

    return edit


def _restart(policy: str, retries: int) -> Callable[[dict[str, Any]], None]:
    def edit(inputs: dict[str, Any]) -> None:
        inputs.update(restart=policy, maxRetryCount=retries)

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(inputs: dict[str, Any]) -> None:
        inputs.pop(key, None)

    return edit


def _edit_first_port(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(inputs: dict[str, Any]) -> None:
        if value is None:
            inputs["ports"][0].pop(key)
        else:
            inputs["ports"][0][key] = value

    return edit


def _mount_socket(inputs: dict[str, Any]) -> None:
    inputs["mounts"].append(
        {"readOnly": True, "source": "/var/run/docker.sock", "target": "/var/run/docker.sock", "type": "bind"}
    )


def _add_secret_env(inputs: dict[str, Any]) -> None:
    inputs["envs"] = [*inputs["envs"], SECRET]


BROKEN_CONTAINERS = {
    "privileged": ("CIS-5.5", _set("privileged", True)),
    "host network": ("CIS-5.10", _set("networkMode", "host")),
    "host pid": ("CIS-5.16", _set("pidMode", "host")),
    "host ipc": ("CIS-5.17", _set("ipcMode", "host")),
    "host userns": ("CIS-5.31", _set("usernsMode", "host")),
    "root user": ("CIS-4.1", _set("user", "0")),
    "writable root": ("CIS-5.13", _set("readOnly", False)),
    "added capability": ("CIS-5.4", _set("capabilities", {"adds": ["SYS_ADMIN"], "drops": ["ALL"]})),
    "no security opts": ("CIS-5.26", _drop("securityOpts")),
    "no memory": ("CIS-5.11", _drop("memory")),
    "no cpus": ("CIS-5.12", _drop("cpus")),
    "no healthcheck": ("CIS-5.27", _drop("healthcheck")),
    "restart always": ("CIS-5.15", _set("restart", "always")),
    "restart no": ("CIS-5.15", _set("restart", "no")),
    "unbounded on-failure": ("CIS-5.15", _restart("on-failure", 0)),
    "on-failure 10 times": ("CIS-5.15", _restart("on-failure", 10)),
    "port without ip": ("CIS-5.14", _edit_first_port("ip", None)),
    "port 80": ("CIS-5.8", _edit_first_port("external", 80)),
    "docker socket": ("CIS-5.32", _mount_socket),
    "no log rotation": ("PAY-LOG-ROTATION", _set("logDriver", "none")),
    "secret env in prod": ("PAY-SECRET-ENV", _add_secret_env),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONTAINERS))
def test_each_container_rule_reports_exactly_its_break(case: str) -> None:
    rule, edit = BROKEN_CONTAINERS[case]
    record = resource("prod", CONTAINER, "payment-grafana")  # published on 127.0.0.1, no documented exception
    assert only(record).ok
    edit(record["inputs"])
    report = only(record)
    assert {f.rule for f in report.violations} == {rule}, [f.line() for f in report.violations]
    assert not report.exceptions


def test_a_documented_exception_does_not_cover_another_container() -> None:
    record = resource("prod", CONTAINER, "payment-postgres")
    record["inputs"]["readOnly"] = False  # documented for payment-kafka only
    assert {f.rule for f in only(record).violations} == {"CIS-5.13"}
    kafka = resource("prod", CONTAINER, "payment-kafka")
    assert only(kafka).ok and {f.rule for f in only(kafka).exceptions} == {"CIS-5.13"}


def test_a_sensitive_host_mount_is_a_violation() -> None:
    record = resource("prod", CONTAINER, "payment-postgres")
    record["inputs"]["mounts"].append({"readOnly": True, "source": "/etc", "target": "/host-etc", "type": "bind"})
    assert {f.rule for f in only(record).violations} == {"CIS-5.6"}


def test_secret_env_is_allowed_outside_prod() -> None:
    record = resource("prod", CONTAINER, "payment-kong")
    _add_secret_env(record["inputs"])
    assert only(record, profile="dev").ok


def test_an_unprotected_data_volume_in_prod() -> None:
    volume = resource("prod", VOLUME, "payment-postgres-data")
    assert volume["retainOnDelete"] and only(volume).ok
    volume["protect"] = False
    assert {f.rule for f in only(volume).violations} == {"PAY-DATA-PROTECT"}
    assert only(volume, profile="dev").ok


@pytest.mark.parametrize("name", ["nginx:latest", "nginx", "registry.local:5000/nginx"])
def test_an_unpinned_image(name: str) -> None:
    image = resource("prod", REMOTE_IMAGE, "kong:3.9.1")
    assert only(image).ok
    image["inputs"]["name"] = name
    assert {f.rule for f in only(image).violations} == {"PAY-IMAGE-PINNED"}


def test_an_image_pinned_by_digest() -> None:
    image = resource("prod", REMOTE_IMAGE, "kong:3.9.1")
    image["inputs"]["name"] = "nginx@sha256:" + "0" * 64
    assert only(image).ok


def test_every_rule_has_an_id_a_description_and_a_known_exception_item() -> None:
    assert len({rule.id for rule in RULES}) == len(RULES)
    items = {item for _, item in EXCEPTIONS}
    for rule in RULES:
        assert rule.id.startswith(("CIS-", "PAY-")) and rule.description and "\n" not in rule.description
        assert rule.item is None or rule.item in items


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cli_check_passes_the_real_renders_and_lists_exceptions(stack: str) -> None:
    result = run_cli("check", "--stack", stack)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("exception CIS-5.13 payment-kafka-container:") for line in lines)
    assert not any(line.startswith("violation") for line in lines)
    assert lines[-1].startswith("0 violation(s), ")


def test_a_broken_document_fails_the_check() -> None:
    broken = copy.deepcopy(document("prod"))
    for record in broken["resources"]:
        if record["type"] == CONTAINER and record["inputs"]["name"] == "payment-redis":
            record["inputs"]["privileged"] = True
    report = check(broken)
    assert not report.ok
    assert [f.line() for f in report.violations] == ["violation CIS-5.5 payment-redis-container: runs privileged"]


def test_cli_check_exits_1_on_a_violation(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import plan.__main__ as cli  # noqa: PLC0415

    def broken_check(doc: dict[str, Any]) -> Report:
        return Report(violations=[Finding("CIS-5.5", "payment-redis-container", "runs privileged")])

    monkeypatch.setattr(cli, "check", broken_check)
    monkeypatch.setattr(
        cli, "render", lambda stack, **_: rendered(stack)
    )  # the exit status is at stake, not the render
    assert cli.main(["check", "--stack", "prod"]) == 1
    assert "violation CIS-5.5 payment-redis-container: runs privileged" in capsys.readouterr().out


def test_both_restart_policies_the_platform_offers_pass() -> None:
    """`unless-stopped` (the profiles': back after a reboot) and CIS 5.15's bounded `on-failure`."""
    assert restart_policy({"inputs": {"restart": "unless-stopped"}}, "prod") == []
    assert restart_policy({"inputs": {"restart": "on-failure", "maxRetryCount": 5}}, "prod") == []
    assert restart_policy({"inputs": {"restart": "unless-stopped", "maxRetryCount": 3}}, "prod") != []


def test_a_secret_variable_in_the_clear_is_found_by_its_name_and_never_shown() -> None:
    """Under the real CLI a stack policy sees secret values in the clear, unmarked: the name must tell."""
    record = resource("prod", CONTAINER, "payment-kong")
    record["inputs"]["envs"] = [*record["inputs"]["envs"], "JWT_SECRET=s3cr3t-value", "DB_PASSWORD=0ther"]
    violations = only(record).violations
    assert [f.rule for f in violations] == ["PAY-SECRET-ENV", "PAY-SECRET-ENV"]
    assert all("s3cr3t" not in f.line() and "0ther" not in f.line() for f in violations)
    assert "JWT_SECRET" in violations[0].line() and "JWT_SECRET_FILE" in violations[0].line()


def test_variables_unknown_before_up_are_listed_as_unchecked() -> None:
    record = resource("prod", CONTAINER, "payment-kong")
    record["inputs"]["envs"] = UNKNOWN
    report = only(record)
    assert report.ok and report.unchecked == ["PAY-SECRET-ENV payment-kong-container"]


def _bind(inputs: dict[str, Any], source: str, target: str) -> None:
    inputs["mounts"].append({"readOnly": True, "source": source, "target": target, "type": "bind"})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cadvisor_is_held_to_a_non_root_user_without_the_socket_or_the_host_root(stack: str) -> None:
    """Issue 14: its host-paths exception does not stretch to the socket, the host's / or a root user."""
    cadvisor = resource(stack, CONTAINER, "payment-cadvisor")
    assert only(cadvisor).ok and {f.rule for f in only(cadvisor).exceptions} == {"CIS-5.6"}

    with_socket = copy.deepcopy(cadvisor)
    _bind(with_socket["inputs"], "/var/run/docker.sock", "/var/run/docker.sock")
    assert {f.rule for f in only(with_socket).violations} == {"CIS-5.32"}

    with_run = copy.deepcopy(cadvisor)
    _bind(with_run["inputs"], "/var/run", "/var/run")
    assert {f.rule for f in only(with_run).violations} == {"CIS-5.32", "PAY-HOST-PATHS"}

    with_root = copy.deepcopy(cadvisor)
    _bind(with_root["inputs"], "/", "/rootfs")
    assert {f.rule for f in only(with_root).violations} == {"CIS-5.32", "PAY-HOST-PATHS"}  # / holds the socket

    as_root = copy.deepcopy(cadvisor)
    as_root["inputs"]["user"] = "0:0"
    assert {f.rule for f in only(as_root).violations} == {"CIS-4.1", "PAY-HOST-PATHS"}


def test_the_docker_api_proxy_may_hold_the_socket_file_and_nothing_else() -> None:
    proxy = resource("prod", CONTAINER, "payment-docker-api-proxy")
    assert only(proxy).ok and {f.rule for f in only(proxy).exceptions} == {"CIS-5.32"}

    more = copy.deepcopy(proxy)
    _bind(more["inputs"], "/proc", "/rootfs/proc")
    assert {f.rule for f in only(more).violations} == {"CIS-5.6"}

    folder = copy.deepcopy(proxy)
    folder["inputs"]["mounts"] = [{"readOnly": True, "source": "/var/run", "target": "/var/run", "type": "bind"}]
    # The exception allows the socket file, not its folder (issue 15: the exact value).
    assert {f.rule for f in only(folder).violations} == {"CIS-5.32", "PAY-HOST-PATHS"}

    writable = copy.deepcopy(proxy)
    for mount in writable["inputs"]["mounts"]:
        if mount["type"] == "bind":
            mount["readOnly"] = False
    assert [f.line() for f in only(writable).violations] == [
        "violation CIS-5.32 payment-exporters-docker-api-proxy-container: mounts the Docker socket via host path "
        "/var/run/docker.sock"
    ]

    as_root = copy.deepcopy(proxy)
    as_root["inputs"]["user"] = "0"
    assert {f.rule for f in only(as_root).violations} == {"CIS-4.1", "PAY-HOST-PATHS"}


def test_the_host_root_is_refused_even_where_host_paths_are_documented() -> None:
    record = resource("prod", CONTAINER, "payment-postgres")
    _bind(record["inputs"], "/", "/rootfs")
    assert "PAY-HOST-PATHS" in {f.rule for f in only(record).violations}
