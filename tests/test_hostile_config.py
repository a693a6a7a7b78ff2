"""Hostile strings through the whole configuration surface (issue 15): refused with a keyed error, or carried intact.

Every key the program reads is found by walking `StackSettings` (what `stacks.resolve` validates), not listed by
hand; a key added there is driven here too, and a dictionary key with no example below fails the test. Hypothesis
sets one key at a time (or one dictionary key) to a hostile string: control characters, newlines, quotes,
backslashes, `$`, backticks, Unicode look-alikes, very long or empty text, or a valid value with one of those
inserted. Each run either

* fails with the platform's `ConfigError` (the exit-2 path of `python -m plan` and `pulumi up`), every line one line
  and one naming the key that was set; any other exception is the traceback a user would see; or
* is accepted, and then the whole program renders, and each generated document is read by its consumer: YAML
  parses, every shell script passes `sh -n`, the demo's nginx.conf passes `nginx -t`, and `bootstrap.sql` runs in
  psql against a throwaway PostgreSQL and creates exactly the databases the config names. A value that shows up in
  a YAML document's text must come back out of the parser as text.

Budgets are fixed and `derandomize=True`, so every run (and CI) tries the same examples.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from plan import PROJECT_DIR, Project, RecordingMonitor, Render, StackConfig, engine
from plan.stackfile import build
from stacks import _decode
from stacks.errors import ConfigError, format_path, unwrap_optional
from stacks.models import PlatformConfig, StackSettings
from stacks.resolve import resolve
from tests.conftest import IN_CI, free_port, unavailable
from tests.tlstools import self_signed
from vocabulary import CONTAINER, SELF_SIGNED_CERT

STACK = "dev"
"""The stack every example starts from: demo images (so every service has an nginx.conf) and secrets as variables."""
KEY = "<key>"
"""A dictionary key in a surface path (`services.<key>.port`)."""
NEW = "loyalty-service"
"""A service a stack adds: its keys are checked differently from a built-in one's."""

EXAMPLE_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("services",): ("order-service", NEW),
    ("kafka", "topics"): ("payment.events", "loyalty.events"),
    ("secrets",): ("jwt-secret", "smtp-password"),
    ("rotation",): ("all", "tls-order-service"),
    ("images",): ("postgres", "demo"),
    ("gateway", "routes"): ("admin",),
}
"""Keys that exist for each dictionary of the surface, beside the hostile keys Hypothesis writes there."""

CONTEXT: dict[tuple[str, ...], dict[str, Any]] = {
    ("services", NEW): {"services": {NEW: {"port": 40030, "database": "payment_loyalty"}}},
    ("smtp",): {
        "secrets": {"smtp-password": "s" * 40},
        "smtp": {"host": "smtp.example.com", "username": "noreply@example.com", "from": "noreply@example.com"},
    },
    # Setting the SMTP password switches SMTP on, which then needs its settings.
    ("secrets", "smtp-password"): {
        "smtp": {"host": "smtp.example.com", "username": "noreply@example.com", "from": "noreply@example.com"}
    },
    ("serviceImages",): {"demo": False, "serviceImages": {"registry": "registry.example.com/payment", "tag": "1.0"}},
}
"""What makes a key live: a new service needs its port and database, SMTP settings are read once SMTP is on,
service image settings once `demo` is off."""

VALID: dict[str, Any] = {
    "cpus": "0.5",
    "memory": "256M",
    "enabled": "true",
    "address": "127.0.0.1",
    "replicas": "1",
    "port": "40030",
    "database": "payment_loyalty",
    "tier": "core",
    "title": "Loyalty",
    "calls": ["order-service"],
    "image": "registry.example.com/loyalty:1.0",
    "healthcheck": ["CMD", "/app/healthcheck"],
    "networkSubnet": "172.28.0.0/16",
    "logMaxSize": "10m",
    "partitions": "3",
    "retentionHours": "72",
    "host": "smtp.example.com",
    "username": "noreply@example.com",
    "from": "noreply@example.com",
    "organization": "Payment Platform",
    "organizationalUnit": "payment-platform",
    "country": "CN",
    "registry": "registry.example.com/payment",
    "tag": "1.0",
    "buildContext": "../backend/services",
    "dockerDataRoot": "/var/lib/docker",
    "adminAllow": ["10.0.0.0/8"],
    "trustedProxies": ["10.1.0.0/16"],
    "jwt-secret": "j" * 64,
    "smtp-password": "s" * 40,
    "postgres": "registry.example.com/postgres:18.6",
    "demo": "registry.example.com/demo:1.0",
    "all": "1",
    "tls-order-service": "1",
    "images": "registry.example.com/mirror:1.0",
    "secrets": "s" * 40,
    "rotation": "1",
}
"""A value each leaf accepts (by its last key), which Hypothesis spoils with one hostile insertion."""

HOSTILE = (
    "",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\u2028",
    "\u202e",
    "\u200b",
    "\ufeff",
    "'",
    '"',
    "\\",
    "$",
    "`",
    "${HOME}",
    "$(id)",
    "`id`",
    ";",
    "{",
    "}",
    "#",
    ": ",
    "- ",
    "&a",
    "*a",
    "!!python/object",
    "%",
    "@",
    "/",
    "..",
    ",",
    "=",
    "<",
    ">",
    "|",
    "é",
    "\u0430",  # Cyrillic a, a look-alike of `a`
    "١",  # Arabic-Indic digit one, which `\d` matches
    "\U0001f600",
    "x" * 300,
)

_CHARS = st.sampled_from([c for c in HOSTILE if len(c) == 1]) | st.characters(codec="utf-8")
hostile_text = st.sampled_from(HOSTILE) | st.text(_CHARS, max_size=12)


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every config key `model` reads, as a path; `KEY` stands for a dictionary's keys."""
    for name, field in model.model_fields.items():
        path = (*prefix, field.alias or name)
        annotation = unwrap_optional(field.annotation)
        if typing.get_origin(annotation) is dict:
            value = unwrap_optional(typing.get_args(annotation)[1])
            path = (*path, KEY)
            annotation = value
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, path)
        else:
            yield path


SURFACE: tuple[tuple[str, ...], ...] = tuple(_leaves(StackSettings))


def _concrete(path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """`path` with each `KEY` replaced by each example key of its dictionary."""
    if KEY not in path:
        return [path]
    at = path.index(KEY)
    return [c for key in EXAMPLE_KEYS[path[:at]] for c in _concrete((*path[:at], key, *path[at + 1 :]))]


TARGETS: tuple[tuple[str, ...], ...] = tuple(c for path in SURFACE for c in _concrete(path))
"""Every leaf with real keys: where a hostile value goes."""
DICTIONARIES: tuple[tuple[str, ...], ...] = tuple(EXAMPLE_KEYS)
"""Where a hostile key goes."""


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))


def _set(root: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = root
    for segment in path[:-1]:
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child
    node[path[-1]] = value


@functools.cache
def _base() -> tuple[str, dict[str, Any]]:
    project = Project.load(PROJECT_DIR)
    prefix = f"{project.name}:"
    values = build(project, STACK).values
    return project.name, {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def _config(path: tuple[str, ...], value: Any, *, key_at: int | None = None) -> dict[str, Any]:
    """The stack file's values with the context `path` needs and `value` at `path` (or, with `key_at`, the key at
    that position of `path` replaced by `value`, the leaf keeping a valid value)."""
    _, base = _base()
    raw: dict[str, Any] = json.loads(json.dumps(base))
    for start, extra in CONTEXT.items():
        if path[: len(start)] == start:
            _merge(raw, extra)
    if key_at is not None:
        path = (*path[:key_at], value, *path[key_at + 1 :])
        value = VALID.get(path[-1], "1") if len(path) > key_at + 1 else VALID.get(str(path[key_at - 1]), "1")
        if path[0] == "services":
            # A new service under the hostile name: its name is what gets checked, not a missing port.
            _merge(raw, {"services": {path[1]: {"port": 40031, "database": "payment_hostile"}}})
    _set(raw, path, value)
    return raw


def _as_cli_passes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the program decodes from the CLI: each top-level value a string, objects and lists as JSON."""
    return {key: _decode(value) if isinstance(value, str) else value for key, value in raw.items()}


def _secret_keys(raw: Mapping[str, Any]) -> set[str]:
    return {"secrets"} & set(raw)


def _resolved(raw: dict[str, Any]) -> PlatformConfig:
    project, _ = _base()
    return resolve(_as_cli_passes(raw), project=project, stack=STACK, secret_keys=_secret_keys(raw))


def _check_refusal(error: ConfigError, path: tuple[Any, ...]) -> None:
    """One printable line per problem, and a problem under the top-level key that was set, named as the user
    would type it (a value may be refused at a key it constrains: a smaller `postgres.limits.memory` at
    `postgres.sharedBuffers`)."""
    assert len(error.lines) == len(error.problems) >= 1
    assert all(line.isprintable() for line in error.lines), error.lines
    project, _ = _base()
    mine = [line for p, line in zip(error.problems, error.lines, strict=True) if p.path[:1] == path[:1]]
    assert mine, (path, error.lines)
    assert all(line.startswith(f"{project}:{format_path(path[:1])}") for line in mine)


# --- the consumers ----------------------------------------------------------------------------------------------

_checked: set[str] = set()
"""Digests of documents a consumer already accepted (the same text needs no second `sh -n`)."""


def _once(kind: str, text: str) -> bool:
    digest = hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()
    if digest in _checked:
        return False
    _checked.add(digest)
    return True


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _uploads(render: Render) -> Iterator[tuple[str, str, str]]:
    """(container, path, content) of every file every loader stages."""
    for resource in render.resources:
        if resource.type == CONTAINER:
            for upload in resource.revealed_inputs.get("uploads") or ():
                if isinstance(upload.get("content"), str):
                    yield resource.name, str(upload["file"]), upload["content"]


def _shell_scripts(render: Render) -> Iterator[str]:
    for resource in render.resources:
        if resource.type != CONTAINER:
            continue
        command = resource.revealed_inputs.get("command") or []
        if len(command) >= 3 and Path(str(command[0])).name == "sh" and command[1] == "-c":
            yield str(command[2])
        tests = (resource.revealed_inputs.get("healthcheck") or {}).get("tests") or []
        if tests[:1] == ["CMD-SHELL"] and len(tests) == 2:
            yield str(tests[1])
    for _, _, content in _uploads(render):
        if content.startswith("#!/bin/sh"):
            yield content


def _check_shell(render: Render) -> None:
    for script in _shell_scripts(render):
        if _once("sh", script):
            result = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
            assert result.returncode == 0, (script[:200], result.stderr)


@functools.cache
def _yaml_strings(content: str) -> tuple[str, ...]:
    """Every string YAML reads from `content` (keys included); a document that does not parse fails here."""
    return tuple(_strings(yaml.safe_load(content)))


def _check_yaml(render: Render, value: Any) -> None:
    texts = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and len(v) >= 3]
    for _, path, content in _uploads(render):
        if not path.endswith((".yml", ".yaml")):
            continue
        strings = _yaml_strings(content)
        for text in texts:
            if text in content:
                assert any(text in s for s in strings), f"{path}: {text!r} is in the text but not in what YAML reads"


def _check_text_fields(render: Render) -> None:
    """Names, variables, labels and command lines of every container carry no control character."""
    for resource in render.resources:
        if resource.type != CONTAINER:
            continue
        inputs = resource.revealed_inputs
        fields = [inputs.get("name"), *(inputs.get("envs") or []), *(inputs.get("command") or [])]
        fields += [label.get("value") for label in inputs.get("labels") or []]
        for text in fields:
            assert not isinstance(text, str) or text.isprintable(), (resource.name, text)


# nginx -t, on the demo's generated nginx.conf laid out under a temporary root with one throwaway key pair.


def _nginx() -> str | None:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None and IN_CI:
        pytest.fail("nginx not found: install Debian's nginx (.ci/run does) to check the generated nginx.conf")
    return found


@functools.cache
def _key_pair() -> tuple[str, str]:
    certificate, key, _ = self_signed("hostile-config-test", ca=True)
    return certificate, key


_PATH_ROOTS = ("/etc/", "/app/", "/tmp/", "/run/")
"""Where the demo's config points: moved under the test's root (the container's `/dev/stdout` stays)."""


def _check_nginx(render: Render) -> None:
    nginx = _nginx()
    for _, path, content in _uploads(render):
        if not path.endswith("/nginx.conf") or not _once("nginx", content) or nginx is None:
            continue
        with tempfile.TemporaryDirectory(prefix="payment-hostile-nginx-") as root:
            text = content
            for start in _PATH_ROOTS:
                text = text.replace(f" {start}", f" {root}{start}")
            certificate, key = _key_pair()
            for directive, pem in (
                ("ssl_certificate", certificate),
                ("ssl_certificate_key", key),
                ("ssl_client_certificate", certificate),
                ("ssl_trusted_certificate", certificate),
            ):
                for file in re.findall(rf"^\s*{directive}\s+(\S+);", text, re.MULTILINE):
                    Path(file).parent.mkdir(parents=True, exist_ok=True)
                    Path(file).write_text(pem, encoding="utf-8")
            Path(root, "tmp").mkdir(exist_ok=True)
            conf = Path(root, "nginx.conf")
            conf.write_text(text, encoding="utf-8")
            result = subprocess.run(
                [nginx, "-t", "-q", "-e", "stderr", "-p", root, "-c", str(conf)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert result.returncode == 0, (path, result.stderr)


# psql: the rendered bootstrap.sql against a throwaway PostgreSQL, started on first use.


class _Postgres:
    def __init__(self) -> None:
        self.base: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.bindir: Path | None = None

    @staticmethod
    def _as_postgres(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **kwargs,
        )

    def start(self) -> Path:
        if self.base is not None:
            return self.base
        bindir = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
        if bindir is None or shutil.which("psql") is None:
            unavailable("PostgreSQL not found: install Debian's postgresql (.ci/run does) to run bootstrap.sql")
        if os.geteuid() != 0:
            unavailable("needs root, to run PostgreSQL as the postgres user the bootstrap connects as")
        assert bindir is not None
        self.bindir = bindir
        owner = pwd.getpwnam("postgres")
        base = Path(tempfile.mkdtemp(prefix="payment-hostile-pg-"))
        base.chmod(0o755)
        for folder in ("data", "sock", "secrets"):
            (base / folder).mkdir()
            os.chown(base / folder, owner.pw_uid, owner.pw_gid)
        self.base = base
        init = self._as_postgres([str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres", "-E", "UTF8"])
        assert init.returncode == 0, init.stderr
        self.port = free_port()
        # A throwaway server: durability settings off, no TCP listener (the socket folder only).
        flags = ["-c", "listen_addresses=", "-c", f"unix_socket_directories={base / 'sock'}", "-p", str(self.port)]
        flags += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with open(base / "server.log", "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                ["runuser", "-u", "postgres", "--", str(bindir / "postgres"), "-D", str(base / "data"), *flags],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while self._as_postgres(["pg_isready", "-q", "-h", str(base / "sock"), "-p", str(self.port)]).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start:\n{(base / 'server.log').read_text()}")
            time.sleep(0.2)
        return base

    def apply(self, sql: str) -> subprocess.CompletedProcess[str]:
        """Run `sql` as the container's wrapper does (psql over the socket as postgres), each password file it
        reads (`\\set pw `cat <file>``) moved into the test's own folder and holding a fresh password."""
        base = self.start()
        owner = pwd.getpwnam("postgres")

        def moved(match: re.Match[str]) -> str:
            (source,) = shlex.split(match.group(1))
            target = base / "secrets" / Path(source).name
            if not target.exists():
                target.write_text(secrets.token_urlsafe(24), encoding="utf-8")
                os.chown(target, owner.pw_uid, owner.pw_gid)
                target.chmod(0o400)
            return f"`cat {shlex.quote(str(target))}`"

        script = base / "bootstrap.sql"
        script.write_text(re.sub(r"`cat ([^`]+)`", moved, sql), encoding="utf-8")
        script.chmod(0o444)
        return self._as_postgres(
            [
                *("psql", "-X", "-q", "-h", str(base / "sock"), "-p", str(self.port), "-U", "postgres"),
                *("-d", "postgres", "-v", "ON_ERROR_STOP=1", "-f", str(script)),
            ]
        )

    def query(self, sql: str) -> list[str]:
        assert self.base is not None
        result = self._as_postgres(
            ["psql", "-X", "-At", "-h", str(self.base / "sock"), "-p", str(self.port), "-U", "postgres", "-c", sql]
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    def stop(self) -> None:
        if self.process is not None:
            # A fast shutdown through pg_ctl: runuser does not pass SIGTERM on, and a smart one waits for sessions.
            assert self.base is not None and self.bindir is not None
            self._as_postgres([str(self.bindir / "pg_ctl"), "stop", "-m", "fast", "-D", str(self.base / "data")])
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[_Postgres]:
    server = _Postgres()
    try:
        yield server
    finally:
        server.stop()


def _check_sql(render: Render, config: PlatformConfig, postgres: _Postgres) -> None:
    (sql,) = (content for _, path, content in _uploads(render) if path.endswith("/bootstrap.sql"))
    if not _once("sql", sql):
        return
    result = postgres.apply(sql)
    assert result.returncode == 0, result.stderr[-2000:]
    # Read back: every database the config names exists under exactly that name.
    databases = set(postgres.query("SELECT datname FROM pg_database"))
    assert {s.database for s in config.services} <= databases


@functools.cache
def _render(raw_json: str) -> Render:
    project, _ = _base()
    raw = json.loads(raw_json)
    values = {f"{project}:{key}": value for key, value in raw.items()}
    secret = frozenset(f"{project}:{key}" for key in _secret_keys(raw))
    return engine.run(PROJECT_DIR, project, STACK, StackConfig(values=values, secret_keys=secret), RecordingMonitor())


def _check_accepted(raw: dict[str, Any], config: PlatformConfig, value: Any, postgres: _Postgres) -> None:
    render = _render(json.dumps(raw, sort_keys=True))
    _check_text_fields(render)
    _check_yaml(render, value)
    _check_shell(render)
    _check_nginx(render)
    _check_sql(render, config, postgres)


# --- the properties ---------------------------------------------------------------------------------------------


def test_the_surface_is_the_whole_settings_model() -> None:
    """Every dictionary has example keys, and the walk reaches the keys the README documents."""
    dictionaries = {path[: path.index(KEY)] for path in SURFACE if KEY in path}
    assert dictionaries == set(EXAMPLE_KEYS)
    tops = {path[0] for path in SURFACE}
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    reference = readme.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Za-z]+)[.`]", reference, re.MULTILINE))
    assert documented <= tops, documented - tops
    assert len(TARGETS) > 60


def _value_for(path: tuple[str, ...]) -> st.SearchStrategy[Any]:
    valid = VALID.get(path[-1], "1")
    if isinstance(valid, list):
        return st.lists(hostile_text, min_size=1, max_size=3) | st.builds(lambda h: [*valid, h], hostile_text)
    spoiled = st.builds(
        lambda h, at: valid[:at] + h + valid[at:], hostile_text, st.integers(min_value=0, max_value=len(valid))
    )
    return hostile_text | spoiled


cases = st.one_of(
    st.sampled_from(TARGETS).flatmap(lambda path: st.tuples(st.just(path), _value_for(path), st.none())),
    st.sampled_from([p for p in TARGETS if any(p[: len(d)] == d and len(p) > len(d) for d in DICTIONARIES)]).flatmap(
        lambda path: st.tuples(
            st.just(path),
            hostile_text,
            st.just(max(len(d) for d in DICTIONARIES if path[: len(d)] == d)),
        )
    ),
)


def _run(path: tuple[str, ...], value: Any, key_at: int | None, postgres: _Postgres | None) -> None:
    raw = _config(path, value, key_at=key_at)
    try:
        config = _resolved(raw)
    except ConfigError as error:
        _check_refusal(error, (*path[:key_at], value) if key_at is not None else path)
        return
    if postgres is not None:
        _check_accepted(raw, config, value, postgres)


@settings(max_examples=1000, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=cases)
def test_hostile_values_are_refused_with_the_key_or_resolve(case: tuple[tuple[str, ...], Any, int | None]) -> None:
    """Config checks alone, on many examples: never an exception other than the keyed ConfigError."""
    _run(*case, postgres=None)


@pytest.mark.tool("postgresql")
@pytest.mark.tool("nginx")
@settings(max_examples=30, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=cases)
@example(case=(("services", NEW, "title"), "Loyalty 'quoted' \\ $HOME `x`", None))
@example(case=(("services", NEW, "database"), "payment_l0yalty", None))
@example(case=(("services", NEW, "replicas"), "a-1", 1))
@example(case=(("kafka", "topics", "loyalty.events", "partitions"), "6", None))
@example(case=(("kafka", "topics", "loyalty.events", "partitions"), "a.b_c-d", 2))
@example(case=(("secrets", "jwt-secret"), "j'\"\\$`{}: #&*!%@|>" + "k" * 40, None))
@example(case=(("pki", "organization"), 'O\'Brien "Payments" & Co: #1 \\ $x', None))
def test_hostile_values_that_pass_render_documents_their_consumers_read_back(
    case: tuple[tuple[str, ...], Any, int | None], postgres: _Postgres
) -> None:
    """The whole program, on fewer examples: what is accepted reaches YAML, sh, nginx and psql intact."""
    _run(*case, postgres=postgres)


SPECIAL = 'O\'Brien "Q" \\ $HOME `id` ${X} $(id) #1: - & * ! % @ | > { } [ ] , é'
"""Printable, so accepted where free text is, and holding what YAML, sh, SQL and nginx treat specially."""


def test_accepted_text_with_special_characters_reaches_each_consumer_unchanged() -> None:
    key = SPECIAL + "k" * 40
    raw = _config(("smtp", "username"), SPECIAL)
    _merge(raw, {"secrets": {"gateway-operator-key": key}, "pki": {"organization": SPECIAL[:64]}})
    config = _resolved(raw)
    assert config.secrets.smtp is not None and config.secrets.smtp.username == SPECIAL
    render = _render(json.dumps(raw, sort_keys=True))
    # Kong reads its operator key from its declarative YAML.
    (kong,) = (c for _, path, c in _uploads(render) if path.endswith("/kong.yml"))
    assert key in _yaml_strings(kong)
    # notification-service gets the SMTP user as one variable, whole.
    (notification,) = (r for r in render.resources if r.type == CONTAINER and r.name.endswith("notification-service"))
    assert f"SMTP_USERNAME={SPECIAL}" in notification.revealed_inputs["envs"]
    # The CA's subject carries the organization as given.
    subjects = [r.revealed_inputs["subject"] for r in render.resources if r.type == SELF_SIGNED_CERT]
    assert subjects and all(s["organization"] == SPECIAL[:64] for s in subjects)
    _check_yaml(render, key)
    _check_shell(render)
