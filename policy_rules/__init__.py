"""Policy rules over an offline render (`python -m plan check`), derived from CIS Docker Benchmark section 5.

Pure functions over render documents as `python -m plan render --format json` writes them. Each rule looks
at ONE resource record (type, name, protect, retainOnDelete, camelCase inputs with secrets as `[secret]`)
and the profile whose rules apply, and returns what it finds wrong. The profile is never taken on trust from the
document: `stacks.profiles.select_profile` decides it from the stack name and the profile the program reported,
the one decision the program and the policy pack take too, so a production stack is always held to the prod rules.

Every rule judges values, not the presence of a key (issue 15): a user of `00:00` is root, `SECCOMP=Unconfined`
switches seccomp off, a port on `::` is published on every address and `["CMD", "true"]` checks nothing.

A rule that corresponds to a baseline item of components/docker/hardening.py names that item, and each finding
the value it departs with (a capability, a host path, `root`). A finding is reported as an applied exception,
with its reason, only when `EXCEPTIONS` documents that item for the container's identity AND allows that exact
value; anything else is a violation. The identity is the container's Docker name, or `LOADER` for the loader the
program builds beside one of the document's containers (`loader_name`, no network, no port): a name that merely
looks like a loader's is not one. Rules without an item cannot be excepted.

Rule ids are item numbers of CIS Docker Benchmark v1.6.0 (section 5, and 4.1 for the container user).
Numbering moved between benchmark versions (the host network namespace is 5.9 in v1.1.0, 5.10 in
v1.6.0), so older tools may show other numbers for the same item. Rules that are platform policy rather
than a CIS item carry a `PAY-` id.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, ip_address
from typing import Any

from components.docker.hardening import (
    CPUS,
    DOCKER_SOCKETS,
    EXCEPTIONS,
    LOADER,
    MEMORY,
    NO_HEALTHCHECK,
    ROOT,
    WRITABLE,
    capability,
    exposes_docker_socket,
    loader_name,
    runs_as_root,
)
from stacks.catalog import KONG, SECRET_VARIABLES, container_name
from stacks.profiles import PRODUCTION, select_profile
from vocabulary import CONTAINER, REMOTE_IMAGE, SECRET, UNKNOWN, VOLUME, holds

PROD = PRODUCTION
SENSITIVE_HOST_PATHS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/root", "/var/lib/docker")
LOWEST_UNPRIVILEGED_PORT = 1025
MAX_RESTARTS = 5
PUBLIC_GATEWAY = (container_name(KONG.name), KONG.published_port, KONG.published_target)
"""(container, host port, container port) of the one port the platform declares public: Kong's TLS proxy. It alone
may be published on every host address; any other port needs an explicit address (CIS 5.14)."""
TRIVIAL = "trivial"
"""The value a healthcheck that cannot fail departs with (never documented: a loader has none at all)."""
TRIVIAL_COMMANDS = frozenset({"true", ":", "exit", "echo", "printf", "sleep"})
"""Commands that succeed whatever the container's state (`exit` with status 0 or none, see `_trivial_step`)."""
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_SEPARATORS = re.compile(r"(\|\||&&|;|\n|\||&)")

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Found:
    """One thing a rule finds wrong, and the value it departs with (what a documented exception must allow)."""

    message: str
    value: str = ""


Check = Callable[[Record, str], list[Found]]


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


def _word(value: Any) -> str:
    """A setting as the engine compares it: Docker lower-cases none of these, but a rule must not be fooled by
    the case or spaces a later engine or provider might accept."""
    return str(value).strip().lower()


def docker_name(resource: Record) -> str:
    return str(_inputs(resource).get("name", resource.get("name", "")))


def _is_loader_shape(resource: Record) -> bool:
    """What the program's loader is beside its name: no network at all and nothing published."""
    inputs = _inputs(resource)
    return (
        _word(inputs.get("networkMode")) == "none"
        and not inputs.get("networksAdvanced")
        and not inputs.get("ports")
        and not inputs.get("privileged")
    )


def identities(document: Mapping[str, Any]) -> dict[str, str]:
    """Pulumi name -> identity (what `EXCEPTIONS` is keyed by) of every container of a render.

    A container is `LOADER` only when it is the loader the program builds for another container of the same
    render (`loader_name`) and has the loader's shape; every other container is its Docker name."""
    containers = [r for r in document.get("resources") or [] if r.get("type") == CONTAINER]
    names = {docker_name(r) for r in containers}
    found = {}
    for record in containers:
        own = docker_name(record)
        partner = any(loader_name(name) == own for name in names if name != own)
        found[str(record.get("name", ""))] = LOADER if partner and _is_loader_shape(record) else own
    return found


def _host_paths(inputs: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(host path, read-only) of every way a container reaches the host's filesystem: bind mounts, `volumes` with a
    host path, and volume mounts whose local driver binds a device or folder (`o=bind,device=/etc`)."""
    found: list[tuple[str, bool]] = []
    for mount in inputs.get("mounts") or []:
        kind = _word(mount.get("type"))
        if kind == "bind":
            found.append((str(mount.get("source", "")), mount.get("readOnly") is True))
        device = ((mount.get("volumeOptions") or {}).get("driverOptions") or {}).get("device")
        if kind == "volume" and device:
            found.append((str(device), mount.get("readOnly") is True))
    found += [(str(v["hostPath"]), v.get("readOnly") is True) for v in inputs.get("volumes") or [] if v.get("hostPath")]
    return found


def _path_value(path: str, read_only: bool) -> str:
    return path if read_only else f"{path} (writable)"


# --- container rules ----------------------------------------------------------------------------------


def not_privileged(resource: Record, profile: str) -> list[Found]:
    value = _inputs(resource).get("privileged")
    return [] if value in (None, False) or _word(value) in ("false", "0", "") else [Found("runs privileged")]


def _host_namespace(key: str, what: str) -> Check:
    def check(resource: Record, profile: str) -> list[Found]:
        value = _word(_inputs(resource).get(key) or "")
        return [Found(f"shares the host's {what} namespace ({key}={value})")] if value == "host" else []

    return check


def shared_namespaces(resource: Record, profile: str) -> list[Found]:
    """Joining another container's namespace (`container:<name>`) reaches whatever that container reaches: its
    networks, its processes, its shared memory. The host's cgroup namespace shows the host's cgroup tree."""
    inputs = _inputs(resource)
    found = [
        Found(f"joins another container's namespace ({key}={inputs[key]})")
        for key in ("networkMode", "pidMode", "ipcMode", "utsMode")
        if _word(inputs.get(key) or "").startswith("container")
    ]
    if _word(inputs.get("cgroupnsMode") or "") == "host":
        found.append(Found("shares the host's cgroup namespace (cgroupnsMode=host)"))
    return found


def non_root_user(resource: Record, profile: str) -> list[Found]:
    user = str(_inputs(resource).get("user") or "")
    return [Found(f"runs as root (user {user!r})", ROOT)] if runs_as_root(user) else []


def read_only_root(resource: Record, profile: str) -> list[Found]:
    return [] if _inputs(resource).get("readOnly") is True else [Found("root filesystem is writable", WRITABLE)]


def capabilities(resource: Record, profile: str) -> list[Found]:
    caps = _inputs(resource).get("capabilities") or {}
    found = []
    if "ALL" not in {capability(str(c)) for c in caps.get("drops") or []}:
        found.append(Found("does not drop ALL capabilities", "default capabilities"))
    for added in sorted({capability(str(c)) for c in caps.get("adds") or []}):
        found.append(Found(f"adds capability {added}", added))
    return found


def _security_opts(resource: Record) -> list[tuple[str, str]]:
    """(key, value) of each security option, split as Docker splits them (`=`, else the legacy `:`)."""
    pairs = []
    for opt in _inputs(resource).get("securityOpts") or []:
        text = _word(opt)
        key, sep, value = text.partition("=")
        if not sep:
            key, _, value = text.partition(":")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _security_opt(key: str, bad: tuple[str, ...], what: str) -> Check:
    def check(resource: Record, profile: str) -> list[Found]:
        return [Found(f"{what} ({k}={v})") for k, v in _security_opts(resource) if k == key and v in bad]

    return check


def no_new_privileges(resource: Record, profile: str) -> list[Found]:
    values = [v for k, v in _security_opts(resource) if k == "no-new-privileges"]
    if values and all(v in ("", "true") for v in values):
        return []
    return [Found("no-new-privileges is not set" if not values else f"no-new-privileges is {values}")]


KNOWN_SECURITY_OPTS = frozenset({"no-new-privileges", "seccomp", "apparmor", "label"})


def only_known_security_opts(resource: Record, profile: str) -> list[Found]:
    """The platform sets no-new-privileges only; any other option (a custom seccomp profile, `systempaths=
    unconfined`, which unmasks /proc and /sys) changes the confinement and needs a review, not a pass."""
    found = []
    for key, value in _security_opts(resource):
        if key not in KNOWN_SECURITY_OPTS:
            found.append(Found(f"security option {key}={value} is not one the platform sets"))
        elif key in ("seccomp", "apparmor") and value not in ("unconfined",):
            found.append(Found(f"replaces the default {key} profile ({key}={value})"))
        elif key == "label" and value != "disable":
            found.append(Found(f"sets an SELinux label (label={value})"))
    return found


def no_host_devices(resource: Record, profile: str) -> list[Found]:
    return [Found(f"exposes host device {d.get('hostPath', '?')}") for d in _inputs(resource).get("devices") or []] + (
        [Found("is given GPUs")] if _inputs(resource).get("gpus") else []
    )


def no_shared_propagation(resource: Record, profile: str) -> list[Found]:
    return [
        Found(f"mounts {m.get('source', '?')} with {propagation} propagation")
        for m in _inputs(resource).get("mounts") or []
        if (propagation := _word((m.get("bindOptions") or {}).get("propagation") or "")) in ("shared", "rshared")
    ]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def memory_limit(resource: Record, profile: str) -> list[Found]:
    memory = _number(_inputs(resource).get("memory"))
    return [] if memory is not None and memory > 0 else [Found("no memory limit", MEMORY)]


def cpu_limit(resource: Record, profile: str) -> list[Found]:
    cpus = _number(_inputs(resource).get("cpus"))
    return [] if cpus is not None and cpus > 0 else [Found("no CPU limit", CPUS)]


def _words(step: str) -> list[str]:
    return [word.strip("'\"") for word in step.split()]


def _inner_script(step: str) -> str | None:
    """The script of `sh -c '<script>'` (any shell, busybox's too), or None when `step` runs no shell."""
    words = _words(step)
    if words[:1] == ["busybox"]:
        words = words[1:]
    if len(words) >= 3 and posixpath.basename(words[0]) in SHELLS and words[1] == "-c":
        return " ".join(words[2:])
    return None


def _trivial_step(step: str, depth: int = 0) -> bool:
    """A command that succeeds whatever the container's state: `true`, `:`, `exit 0`, `echo ...`, or a shell
    running only such commands."""
    words = _words(step)
    if not words:
        return True
    inner = _inner_script(step)
    if inner is not None:
        return depth < 3 and _always_succeeds(inner, depth + 1)
    if words[0] == "busybox" and len(words) > 1:
        words = words[1:]
    command = posixpath.basename(words[0])
    if command == "exit":
        return len(words) == 1 or words[1] == "0"
    return command in TRIVIAL_COMMANDS


def _always_succeeds(script: str, depth: int = 0) -> bool:
    """A shell script whose status is 0 whatever happens: only trivial steps; a trivial last step after `||`, `;`,
    `|`, `&` or a new line (`check || true`, `check | true`, `check; exit 0`); or an `exit 0` reached
    unconditionally (`check; exit 0; false`)."""
    parts = [p.strip() for p in _SEPARATORS.split(script)]
    steps, separators = parts[0::2], parts[1::2]
    if all(_trivial_step(step, depth) for step in steps):
        return True
    if separators and separators[-1] != "&&" and _trivial_step(steps[-1], depth):
        return True
    return any(
        separator in (";", "\n") and _words(step)[:2] in (["exit"], ["exit", "0"])
        for separator, step in zip(separators, steps[1:], strict=True)
    )


def _trivial_healthcheck(tests: list[Any]) -> bool:
    """`CMD-SHELL` runs its text in a shell; `CMD` runs its words as they are (a shell among them unwrapped)."""
    kind, argv = _word(tests[0]), [str(t) for t in tests[1:]]
    if not "".join(argv).strip():
        return True
    return _always_succeeds(" ".join(argv)) if kind == "cmd-shell" else _trivial_step(" ".join(argv))


def healthcheck(resource: Record, profile: str) -> list[Found]:
    tests = (_inputs(resource).get("healthcheck") or {}).get("tests") or []
    if not tests or _word(tests[0]) not in ("cmd", "cmd-shell"):
        return [Found("no healthcheck", NO_HEALTHCHECK)]
    if _trivial_healthcheck(list(tests)):
        return [Found(f"healthcheck {list(tests)!r} succeeds whatever the container's state", TRIVIAL)]
    return []


def restart_policy(resource: Record, profile: str) -> list[Found]:
    """`unless-stopped` (the platform's: back after a reboot, and never against an operator's stop) or CIS 5.15's
    bounded `on-failure`. Never `always` (restarts what an operator stopped once the daemon restarts) or `no`."""
    inputs = _inputs(resource)
    restart, retries = _word(inputs.get("restart") or "no"), _number(inputs.get("maxRetryCount") or 0)
    if (restart == "unless-stopped" and retries == 0) or (
        restart == "on-failure" and retries is not None and 1 <= retries <= MAX_RESTARTS
    ):
        return []
    value = restart if retries == 0 else f"{restart}:{inputs.get('maxRetryCount')}"
    return [
        Found(
            f"restart policy {restart!r} with {inputs.get('maxRetryCount') or 0} retries (want unless-stopped, or "
            f"on-failure with 1 to {MAX_RESTARTS} retries)",
            value,
        )
    ]


def _every_address(ip: Any) -> bool | None:
    """True for an address that binds every interface (`0.0.0.0`, `::`, empty); None when `ip` is no address."""
    text = str(ip or "").strip().strip("[]")
    if not text:
        return True
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_unspecified


def _port(value: Any) -> str:
    """A port as a user writes it: the engine hands a policy every number as a float (`40432.0`)."""
    number = _number(value)
    return str(int(number)) if number is not None and number.is_integer() else str(value)


def ports_bound_to_address(resource: Record, profile: str) -> list[Found]:
    found = []
    name = docker_name(resource)
    for port in _inputs(resource).get("ports") or []:
        external, internal = _port(port.get("external", "?")), port.get("internal", "?")
        every = _every_address(port.get("ip"))
        if every is None:
            found.append(Found(f"port {external} is bound to {port.get('ip')!r}, not an IP address"))
        elif every and (name, _number(port.get("external")), _number(internal)) != PUBLIC_GATEWAY:
            shown = port.get("ip") or "no ip"
            found.append(
                Found(
                    f"port {external} is published on every host address ({shown}); only the gateway's "
                    f"{PUBLIC_GATEWAY[1]} may be"
                )
            )
    return found


def no_privileged_ports(resource: Record, profile: str) -> list[Found]:
    found = []
    for port in _inputs(resource).get("ports") or []:
        external = _number(port.get("external"))
        if port.get("external") is not None and (external is None or external < LOWEST_UNPRIVILEGED_PORT):
            found.append(Found(f"publishes privileged host port {_port(port['external'])}"))
    return found


def no_docker_socket(resource: Record, profile: str) -> list[Found]:
    return [
        Found(f"mounts the Docker socket via host path {path}", _path_value(path, read_only))
        for path, read_only in _host_paths(_inputs(resource))
        if exposes_docker_socket(path)
    ]


def no_host_paths(resource: Record, profile: str) -> list[Found]:
    found = []
    for path, read_only in _host_paths(_inputs(resource)):
        if exposes_docker_socket(path):
            continue  # CIS-5.32 reports it
        sensitive = any(path == s or path.startswith(s.rstrip("/") + "/") for s in SENSITIVE_HOST_PATHS if s != "/")
        mode = "" if read_only else " writable"
        found.append(
            Found(f"mounts{mode} {'sensitive ' if sensitive else ''}host path {path}", _path_value(path, read_only))
        )
    return found


def narrow_host_paths(resource: Record, profile: str) -> list[Found]:
    """Never excepted (issue 14): whatever a documented exception allows, a host path is never the host's root or
    a folder holding the Docker socket (the socket file alone, so nothing else there comes along), and a
    container with host paths never runs as root."""
    inputs = _inputs(resource)
    paths = [path for path, _ in _host_paths(inputs)]
    found = [Found(f"mounts the host's root filesystem ({p})") for p in paths if p.strip("/") == ""]
    found += [
        Found(f"mounts {p}, a folder holding the Docker socket (mount the socket file alone)")
        for p in paths
        if p.strip("/") and exposes_docker_socket(p) and "/" + p.strip("/") not in DOCKER_SOCKETS
    ]
    if paths and runs_as_root(str(inputs.get("user") or "")):
        found.append(Found(f"runs as root (user {inputs.get('user')!r}) with host paths mounted"))
    return found


LOG_SIZE = re.compile(r"[1-9][0-9]*[kmg]?")
LOG_FILES = re.compile(r"[1-9][0-9]*")
"""Full-matched (a `$` would let a final newline through; `str.isdigit` takes `²`, which `int` refuses)."""


def log_rotation(resource: Record, profile: str) -> list[Found]:
    inputs = _inputs(resource)
    if inputs.get("logDriver") != "json-file":
        return [Found(f"log driver {inputs.get('logDriver')!r} (want json-file with rotation)")]
    opts = inputs.get("logOpts") or {}
    found = []
    if not LOG_SIZE.fullmatch(str(opts.get("max-size", ""))):
        found.append(Found(f"json-file logs with max-size {opts.get('max-size')!r} (want a size such as 10m)"))
    if not LOG_FILES.fullmatch(str(opts.get("max-file", ""))):
        found.append(Found(f"json-file logs with max-file {opts.get('max-file')!r} (want a count of 1 or more)"))
    return found


def no_plain_secret_env(resource: Record, profile: str) -> list[Found]:
    """A secret shows as `[secret]` in a render, but a stack policy under the real CLI sees every value in the clear
    and unmarked: there the catalog's secret variable names (`SECRET_VARIABLES`) tell. Messages never hold a value."""
    if profile != PROD:
        return []
    envs = _inputs(resource).get("envs")
    if envs == UNKNOWN:
        raise UndecidableError("the variables are not known before `pulumi up`")
    if envs == SECRET:
        return [Found("its environment is a secret: pass secrets as files (/run/secrets), not env vars")]
    found = []
    for env in envs or []:
        if not isinstance(env, str):
            continue
        name = env.partition("=")[0].strip()
        if env == SECRET or env.endswith("=" + SECRET):
            found.append(Found(f"environment entry {env!r} holds a secret: pass it as a file (/run/secrets)"))
        elif name in SECRET_VARIABLES:
            found.append(Found(f"environment variable {name} holds a secret: pass it as a file ({name}_FILE)"))
    return found


# --- other resources ------------------------------------------------------------------------------------


def data_volume_protected(resource: Record, profile: str) -> list[Found]:
    if profile == PROD and resource.get("retainOnDelete") and not resource.get("protect"):
        return [Found("data volume (retainOnDelete) is not protected")]
    return []


def volume_is_no_host_bind(resource: Record, profile: str) -> list[Found]:
    """A local volume with `device` is a host folder or device under a volume's name (`o=bind,device=/etc`)."""
    device = (_inputs(resource).get("driverOpts") or {}).get("device")
    return [Found(f"binds host path {device} as a volume")] if device else []


def image_pinned(resource: Record, profile: str) -> list[Found]:
    name = str(_inputs(resource).get("name", "")).strip()
    reference, _, digest = name.partition("@")
    if digest:
        algorithm, _, hexes = digest.partition(":")
        if algorithm == "sha256" and re.fullmatch(r"[a-f0-9]{64}", hexes):
            return []
        return [Found(f"image {name!r} has a malformed digest")]
    last = reference.rsplit("/", maxsplit=1)[-1]
    tag = last.split(":", maxsplit=1)[1].strip() if ":" in last else ""
    return [] if tag and tag.lower() != "latest" else [Found(f"image {name!r} is not pinned to a version")]


RULES: tuple[Rule, ...] = (
    Rule("CIS-5.5", "containers do not run privileged", (CONTAINER,), not_privileged),
    Rule(
        "CIS-5.10", "the host network namespace is not shared", (CONTAINER,), _host_namespace("networkMode", "network")
    ),
    Rule("CIS-5.16", "the host PID namespace is not shared", (CONTAINER,), _host_namespace("pidMode", "PID")),
    Rule("CIS-5.17", "the host IPC namespace is not shared", (CONTAINER,), _host_namespace("ipcMode", "IPC")),
    Rule("CIS-5.21", "the host UTS namespace is not shared", (CONTAINER,), _host_namespace("utsMode", "UTS")),
    Rule("CIS-5.31", "the host user namespace is not shared", (CONTAINER,), _host_namespace("usernsMode", "user")),
    Rule(
        "PAY-NAMESPACES",
        "no namespace is joined from another container, no host cgroup namespace",
        (CONTAINER,),
        shared_namespaces,
    ),
    Rule(
        "CIS-4.1",
        "containers run as a non-root user (uid 0 in any spelling is root)",
        (CONTAINER,),
        non_root_user,
        "user",
    ),
    Rule("CIS-5.13", "the root filesystem is mounted read-only", (CONTAINER,), read_only_root, "read_only"),
    Rule("CIS-5.4", "capabilities: drop ALL, add only documented ones", (CONTAINER,), capabilities, "capabilities"),
    Rule("CIS-5.26", "no-new-privileges is set", (CONTAINER,), no_new_privileges),
    Rule(
        "CIS-5.2",
        "AppArmor is not unconfined",
        (CONTAINER,),
        _security_opt("apparmor", ("unconfined",), "AppArmor is switched off"),
    ),
    Rule(
        "CIS-5.3",
        "SELinux labelling is not disabled",
        (CONTAINER,),
        _security_opt("label", ("disable",), "SELinux labelling is switched off"),
    ),
    Rule(
        "CIS-5.22",
        "the default seccomp profile is not disabled",
        (CONTAINER,),
        _security_opt("seccomp", ("unconfined",), "seccomp is switched off"),
    ),
    Rule("PAY-SECURITY-OPTS", "no security option but no-new-privileges", (CONTAINER,), only_known_security_opts),
    Rule("CIS-5.18", "no host device is exposed", (CONTAINER,), no_host_devices),
    Rule("CIS-5.20", "no mount uses shared propagation", (CONTAINER,), no_shared_propagation),
    Rule("CIS-5.11", "memory usage is limited", (CONTAINER,), memory_limit),
    Rule("CIS-5.12", "CPU usage is limited", (CONTAINER,), cpu_limit),
    Rule("CIS-5.27", "a healthcheck that can fail is defined (CIS 4.6)", (CONTAINER,), healthcheck, "healthcheck"),
    Rule(
        "CIS-5.15",
        "restart policy is unless-stopped, or on-failure with at most 5 retries",
        (CONTAINER,),
        restart_policy,
        "restart",
    ),
    Rule(
        "CIS-5.14",
        "published ports are bound to an explicit host address (every address: the gateway's public port only)",
        (CONTAINER,),
        ports_bound_to_address,
    ),
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
    Rule("PAY-VOLUME-BIND", "volumes are not host paths in disguise", (VOLUME,), volume_is_no_host_bind),
    Rule("PAY-IMAGE-PINNED", "images are pinned to a version, never latest", (REMOTE_IMAGE,), image_pinned),
)


def check_resource(resource: Record, profile: str, identity: str | None = None) -> Report:
    """Every rule over one resource: its violations and its applied (documented) exceptions.

    `identity`: what `EXCEPTIONS` is keyed by (`identities` of the whole render); alone, a container is its Docker
    name, never `LOADER`, which only its render can show."""
    own = docker_name(resource) if identity is None else identity
    report = Report()
    for rule in RULES:
        if resource.get("type") not in rule.types:
            continue
        documented = EXCEPTIONS.get((own, rule.item)) if rule.item else None
        try:
            found = rule.check(resource, profile)
        except UndecidableError:
            report.unchecked.append(f"{rule.id} {resource.get('name', '')}")
            continue
        except (AttributeError, TypeError, ValueError, IndexError, KeyError):
            # A rule reading structure (`healthcheck.tests`, `ports[].ip`) finds the string `[unknown]` instead.
            if not holds(resource.get("inputs"), UNKNOWN):
                raise
            report.unchecked.append(f"{rule.id} {resource.get('name', '')}")
            continue
        for each in found:
            reason = documented.reason if documented is not None and documented.allows(each.value) else None
            finding = Finding(rule.id, str(resource.get("name", "")), each.message, reason)
            (report.violations if reason is None else report.exceptions).append(finding)
    return report


def rules_profile(stack: str, profile: str | None, environment: str | None = None) -> str:
    """The profile whose rules apply to stack `stack` (`select_profile`: a production stack's are always prod)."""
    return select_profile(stack, profile, environment).rules


def check(document: Mapping[str, Any]) -> Report:
    """Every rule over every resource of a render, under the rules of `rules_profile` for its stack and the profile
    the program reported (`outputs["profile"]`)."""
    outputs = document.get("outputs") or {}
    reported = outputs.get("profile")
    profile = rules_profile(str(document.get("stack") or ""), None if reported is None else str(reported))
    names = identities(document)
    report = Report()
    for resource in document.get("resources") or []:
        found = check_resource(resource, profile, names.get(str(resource.get("name", ""))))
        report.violations.extend(found.violations)
        report.exceptions.extend(found.exceptions)
        report.unchecked.extend(found.unchecked)
    return report
