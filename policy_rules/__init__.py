"""Policy rules over an offline render (`python -m plan check`), derived from CIS Docker Benchmark section 5.

Pure functions over render documents as `python -m plan render --format json` writes them. Each rule looks
at ONE resource record (type, name, protect, retainOnDelete, camelCase inputs with secrets as `[secret]`)
and the stack's profile (`outputs["profile"]`, else the stack name), and returns what it finds wrong as
one-line strings.

A rule that corresponds to a baseline item of components/docker/hardening.py names that item; a finding on a
container whose identity (its Docker name, or `LOADER` for the one-shot `payment-<container>-files`
loaders) has a documented exception for that item in `EXCEPTIONS` is reported as an applied exception,
with its reason, instead of a violation. Rules without an item cannot be excepted.

Rule ids are item numbers of CIS Docker Benchmark v1.6.0 (section 5, and 4.1 for the container user).
Numbering moved between benchmark versions (the host network namespace is 5.9 in v1.1.0, 5.10 in
v1.6.0), so older tools may show other numbers for the same item. Rules that are platform policy rather
than a CIS item carry a `PAY-` id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.docker.hardening import DOCKER_SOCKETS, EXCEPTIONS, LOADER, exposes_docker_socket
from stacks.catalog import SECRET_VARIABLES
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET, UNKNOWN, VOLUME, holds

PROD = "prod"
LOADER_NAME = re.compile(r"^payment-.+-files$")
SENSITIVE_HOST_PATHS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/root", "/var/lib/docker")
LOWEST_UNPRIVILEGED_PORT = 1025
MAX_RESTARTS = 5

Record = Mapping[str, Any]
Check = Callable[[Record, str], list[str]]


class UndecidableError(Exception):
    """A rule cannot decide before `pulumi up`: an input it reads is `[unknown]` (listed in `Report.unchecked`)."""


@dataclass(frozen=True)
class Rule:
    """One policy rule: `check(resource, profile)` lists what is wrong with one resource of `types`."""

    id: str
    description: str
    types: tuple[str, ...]
    check: Check
    item: str | None = None
    """The components.docker.hardening baseline item a documented exception may cover; None: never excepted."""


@dataclass(frozen=True)
class Finding:
    rule: str
    resource: str
    """The resource's Pulumi name."""
    message: str
    reason: str | None = None
    """The documented reason (components.docker.hardening.EXCEPTIONS) when the finding is an applied exception."""

    def line(self) -> str:
        if self.reason is None:
            return f"violation {self.rule} {self.resource}: {self.message}"
        return f"exception {self.rule} {self.resource}: {self.message} (documented: {self.reason})"


@dataclass(frozen=True)
class Report:
    violations: list[Finding] = field(default_factory=list)
    exceptions: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """`<rule> <resource>` pairs a first preview cannot decide: the input the rule reads is `[unknown]` until
    `pulumi up` computes it. The pack runs again on the update's final state, where nothing is unknown."""

    @property
    def ok(self) -> bool:
        return not self.violations

    def lines(self) -> list[str]:
        return [f.line() for f in (*self.exceptions, *self.violations)]


def _inputs(resource: Record) -> Mapping[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def identity(resource: Record) -> str:
    """What EXCEPTIONS is keyed by: the container's Docker name, or LOADER for the file loaders."""
    name = str(_inputs(resource).get("name", resource.get("name", "")))
    return LOADER if LOADER_NAME.match(name) else name


def _host_paths(inputs: Mapping[str, Any]) -> list[str]:
    paths = [str(m.get("source", "")) for m in inputs.get("mounts") or [] if m.get("type") == "bind"]
    paths += [str(v["hostPath"]) for v in inputs.get("volumes") or [] if v.get("hostPath")]
    return paths


# --- container rules ----------------------------------------------------------------------------------


def not_privileged(resource: Record, profile: str) -> list[str]:
    return ["runs privileged"] if _inputs(resource).get("privileged") is True else []


def _namespace(key: str, what: str) -> Check:
    def check(resource: Record, profile: str) -> list[str]:
        return [f"shares the host's {what} namespace ({key}=host)"] if _inputs(resource).get(key) == "host" else []

    return check


def non_root_user(resource: Record, profile: str) -> list[str]:
    user = str(_inputs(resource).get("user") or "")
    uid = user.split(":", maxsplit=1)[0]
    return [f"runs as root (user {user!r})"] if uid in ("", "0", "root") else []


def read_only_root(resource: Record, profile: str) -> list[str]:
    return [] if _inputs(resource).get("readOnly") is True else ["root filesystem is writable"]


def capabilities(resource: Record, profile: str) -> list[str]:
    caps = _inputs(resource).get("capabilities") or {}
    found = []
    if "ALL" not in (caps.get("drops") or []):
        found.append("does not drop ALL capabilities")
    if caps.get("adds"):
        found.append(f"adds capabilities {sorted(caps['adds'])}")
    return found


def no_new_privileges(resource: Record, profile: str) -> list[str]:
    opts = _inputs(resource).get("securityOpts") or []
    ok = any(opt in ("no-new-privileges", "no-new-privileges:true") for opt in opts)
    return [] if ok else ["no-new-privileges is not set"]


def memory_limit(resource: Record, profile: str) -> list[str]:
    return [] if (_inputs(resource).get("memory") or 0) > 0 else ["no memory limit"]


def cpu_limit(resource: Record, profile: str) -> list[str]:
    cpus = _inputs(resource).get("cpus")
    try:
        limited = cpus is not None and float(cpus) > 0
    except ValueError:
        limited = False
    return [] if limited else ["no CPU limit"]


def healthcheck(resource: Record, profile: str) -> list[str]:
    tests = (_inputs(resource).get("healthcheck") or {}).get("tests") or []
    return [] if tests and tests[0] != "NONE" else ["no healthcheck"]


def restart_policy(resource: Record, profile: str) -> list[str]:
    """`unless-stopped` (the platform's: back after a reboot, and never against an operator's stop) or CIS 5.15's
    bounded `on-failure`. Never `always` (restarts what an operator stopped once the daemon restarts) or `no`."""
    inputs = _inputs(resource)
    restart, retries = inputs.get("restart"), inputs.get("maxRetryCount") or 0
    if (restart == "unless-stopped" and retries == 0) or (restart == "on-failure" and 1 <= retries <= MAX_RESTARTS):
        return []
    return [
        f"restart policy {restart!r} with {retries} retries (want unless-stopped, or on-failure with 1 to "
        f"{MAX_RESTARTS} retries)"
    ]


def ports_bound_to_address(resource: Record, profile: str) -> list[str]:
    return [
        f"port {port.get('external', '?')} is published on every host address (no ip)"
        for port in _inputs(resource).get("ports") or []
        if not port.get("ip")
    ]


def no_privileged_ports(resource: Record, profile: str) -> list[str]:
    return [
        f"publishes privileged host port {port['external']}"
        for port in _inputs(resource).get("ports") or []
        if port.get("external") is not None and int(port["external"]) < LOWEST_UNPRIVILEGED_PORT
    ]


def no_docker_socket(resource: Record, profile: str) -> list[str]:
    return [
        f"mounts the Docker socket via host path {p}"
        for p in _host_paths(_inputs(resource))
        if exposes_docker_socket(p)
    ]


def no_host_paths(resource: Record, profile: str) -> list[str]:
    found = []
    for path in _host_paths(_inputs(resource)):
        if exposes_docker_socket(path):
            continue  # CIS-5.32 reports it
        sensitive = any(path == s or path.startswith(s.rstrip("/") + "/") for s in SENSITIVE_HOST_PATHS if s != "/")
        found.append(f"mounts {'sensitive ' if sensitive else ''}host path {path}")
    return found


def narrow_host_paths(resource: Record, profile: str) -> list[str]:
    """Never excepted (issue 14): whatever a documented exception allows, a host path is never the host's root or
    a folder holding the Docker socket (the socket file alone, so nothing else there comes along), and a
    container with host paths never runs as root."""
    inputs = _inputs(resource)
    paths = _host_paths(inputs)
    found = [f"mounts the host's root filesystem ({p})" for p in paths if p.strip("/") == ""]
    found += [
        f"mounts {p}, a folder holding the Docker socket (mount the socket file alone)"
        for p in paths
        if p.strip("/") and exposes_docker_socket(p) and "/" + p.strip("/") not in DOCKER_SOCKETS
    ]
    if paths and non_root_user(resource, profile):
        found.append(f"runs as root (user {inputs.get('user')!r}) with host paths mounted")
    return found


def log_rotation(resource: Record, profile: str) -> list[str]:
    inputs = _inputs(resource)
    if inputs.get("logDriver") != "json-file":
        return [f"log driver {inputs.get('logDriver')!r} (want json-file with rotation)"]
    missing = [opt for opt in ("max-size", "max-file") if not (inputs.get("logOpts") or {}).get(opt)]
    return [f"json-file logs without {', '.join(missing)}"] if missing else []


def no_plain_secret_env(resource: Record, profile: str) -> list[str]:
    """A secret shows as `[secret]` in a render, but a stack policy under the real CLI sees every value in the clear
    and unmarked: there the catalog's secret variable names (`SECRET_VARIABLES`) tell. Messages never hold a value."""
    if profile != PROD:
        return []
    envs = _inputs(resource).get("envs")
    if envs == UNKNOWN:
        raise UndecidableError("the variables are not known before `pulumi up`")
    if envs == SECRET:
        return ["its environment is a secret: pass secrets as files (/run/secrets), not env vars"]
    found = []
    for env in envs or []:
        if not isinstance(env, str):
            continue
        name = env.partition("=")[0]
        if env == SECRET or env.endswith("=" + SECRET):
            found.append(f"environment entry {env!r} holds a secret: pass it as a file (/run/secrets)")
        elif name in SECRET_VARIABLES:
            found.append(f"environment variable {name} holds a secret: pass it as a file ({name}_FILE)")
    return found


# --- other resources ------------------------------------------------------------------------------------


def data_volume_protected(resource: Record, profile: str) -> list[str]:
    if profile == PROD and resource.get("retainOnDelete") and not resource.get("protect"):
        return ["data volume (retainOnDelete) is not protected"]
    return []


def image_pinned(resource: Record, profile: str) -> list[str]:
    name = str(_inputs(resource).get("name", ""))
    if "@sha256:" in name:
        return []
    last = name.rsplit("/", maxsplit=1)[-1]
    tag = last.split(":", maxsplit=1)[1] if ":" in last else ""
    return [] if tag and tag != "latest" else [f"image {name!r} is not pinned to a version"]


RULES: tuple[Rule, ...] = (
    Rule("CIS-5.5", "containers do not run privileged", (CONTAINER,), not_privileged),
    Rule("CIS-5.10", "the host network namespace is not shared", (CONTAINER,), _namespace("networkMode", "network")),
    Rule("CIS-5.16", "the host PID namespace is not shared", (CONTAINER,), _namespace("pidMode", "PID")),
    Rule("CIS-5.17", "the host IPC namespace is not shared", (CONTAINER,), _namespace("ipcMode", "IPC")),
    Rule("CIS-5.31", "the host user namespace is not shared", (CONTAINER,), _namespace("usernsMode", "user")),
    Rule("CIS-4.1", "containers run as a non-root user", (CONTAINER,), non_root_user, "user"),
    Rule("CIS-5.13", "the root filesystem is mounted read-only", (CONTAINER,), read_only_root, "read_only"),
    Rule("CIS-5.4", "capabilities: drop ALL, add only documented ones", (CONTAINER,), capabilities, "capabilities"),
    Rule("CIS-5.26", "no-new-privileges is set", (CONTAINER,), no_new_privileges),
    Rule("CIS-5.11", "memory usage is limited", (CONTAINER,), memory_limit),
    Rule("CIS-5.12", "CPU usage is limited", (CONTAINER,), cpu_limit),
    Rule("CIS-5.27", "a healthcheck is defined (CIS 4.6)", (CONTAINER,), healthcheck, "healthcheck"),
    Rule(
        "CIS-5.15",
        "restart policy is unless-stopped, or on-failure with at most 5 retries",
        (CONTAINER,),
        restart_policy,
        "restart",
    ),
    Rule("CIS-5.14", "published ports are bound to an explicit host address", (CONTAINER,), ports_bound_to_address),
    Rule("CIS-5.8", "no privileged host ports (< 1025) are published", (CONTAINER,), no_privileged_ports),
    Rule("CIS-5.32", "the Docker socket is not mounted", (CONTAINER,), no_docker_socket, "docker_socket"),
    Rule("CIS-5.6", "no (sensitive) host paths are mounted", (CONTAINER,), no_host_paths, "host_mounts"),
    Rule(
        "PAY-HOST-PATHS",
        "host paths are never / or the socket's folder, and never given to a root user",
        (CONTAINER,),
        narrow_host_paths,
    ),
    Rule("PAY-LOG-ROTATION", "json-file logs with max-size and max-file", (CONTAINER,), log_rotation),
    Rule("PAY-SECRET-ENV", "prod: no secret in a plain environment variable", (CONTAINER,), no_plain_secret_env),
    Rule("PAY-DATA-PROTECT", "prod: retained data volumes are protected", (VOLUME,), data_volume_protected),
    Rule("PAY-IMAGE-PINNED", "images are pinned to a version, never latest", (REMOTE_IMAGE,), image_pinned),
)


def check_resource(resource: Record, profile: str) -> Report:
    """Every rule over one resource: its violations and its applied (documented) exceptions."""
    report = Report()
    for rule in RULES:
        if resource.get("type") not in rule.types:
            continue
        reason = EXCEPTIONS.get((identity(resource), rule.item)) if rule.item else None
        try:
            messages = rule.check(resource, profile)
        except UndecidableError:
            report.unchecked.append(f"{rule.id} {resource.get('name', '')}")
            continue
        except (AttributeError, TypeError, ValueError):
            # A rule reading structure (`healthcheck.tests`, `ports[].ip`) finds the string `[unknown]` instead.
            if not holds(resource.get("inputs"), UNKNOWN):
                raise
            report.unchecked.append(f"{rule.id} {resource.get('name', '')}")
            continue
        for message in messages:
            finding = Finding(rule.id, str(resource.get("name", "")), message, reason)
            (report.violations if reason is None else report.exceptions).append(finding)
    return report


def check(document: Mapping[str, Any]) -> Report:
    """Every rule over every resource of a render; the profile is the render's `outputs["profile"]`."""
    profile = str((document.get("outputs") or {}).get("profile") or document.get("stack", ""))
    report = Report()
    for resource in document.get("resources") or []:
        found = check_resource(resource, profile)
        report.violations.extend(found.violations)
        report.exceptions.extend(found.exceptions)
        report.unchecked.extend(found.unchecked)
    return report
