"""Issue 15's bypass corpus: every attempt to slip an insecure container, volume or image past the policy fails it.

Each case edits ONE resource of the real prod render (or adds one) the way a hostile or careless change would, and
the whole document then goes through `policy_rules.check`, what `python -m plan check` and the policy pack run: it
must fail, on that resource, with exactly the expected rules. The configuration-level attempts (a production stack
asking for the dev profile) go through `python -m plan check` itself. The real renders stay at 0 violations
(test_policy_rules, test_hardening).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from policy_rules import check
from tests.conftest import rendered, run_cli
from vocabulary import CONTAINER, REMOTE_IMAGE, VOLUME

Edit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Bypass:
    target: str
    """Docker name (or image name) of the resource the attempt edits."""
    edit: Edit
    rules: frozenset[str]
    """The rules that must report it, as violations, on that resource."""
    type_: str = CONTAINER


def _set(key: str, value: Any) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs[key] = value

    return edit


def _drop(key: str) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs.pop(key, None)

    return edit


def _opts(*opts: str, keep: bool = True) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["securityOpts"] = [*(inputs["securityOpts"] if keep else []), *opts]

    return edit


def _port(**changes: Any) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is None:
                inputs["ports"][0].pop(key, None)
            else:
                inputs["ports"][0][key] = value

    return edit


def _add_port(ip: str, external: int, internal: int) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["ports"] = [*inputs["ports"], {"ip": ip, "external": external, "internal": internal, "protocol": "tcp"}]

    return edit


def _health(*tests: str) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["healthcheck"] = {**inputs["healthcheck"], "tests": list(tests)}

    return edit


def _caps(adds: list[str] | None = None, drops: list[str] | None = None) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        caps = dict(inputs.get("capabilities") or {})
        if adds is not None:
            caps["adds"] = [*caps.get("adds", []), *adds]
        if drops is not None:
            caps["drops"] = drops
        inputs["capabilities"] = caps

    return edit


def _mount(mount: dict[str, Any]) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["mounts"] = [*inputs.get("mounts", []), mount]

    return edit


def _bind(source: str, *, read_only: bool = True, **extra: Any) -> Edit:
    return _mount({"type": "bind", "source": source, "target": "/host" + source, "readOnly": read_only, **extra})


def _log_opts(**opts: str) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        inputs["logOpts"] = {**inputs["logOpts"], **opts}

    return edit


def _all(*edits: Edit) -> Edit:
    def edit(inputs: dict[str, Any]) -> None:
        for each in edits:
            each(inputs)

    return edit


GRAFANA, KONG, LOADER_OF_KONG = "payment-grafana", "payment-kong", "payment-kong-files"
"""Grafana: published on 127.0.0.1 with no documented exception; Kong: the one public port; Kong's loader."""


def case(target: str, edit: Edit, *rules: str, type_: str = CONTAINER) -> Bypass:
    return Bypass(target, edit, frozenset(rules), type_)


CORPUS: dict[str, Bypass] = {
    # uid 0 in any spelling (issue 15: `00:00` passed)
    **{
        f"user {user!r}": case(GRAFANA, _set("user", user), "CIS-4.1")
        for user in ("0", "00", "00:00", "0:0", "root", "root:root", "ROOT", " 0", "0 ", "000:472", "", "root:0")
    },
    "user unset": case(GRAFANA, _drop("user"), "CIS-4.1"),
    # seccomp / AppArmor / SELinux switched off in any spelling (issue 15: `seccomp=unconfined` passed)
    **{
        f"security opt {opt!r}": case(GRAFANA, _opts(opt), rule)
        for opt, rule in (
            ("seccomp=unconfined", "CIS-5.22"),
            ("seccomp:unconfined", "CIS-5.22"),
            ("SECCOMP=Unconfined", "CIS-5.22"),
            (" seccomp = unconfined ", "CIS-5.22"),
            ("apparmor=unconfined", "CIS-5.2"),
            ("apparmor:unconfined", "CIS-5.2"),
            ("AppArmor=UNCONFINED", "CIS-5.2"),
            ("label=disable", "CIS-5.3"),
            ("label:disable", "CIS-5.3"),
            ("label=type:spc_t", "PAY-SECURITY-OPTS"),
            ("systempaths=unconfined", "PAY-SECURITY-OPTS"),
            ("seccomp=/etc/docker/allow-everything.json", "PAY-SECURITY-OPTS"),
            ("no-new-privileges:false", "CIS-5.26"),
        )
    },
    "no-new-privileges false alone": case(GRAFANA, _opts("no-new-privileges=false", keep=False), "CIS-5.26"),
    "no security opts": case(GRAFANA, _drop("securityOpts"), "CIS-5.26"),
    # host devices (issue 15: a host device passed)
    "host device": case(
        GRAFANA,
        _set("devices", [{"hostPath": "/dev/sda", "containerPath": "/dev/sda", "permissions": "r"}]),
        "CIS-5.18",
    ),
    "host device, FUSE": case(GRAFANA, _set("devices", [{"hostPath": "/dev/fuse"}]), "CIS-5.18"),
    "gpus": case(GRAFANA, _set("gpus", "all"), "CIS-5.18"),
    # host namespaces, any case (issue 15: the host UTS namespace passed)
    "host uts": case(GRAFANA, _set("utsMode", "host"), "CIS-5.21"),
    "host network": case(GRAFANA, _set("networkMode", "host"), "CIS-5.10"),
    "host network, upper case": case(GRAFANA, _set("networkMode", "HOST"), "CIS-5.10"),
    "host pid": case(GRAFANA, _set("pidMode", " host"), "CIS-5.16"),
    "host ipc": case(GRAFANA, _set("ipcMode", "Host"), "CIS-5.17"),
    "host userns": case(GRAFANA, _set("usernsMode", "host"), "CIS-5.31"),
    "host cgroupns": case(GRAFANA, _set("cgroupnsMode", "host"), "PAY-NAMESPACES"),
    "another container's network": case(GRAFANA, _set("networkMode", "container:payment-postgres"), "PAY-NAMESPACES"),
    "another container's pids": case(GRAFANA, _set("pidMode", "container:payment-kafka"), "PAY-NAMESPACES"),
    # published on every address, in any spelling (issue 15: 0.0.0.0 passed)
    **{
        f"published on {ip!r}": case(GRAFANA, _port(ip=ip), "CIS-5.14")
        for ip in ("0.0.0.0", "::", "[::]", "", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0", "0.0.0.00", "0", "localhost")
    },
    "published without ip": case(GRAFANA, _port(ip=None), "CIS-5.14"),
    "kong: a second port on every address": case(KONG, _add_port("0.0.0.0", 40081, 8100), "CIS-5.14"),
    "kong: the public port number onto the Admin API": case(KONG, _port(internal=8001), "CIS-5.14"),
    "privileged host port": case(GRAFANA, _port(external=80), "CIS-5.8"),
    # trivial healthchecks (issue 15: ["CMD", "true"] passed)
    **{
        f"healthcheck {tests!r}": case(GRAFANA, _health(*tests), "CIS-5.27")
        for tests in (
            ("CMD", "true"),
            ("CMD", "/bin/true"),
            ("CMD", "busybox", "true"),
            ("CMD", "echo", "ok"),
            ("CMD", "sh", "-c", "exit 0"),
            ("CMD", "/bin/sh", "-c", "curl -f http://127.0.0.1:3000/ || true"),
            ("CMD-SHELL", "true"),
            ("CMD-SHELL", "exit 0"),
            ("CMD-SHELL", "exit"),
            ("CMD-SHELL", ":"),
            ("CMD-SHELL", "  "),
            ("CMD-SHELL", "curl -f http://127.0.0.1:3000/ || true"),
            ("CMD-SHELL", "curl -f http://127.0.0.1:3000/ || exit 0"),
            ("CMD-SHELL", "curl -f http://127.0.0.1:3000/; exit 0"),
            ("CMD-SHELL", "curl -f http://127.0.0.1:3000/; exit 0; false"),
            ("CMD-SHELL", "curl -f http://127.0.0.1:3000/ | true"),
            ("CMD-SHELL", "sh -c 'true'"),
            ("CMD",),
            ("NONE",),
            ("cmd", "true"),
            ("HTTP", "http://127.0.0.1:3000/"),
        )
    },
    "no healthcheck": case(GRAFANA, _drop("healthcheck"), "CIS-5.27"),
    # privileges and capabilities
    "privileged": case(GRAFANA, _set("privileged", True), "CIS-5.5"),
    "privileged as text": case(GRAFANA, _set("privileged", "true"), "CIS-5.5"),
    "adds SYS_ADMIN": case(GRAFANA, _caps(adds=["SYS_ADMIN"]), "CIS-5.4"),
    "adds sys_admin": case(GRAFANA, _caps(adds=["sys_admin"]), "CIS-5.4"),
    "adds CAP_NET_RAW": case(GRAFANA, _caps(adds=["CAP_NET_RAW"]), "CIS-5.4"),
    "adds ALL": case(GRAFANA, _caps(adds=["ALL"]), "CIS-5.4"),
    "drops nothing": case(GRAFANA, _caps(drops=[]), "CIS-5.4"),
    "drops NET_RAW only": case(GRAFANA, _caps(drops=["NET_RAW"]), "CIS-5.4"),
    # limits, restart, logs: values, not presence
    "memory 0": case(GRAFANA, _set("memory", 0), "CIS-5.11"),
    "memory negative": case(GRAFANA, _set("memory", -1), "CIS-5.11"),
    "cpus 0": case(GRAFANA, _set("cpus", "0"), "CIS-5.12"),
    "cpus nan": case(GRAFANA, _set("cpus", "nan"), "CIS-5.12"),
    "cpus inf": case(GRAFANA, _set("cpus", "inf"), "CIS-5.12"),
    "restart always": case(GRAFANA, _set("restart", "always"), "CIS-5.15"),
    "restart ALWAYS": case(GRAFANA, _set("restart", "ALWAYS"), "CIS-5.15"),
    "unbounded on-failure": case(GRAFANA, _all(_set("restart", "on-failure"), _set("maxRetryCount", 0)), "CIS-5.15"),
    "log max-size empty": case(GRAFANA, _log_opts(**{"max-size": ""}), "PAY-LOG-ROTATION"),
    "log max-size 0": case(GRAFANA, _log_opts(**{"max-size": "0"}), "PAY-LOG-ROTATION"),
    "log max-file 0": case(GRAFANA, _log_opts(**{"max-file": "0"}), "PAY-LOG-ROTATION"),
    "log max-size with a final newline": case(GRAFANA, _log_opts(**{"max-size": "10m\n"}), "PAY-LOG-ROTATION"),
    "log max-file a superscript digit": case(GRAFANA, _log_opts(**{"max-file": "\u00b2"}), "PAY-LOG-ROTATION"),
    "writable root": case(GRAFANA, _set("readOnly", False), "CIS-5.13"),
    # host paths in disguise
    "bind /etc": case(GRAFANA, _bind("/etc"), "CIS-5.6"),
    "bind with shared propagation": case(
        GRAFANA, _bind("/srv/data", bindOptions={"propagation": "rshared"}), "CIS-5.6", "CIS-5.20"
    ),
    "volume mount binding /etc": case(
        GRAFANA,
        _mount(
            {
                "type": "volume",
                "target": "/host-etc",
                "source": "innocent",
                "volumeOptions": {
                    "driverName": "local",
                    "driverOptions": {"type": "none", "o": "bind", "device": "/etc"},
                },
            }
        ),
        "CIS-5.6",
    ),
    "socket through a host-path volume": case(
        GRAFANA,
        _set("volumes", [{"hostPath": "/run/docker.sock", "containerPath": "/var/run/docker.sock"}]),
        "CIS-5.32",
    ),
    # exceptions match identity and the exact value (issue 15: a loader adding SYS_ADMIN counted as documented)
    "a loader adding SYS_ADMIN": case(LOADER_OF_KONG, _caps(adds=["CAP_SYS_ADMIN"]), "CIS-5.4"),
    "a loader adding sys_admin": case(LOADER_OF_KONG, _caps(adds=["sys_admin"]), "CIS-5.4"),
    "a loader restarting always": case(LOADER_OF_KONG, _set("restart", "always"), "CIS-5.15"),
    "a loader with a trivial healthcheck": case(
        LOADER_OF_KONG, _set("healthcheck", {"tests": ["CMD", "true"]}), "CIS-5.27"
    ),
    # On a network, it is no longer the loader the program builds: all its departures are violations.
    "a loader on a network": case(
        LOADER_OF_KONG,
        _set("networkMode", "bridge"),
        "CIS-4.1",
        "CIS-5.4",
        "CIS-5.13",
        "CIS-5.27",
        "CIS-5.15",
    ),
    # Loaders are bounded like every container (components.docker.containers.LOADER_LIMITS): no exception waives it.
    "a loader without a memory limit": case(LOADER_OF_KONG, _set("memory", 0), "CIS-5.11"),
    "a loader without a CPU limit": case(LOADER_OF_KONG, _set("cpus", "0"), "CIS-5.12"),
    "cadvisor binding /etc": case("payment-cadvisor", _bind("/etc"), "CIS-5.6"),
    "cadvisor binding /proc writable": case("payment-cadvisor", _bind("/proc", read_only=False), "CIS-5.6"),
    "cadvisor binding a layer folder outside a data root": case(
        "payment-cadvisor", _bind("/var/lib/docker/../../etc/image/overlay2/layerdb/mounts"), "CIS-5.6"
    ),
    "kafka adding a capability": case("payment-kafka", _caps(adds=["NET_ADMIN"]), "CIS-5.4"),
    # other resources
    "volume binding a host folder": case(
        "payment-grafana-data",
        _set("driverOpts", {"type": "none", "o": "bind", "device": "/etc"}),
        "PAY-VOLUME-BIND",
        type_=VOLUME,
    ),
    "image :LATEST": case("kong:3.9.1", _set("name", "kong:LATEST"), "PAY-IMAGE-PINNED", type_=REMOTE_IMAGE),
    "image with a short digest": case(
        "kong:3.9.1", _set("name", "kong@sha256:abc"), "PAY-IMAGE-PINNED", type_=REMOTE_IMAGE
    ),
}


def _named(document: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        r for r in document["resources"] if r["type"] == type_ and r["inputs"].get("name") == name
    ]
    assert len(found) == 1, f"{len(found)} {type_} named {name}"
    return found[0]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_bypass_fails_the_check(name: str) -> None:
    attempt = CORPUS[name]
    document = copy.deepcopy(rendered("prod").to_json())
    record = _named(document, attempt.type_, attempt.target)
    attempt.edit(record["inputs"])
    report = check(document)
    assert not report.ok, f"{name}: passed the policy"
    rules = {f.rule for f in report.violations if f.resource == record["name"]}
    assert rules == attempt.rules, [f.line() for f in report.violations]
    assert all(f.resource == record["name"] for f in report.violations), [f.line() for f in report.violations]


def test_a_container_named_like_a_loader_is_not_one() -> None:
    """Issue 15: exceptions were matched by the pattern `payment-.+-files`. A copy of a real loader under a name no
    container of the stack has keeps none of the loader's exceptions."""
    document = copy.deepcopy(rendered("prod").to_json())
    forged = copy.deepcopy(_named(document, CONTAINER, LOADER_OF_KONG))
    forged["name"], forged["urn"] = (
        "backdoor-loader",
        forged["urn"].replace("payment-kong-container-loader", "backdoor"),
    )
    forged["inputs"]["name"] = "payment-backdoor-files"
    document["resources"].append(forged)
    report = check(document)
    assert {f.rule for f in report.violations if f.resource == "backdoor-loader"} == {
        "CIS-4.1", "CIS-5.4", "CIS-5.13", "CIS-5.27", "CIS-5.15",
    }  # fmt: skip
    assert not [f for f in report.exceptions if f.resource == "backdoor-loader"]


def test_the_real_loader_keeps_exactly_its_documented_exceptions() -> None:
    report = check(rendered("prod").to_json())
    loader = sorted(f.message for f in report.exceptions if f.resource == "payment-kong-container-loader")
    assert [m for m in loader if m.startswith("adds capability")] == [
        "adds capability CAP_CHOWN",
        "adds capability CAP_DAC_OVERRIDE",
        "adds capability CAP_FOWNER",
    ]


def test_a_production_render_is_judged_by_the_prod_rules_whatever_profile_it_reports() -> None:
    """Issue 15: the prod rules followed the profile the stack declared for itself."""
    document = copy.deepcopy(rendered("prod").to_json())
    document["outputs"]["profile"] = "dev"
    _named(document, VOLUME, "payment-postgres-data")["protect"] = False
    assert [f.rule for f in check(document).violations] == ["PAY-DATA-PROTECT"]
    document["stack"] = "eu-prod-2"
    assert [f.rule for f in check(document).violations] == ["PAY-DATA-PROTECT"]
    document["stack"] = "staging"  # not production by name: the reported profile applies
    assert check(document).ok


PUBLIC_POSTGRES = ("--set", "postgres.publish.enabled=true", "--set", "postgres.publish.address=0.0.0.0")


@pytest.mark.parametrize(
    ("args", "key"),
    [
        # the finding: prod asking for dev, with data stores published on every address
        (("--stack", "prod", "--set", "profile=dev", *PUBLIC_POSTGRES), 'payment-platform:profile = "dev"'),
        (("--stack", "prod", "--set", "environment=dev"), 'payment-platform:environment = "dev"'),
        (("--stack", "staging", "--set", "environment=prod", "--set", "profile=dev", "--set", "demo=true"), "profile"),
        (("--stack", "Production", "--set", "profile=dev", "--set", "demo=true"), 'payment-platform:profile = "dev"'),
    ],
)
def test_a_production_stack_cannot_check_itself_against_the_dev_rules(args: tuple[str, ...], key: str) -> None:
    result = run_cli("check", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert key in result.stderr and "production stack" in result.stderr and "Traceback" not in result.stderr


def test_dev_may_not_publish_a_data_store_on_every_address_either() -> None:
    """The program lets dev publish anywhere; the policy does not (only the gateway's public port)."""
    result = run_cli("check", "--stack", "dev", "--set", "postgres.publish.address=0.0.0.0")
    assert result.returncode == 1, result.stdout + result.stderr
    violations = [line for line in result.stdout.splitlines() if line.startswith("violation")]
    assert violations == [
        "violation CIS-5.14 payment-postgres-container: port 40432 is published on every host address (0.0.0.0); "
        "only the gateway's 40080 may be"
    ]
