"""The demo stand-in: its generated nginx.conf and metrics, and Debian's real nginx serving them over mTLS.

What users rely on: with `demo` on, every service answers GET /health with `{"status":"UP",...}` and
GET /metrics with a Prometheus exposition the dashboards can query, only to clients holding a certificate
from the platform CA, while running as an arbitrary non-root uid that can write nowhere but /tmp; and the
default healthcheck (`curl` with the service's own certificate) passes against it. Among the platform CA's
certificates, only those `components.app.callers` allows on an endpoint get past 403 there: callers and
Kong on the API, Prometheus on /metrics, the operator and the service itself on /health.
"""

from __future__ import annotations

import functools
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.app.callers import Clients, service_clients
from components.app.demo import (
    METRICS_CONTENT_TYPE,
    DemoPaths,
    demo_command,
    demo_files,
    health_command,
    metrics,
    nginx_conf,
)
from components.docker.containers import mount_roots
from components.docker.hardening import DEFAULT_TMPFS
from components.pki import CA_FILE, service_cert_paths
from stacks.catalog import APP_UID, CALLS, KONG, OPERATOR, POSTGRES, PROMETHEUS, REDIS, ROUTES, SERVICES
from stacks.models import Service
from tests.conftest import faithful, free_port, require_tool, stack_config
from tests.test_pki_tls import bundle, leaf
from vocabulary import PRIVATE_KEY, SELF_SIGNED_CERT

GATEWAY = "payment-gateway"
WAIT_SECONDS = 10
TIMEOUT_SECONDS = 5


@functools.cache
def service(name: str = GATEWAY) -> Service:
    return stack_config("dev").service(name)


def allowed(served: Service) -> Clients:
    """The allow lists of `served` in the dev stack (no integration on: the routes without one lead to Kong)."""
    return service_clients(served, any(r.service == served.name and r.integration is None for r in ROUTES))


def demo_conf(served: Service, paths: DemoPaths | None = None) -> str:
    return nginx_conf(served, allowed(served), paths or DemoPaths())


# --- a small nginx config reader ----------------------------------------------------------------------

Block = list[tuple[str, list[str], "Block | None"]]
"""Directives in order: name, arguments (quotes removed), and the block of a block directive."""

_TOKEN = re.compile(r"""\s+|#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)""")


def parse_conf(text: str) -> Block:
    """nginx's config grammar, enough to read what a directive is set to and where it sits."""
    stack: list[Block] = [[]]
    words: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read the config at {text[position : position + 40]!r}"
        position = match.end()
        single, double, punctuation, bare = match.groups()
        if punctuation == ";":
            assert words, "an empty directive"
            stack[-1].append((words[0], words[1:], None))
            words = []
        elif punctuation == "{":
            block: Block = []
            stack[-1].append((words[0], words[1:], block))
            stack.append(block)
            words = []
        elif punctuation == "}":
            assert not words and len(stack) > 1, "unbalanced braces"
            stack.pop()
        elif single is not None or double is not None or bare is not None:
            words.append(next(w for w in (single, double, bare) if w is not None))
    assert len(stack) == 1 and not words, "the config ends inside a block or directive"
    return stack[0]


def one(block: Block, name: str, *arguments: str) -> Block | list[str]:
    """The block (or the arguments) of the only directive `name` (whose leading arguments are `arguments`)."""
    found = [(a, b) for n, a, b in block if n == name and a[: len(arguments)] == list(arguments)]
    assert len(found) == 1, f"{name} {' '.join(arguments)} appears {len(found)} times"
    args, sub = found[0]
    return sub if sub is not None else args


def block(parent: Block, name: str, *arguments: str) -> Block:
    found = one(parent, name, *arguments)
    assert isinstance(found, list) and (not found or isinstance(found[0], tuple)), f"{name} is not a block"
    return found  # type: ignore[return-value]


def args(parent: Block, name: str) -> list[str]:
    found = one(parent, name)
    assert all(isinstance(a, str) for a in found), f"{name} is a block"
    return found  # type: ignore[return-value]


def names(parent: Block) -> list[str]:
    return [name for name, _, _ in parent]


def everywhere(parent: Block) -> set[str]:
    """Names of the directives in `parent` and every block inside it."""
    return {name for name, _, _ in parent} | {n for _, _, sub in parent if sub is not None for n in everywhere(sub)}


# --- a strict reader of the Prometheus text format (0.0.4) ---------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^(?P<name>{_NAME})(?:\{{(?P<labels>.*)\}})? (?P<value>\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@dataclass
class Family:
    type: str
    help: str
    samples: list[tuple[str, dict[str, str], float]]


def _labels(text: str | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while text and position < len(text):
        match = _LABEL.match(text, position)
        assert match, f"bad label set {text!r}"
        assert match[1] not in labels, f"label {match[1]} twice in {text!r}"
        labels[match[1]] = match[2]
        position = match.end()
    return labels


def _family_of(sample: str, family: str, kind: str) -> bool:
    if kind == "histogram":
        return sample in (f"{family}_bucket", f"{family}_sum", f"{family}_count")
    return sample == family


def parse_exposition(text: str) -> dict[str, Family]:
    """Families by name; fails on anything a Prometheus server would reject or misread."""
    assert text.endswith("\n") and "\n\n" not in text, "one line per entry, ending in a newline"
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    current: str | None = None
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for line in text.splitlines():
        assert line == line.strip(), f"stray whitespace in {line!r}"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name) and name not in helps and name not in families, line
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name) and kind in _TYPES and name not in families, line
            families[name] = Family(kind, helps.get(name, ""), [])
            current = name
        else:
            assert not line.startswith("#"), f"unexpected comment {line!r}"
            match = _SAMPLE.match(line)
            assert match, f"bad sample line {line!r}"
            assert current is not None and _family_of(match["name"], current, families[current].type), (
                f"{match['name']} is outside its family's TYPE block"
            )
            labels = _labels(match["labels"])
            key = (match["name"], tuple(sorted(labels.items())))
            assert key not in series, f"series {key} twice"
            series.add(key)
            value = float(match["value"])
            if families[current].type in ("counter", "histogram"):
                assert value >= 0, line
            families[current].samples.append((match["name"], labels, value))
    assert set(helps) <= set(families), "HELP without TYPE"
    for name, family in families.items():
        assert family.samples, f"{name} has no samples"
        if family.type == "histogram":
            _check_histogram(name, family)
    return families


def _check_histogram(name: str, family: Family) -> None:
    groups: dict[tuple[tuple[str, str], ...], dict[str, list[tuple[float, float]]]] = {}
    for sample, labels, value in family.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        kind = sample.removeprefix(name + "_")
        if kind == "bucket":
            bound = labels["le"]
            groups.setdefault(rest, {}).setdefault(kind, []).append((float(bound), value))
        else:
            assert "le" not in labels, sample
            groups.setdefault(rest, {}).setdefault(kind, []).append((math.nan, value))
    for rest, parts in groups.items():
        buckets = parts.get("bucket", [])
        assert [b for b, _ in buckets] == sorted(b for b, _ in buckets), f"{name}{rest}: buckets out of order"
        assert buckets and buckets[-1][0] == math.inf, f"{name}{rest}: no +Inf bucket"
        counts = [c for _, c in buckets]
        assert counts == sorted(counts), f"{name}{rest}: bucket counts are not cumulative"
        assert len(parts.get("sum", [])) == 1 and len(parts.get("count", [])) == 1, f"{name}{rest}: _sum/_count"
        assert parts["count"][0][1] == counts[-1], f"{name}{rest}: _count differs from the +Inf bucket"


# --- pure builders ------------------------------------------------------------------------------------


def test_config_is_complete_and_runs_unprivileged_on_a_read_only_root() -> None:
    conf = parse_conf(demo_conf(service()))
    assert names(conf) == ["worker_processes", "pid", "error_log", "events", "http"]
    assert args(conf, "pid") == ["/tmp/nginx.pid"]
    assert DemoPaths().scratch in DEFAULT_TMPFS, "the scratch folder is the container's tmpfs"
    assert args(conf, "error_log")[0] == "stderr"
    http = block(conf, "http")
    temp = {
        d: args(http, d)
        for d in (
            "client_body_temp_path",
            "proxy_temp_path",
            "fastcgi_temp_path",
            "uwsgi_temp_path",
            "scgi_temp_path",
        )
    }
    assert all(len(a) == 1 and a[0].startswith("/tmp/") for a in temp.values()), temp
    assert len({a[0] for a in temp.values()}) == len(temp)
    assert args(http, "access_log")[0] == "/dev/stdout"
    # `daemon off` comes from the command line (nginx refuses it twice); `user` needs root.
    assert "daemon" not in everywhere(conf) and "user" not in everywhere(conf)
    assert "include" not in everywhere(conf), "nothing from the image's own config folder"


def test_server_requires_mutual_tls_with_the_services_certificate() -> None:
    gateway = service()
    server = block(block(parse_conf(demo_conf(gateway)), "http"), "server")
    cert, key = service_cert_paths(GATEWAY)
    assert [a for n, a, _ in server if n == "listen"] == [["40003", "ssl"]]
    assert args(server, "ssl_certificate") == [cert]
    assert args(server, "ssl_certificate_key") == [key]
    assert args(server, "ssl_client_certificate") == [CA_FILE]
    assert args(server, "ssl_verify_client") == ["on"]
    assert args(server, "ssl_protocols") == ["TLSv1.2", "TLSv1.3"]


def test_locations_health_metrics_and_nothing_else() -> None:
    paths = DemoPaths()
    server = block(block(parse_conf(demo_conf(service(), paths)), "http"), "server")
    assert [a for n, a, _ in server if n == "location"] == [["=", "/health"], ["=", "/metrics"], ["/"]]
    health = block(server, "location", "=", "/health")
    assert args(health, "default_type") == ["application/json"]
    status, body = args(health, "return")
    assert status == "200" and json.loads(body) == {"status": "UP", "service": GATEWAY}
    scrape = block(server, "location", "=", "/metrics")
    assert args(scrape, "alias") == [paths.metrics]
    assert args(scrape, "default_type") == [METRICS_CONTENT_TYPE]
    assert METRICS_CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    assert args(block(server, "location", "/"), "return") == ["404"]


def _map(http: Block, variable: str) -> dict[str, str]:
    entries = block(http, "map", "$mtls_client", f"${variable}")
    return {name: arguments[0] for name, arguments, _ in entries}


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_each_endpoint_admits_exactly_the_callers_list_and_refuses_the_rest_first(name: str) -> None:
    own = service(name)
    lists = allowed(own)
    http = block(parse_conf(demo_conf(own)), "http")
    # The common name comes from the verified subject only when it leads it (RFC 2253: most specific first).
    assert block(http, "map", "$ssl_client_s_dn", "$mtls_client") == [
        ("default", [""], None),
        ("~^CN=(?<mtls_cn>[a-z0-9-]+)(,|$)", ["$mtls_cn"], None),
    ]
    for variable, names in (("mtls_api", lists.api), ("mtls_health", lists.health), ("mtls_metrics", lists.metrics)):
        assert _map(http, variable) == {"default": "0", **dict.fromkeys(names, "1")}
    server = block(http, "server")
    for location, variable in (
        (("=", "/health"), "mtls_health"),
        (("=", "/metrics"), "mtls_metrics"),
        (("/",), "mtls_api"),
    ):
        first = block(server, "location", *location)[0]
        assert first[:2] == ("if", [f"(${variable}", "=", "0)"]) and first[2] == [("return", ["403"], None)], location


def test_every_catalog_service_gets_its_own_port_name_and_certificate() -> None:
    for entry in SERVICES:
        own = service(entry.name)
        server = block(block(parse_conf(demo_conf(own)), "http"), "server")
        assert args(server, "listen") == [str(entry.port), "ssl"]
        assert args(server, "ssl_certificate") == [service_cert_paths(entry.name)[0]]
        assert json.loads(args(block(server, "location", "=", "/health"), "return")[1])["service"] == entry.name


def test_a_root_prefix_moves_every_path_and_nothing_else() -> None:
    plain, rooted = demo_conf(service()), demo_conf(service(), DemoPaths(root="/srv/t"))
    paths = {w for w in re.findall(r"(?<![\w/])/[\w./-]+", plain) if w not in {"/health", "/metrics"}}
    assert paths and all(f"/srv/t{p}" in rooted for p in paths if p not in ("/", "/dev/stdout"))
    assert "/srv/t/dev/stdout" not in rooted
    assert demo_command(DemoPaths(root="/srv/t")) == [
        "nginx",
        "-c",
        "/srv/t/etc/payment/demo/nginx.conf",
        "-g",
        "daemon off;",
    ]


@pytest.mark.parametrize("bad", ["etc/demo", "/etc/demo dir", "/etc/demo;", "/etc/'x'", ""])
def test_paths_refuse_what_nginx_would_misread(bad: str) -> None:
    with pytest.raises(ValueError, match=r"DemoPaths\.folder"):
        DemoPaths(folder=bad)


def test_a_name_that_is_not_a_dns_label_never_reaches_the_config() -> None:
    odd = service().model_copy(update={"name": "x';return 200 'y"})
    for build in (lambda: demo_conf(odd), lambda: metrics(odd), lambda: health_command(odd)):
        with pytest.raises(ValueError, match="not a DNS label"):
            build()
    # A client name becomes an nginx map key: one that could close the map is refused too.
    with pytest.raises(ValueError, match="not a DNS label"):
        Clients(api=("kong 1; } map $x $y { default 1; x",), health=(), metrics=())


def test_metrics_parse_strictly_with_the_series_dashboards_query() -> None:
    families = parse_exposition(metrics(service("order-service")))
    assert {n: f.type for n, f in families.items()} == {
        "payment_demo_info": "gauge",
        "http_requests_total": "counter",
        "http_request_duration_seconds": "histogram",
    }
    assert all(f.help for f in families.values())
    assert families["payment_demo_info"].samples == [("payment_demo_info", {"service": "order-service"}, 1.0)]
    assert families["http_requests_total"].samples == [
        ("http_requests_total", {"service": "order-service", "method": "GET", "status": "200"}, 0.0)
    ]
    for _, labels, _ in families["http_request_duration_seconds"].samples:
        assert labels["service"] == "order-service"


def test_gateway_metrics_carry_the_success_rate_series() -> None:
    families = parse_exposition(metrics(service(GATEWAY)))
    payments = families["payment_gateway_payment_total"]
    assert payments.type == "counter"
    assert sorted(labels["status"] for _, labels, _ in payments.samples) == ["failed", "success"]
    assert "payment_gateway_payment_total" not in parse_exposition(metrics(service("risk-service")))


@pytest.mark.parametrize(
    "broken",
    [
        "up 1\n",  # no TYPE
        "# TYPE up gauge\nup 1",  # no final newline
        "# TYPE up gauge\nup{a=b} 1\n",  # unquoted label value
        "# TYPE up gauge\nup 1\nup 2\n",  # the same series twice
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n',  # not cumulative
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 0\nh_count 1\n',  # no +Inf bucket
        "# TYPE c counter\nc -1\n",  # a negative counter
    ],
)
def test_the_exposition_reader_rejects_what_prometheus_would(broken: str) -> None:
    with pytest.raises(AssertionError):
        parse_exposition(broken)


def test_demo_files_are_two_public_uploads_in_a_folder_of_their_own() -> None:
    gateway, paths = service(), DemoPaths()
    files = demo_files(gateway, allowed(gateway), APP_UID)
    assert dict(files.env) == {}
    uploaded = {str(u.file): u for u in files.uploads}
    assert set(uploaded) == {"/etc/payment/demo/nginx.conf", "/etc/payment/demo/metrics"}
    assert uploaded[paths.config].content == demo_conf(gateway, paths)
    assert uploaded[paths.metrics].content == metrics(gateway)
    for item in uploaded.values():
        assert (item.owner, item.group, item.permissions) == (str(APP_UID), str(APP_UID), "0444")
    # Mounted at each file's folder: the demo's folder must not hold, or sit inside, the certificates' folders.
    roots = mount_roots([*uploaded, *service_cert_paths(GATEWAY), CA_FILE])
    assert "/etc/payment/demo" in roots and len(roots) == 3


def test_demo_files_refuse_a_test_root() -> None:
    with pytest.raises(ValueError, match="root"):
        demo_files(service(), allowed(service()), APP_UID, DemoPaths(root="/srv/t"))


def test_command_runs_nginx_in_the_foreground_with_the_generated_config() -> None:
    assert demo_command() == ["nginx", "-c", "/etc/payment/demo/nginx.conf", "-g", "daemon off;"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_healthcheck_is_an_mtls_get_of_health_within_dockers_timeout(stack: str) -> None:
    gateway = stack_config(stack).service(GATEWAY)
    cert, key = service_cert_paths(GATEWAY)
    command = health_command(gateway)
    assert command == [
        "CMD",
        "curl",
        "-fsS",
        "--max-time",
        "3",
        "--cacert",
        CA_FILE,
        "--cert",
        cert,
        "--key",
        key,
        "https://localhost:40003/health",
    ]
    assert int(command[4]) < stack_config(stack).data.health.timeout_seconds


# --- Debian's real nginx running the generated config ----------------------------------------------------


def nginx_binary() -> str:
    # Debian installs nginx in /usr/sbin, which is not on every user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin") or require_tool("nginx", "nginx")


@dataclass(frozen=True)
class DemoServer:
    service: Service
    """The service as served: its port is the test's free loopback port."""
    paths: DemoPaths
    folder: Path
    """Holds `root` (the container's layout), and nginx's stdout and stderr."""
    bundle: str
    uid: int
    """The uid nginx runs as: APP_UID when the tests run as root, else the tests' own."""

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def root(self) -> Path:
        return Path(self.paths.root)

    def logs(self) -> str:
        return (self.folder / "nginx.out").read_text() + (self.folder / "nginx.err").read_text()


def _write(path: Path, text: str, mode: int, uid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)


def _remove(folder: Path) -> None:
    for directory, _, _ in os.walk(folder):
        Path(directory).chmod(0o700)
    shutil.rmtree(folder)


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def layout(subject: str = GATEWAY, clients: Clients | None = None) -> DemoServer:
    """The container's files under a fresh folder: generated config and metrics, key pair, trust bundle.

    Only `<root>/tmp` (the container's tmpfs) is writable by the uid nginx runs as; every other folder is
    read-only to it, as the container's root filesystem and files volume are.
    """
    rendered = faithful("dev")
    uid = APP_UID if os.geteuid() == 0 else os.getuid()
    folder = Path(tempfile.mkdtemp(prefix="payment-demo-"))
    paths = DemoPaths(root=str(folder / "root"))
    served = service(subject).model_copy(update={"port": free_port()})
    port = served.port
    conf = nginx_conf(served, clients or allowed(served), paths)
    # The service listens on every address in its container; the test server stays on loopback.
    assert conf.count(f"listen {port} ssl;") == 1
    conf = conf.replace(f"listen {port} ssl;", f"listen 127.0.0.1:{port} ssl;")
    cert, key = leaf(rendered, subject)
    cert_path, key_path = service_cert_paths(subject)
    root = Path(paths.root)
    _write(root / paths.config.lstrip("/"), conf, 0o444, uid)
    _write(root / paths.metrics.lstrip("/"), metrics(served), 0o444, uid)
    _write(root / cert_path.lstrip("/"), cert, 0o444, uid)
    _write(root / key_path.lstrip("/"), key, 0o400, uid)
    _write(root / CA_FILE.lstrip("/"), bundle(rendered), 0o444, uid)
    scratch = root / paths.scratch.lstrip("/")
    scratch.mkdir()
    for directory, _, _ in os.walk(root):
        Path(directory).chmod(0o555)
    scratch.chmod(0o700)
    # nginx reopens /dev/stdout, so its stdout and stderr must belong to its uid, as runc makes them in Docker.
    for name in ("nginx.out", "nginx.err"):
        _write(folder / name, "", 0o600, uid)
    if os.geteuid() == 0:
        os.chown(scratch, uid, uid)
    folder.chmod(0o755)
    return DemoServer(service=served, paths=paths, folder=folder, bundle=bundle(rendered), uid=uid)


def run_nginx(server: DemoServer, *extra: str) -> subprocess.Popen[bytes]:
    command = demo_command(server.paths)
    assert command[0] == "nginx"
    argv = [nginx_binary(), *extra, *command[1:]]
    with (server.folder / "nginx.out").open("ab") as out, (server.folder / "nginx.err").open("ab") as err:
        if os.geteuid() == 0:
            # Root drops to APP_UID, so the test sees what the container's arbitrary uid can and cannot do.
            uid = server.uid
            return subprocess.Popen(argv, stdout=out, stderr=err, user=uid, group=uid, extra_groups=[])
        return subprocess.Popen(argv, stdout=out, stderr=err)


@contextmanager
def demo_server(subject: str = GATEWAY, clients: Clients | None = None) -> Iterator[DemoServer]:
    """Debian's nginx running the generated config for `subject` as a non-root uid, stopped on exit."""
    nginx_binary()
    server = layout(subject, clients)
    process: subprocess.Popen[bytes] | None = None
    try:
        process = run_nginx(server)
        deadline = time.monotonic() + WAIT_SECONDS
        while not _accepting(server.port):
            if process.poll() is not None:
                pytest.fail(f"nginx exited with {process.returncode}:\n{server.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"nginx accepted no connection within {WAIT_SECONDS}s:\n{server.logs()}")
            time.sleep(0.1)
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        _remove(server.folder)


def client(trust: str, identity: tuple[str, str] | None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A TLS client trusting `trust` and presenting `identity` (certificate and key PEM), if any."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=trust)
    if maximum is not None:
        context.maximum_version = maximum
    if identity is not None:
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_text(identity[0])
            key.write_text(identity[1])
            context.load_cert_chain(cert, key)
    return context


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    tls_version: str | None


def get(server: DemoServer, path: str, context: ssl.SSLContext, host: str = "127.0.0.1") -> Answer:
    connection = http.client.HTTPSConnection(host, server.port, context=context, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        tls = connection.sock.version() if isinstance(connection.sock, ssl.SSLSocket) else None
        return Answer(response.status, response.getheader("Content-Type") or "", body, tls)
    finally:
        connection.close()


def operator() -> tuple[str, str]:
    return leaf(faithful("dev"), OPERATOR)


def holder(subject: str) -> tuple[str, str]:
    """The dev stack's certificate and key of `subject` (a service, kong, prometheus, redis, postgres, operator)."""
    return leaf(faithful("dev"), subject)


def signed_by_the_platform_ca(subject: x509.Name) -> tuple[str, str]:
    """A client certificate for `subject` that the dev stack's own CA signs: a subject the PKI never issues."""
    rendered = faithful("dev")
    ca_cert = x509.load_pem_x509_certificate(
        str(rendered.get(SELF_SIGNED_CERT, "payment-pki-ca0").revealed_outputs["certPem"]).encode()
    )
    ca_key = serialization.load_pem_private_key(
        str(rendered.get(PRIVATE_KEY, "payment-pki-ca0-key").revealed_outputs["privateKeyPem"]).encode(), None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    plain = serialization.NoEncryption()
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, plain).decode(),
    )


@pytest.fixture(scope="module")
def live() -> Iterator[DemoServer]:
    with demo_server() as server:
        yield server


@pytest.mark.tool("nginx")
def test_nginx_accepts_the_generated_config() -> None:
    nginx_binary()
    server = layout()
    try:
        process = run_nginx(server, "-t")
        assert process.wait(timeout=30) == 0, server.logs()
        assert "test is successful" in server.logs()
    finally:
        _remove(server.folder)


@pytest.mark.tool("nginx")
def test_health_answers_the_operator_over_tls13(live: DemoServer) -> None:
    answer = get(live, "/health", client(live.bundle, operator()))
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert json.loads(answer.body) == {"status": "UP", "service": GATEWAY}
    assert answer.tls_version == "TLSv1.3"


@pytest.mark.tool("nginx")
def test_tls12_is_still_accepted(live: DemoServer) -> None:
    answer = get(live, "/health", client(live.bundle, operator(), maximum=ssl.TLSVersion.TLSv1_2))
    assert (answer.status, answer.tls_version) == (200, "TLSv1.2")


@pytest.mark.tool("nginx")
def test_metrics_serve_the_exposition_as_prometheus_text(live: DemoServer) -> None:
    answer = get(live, "/metrics", client(live.bundle, holder(PROMETHEUS.name)))
    assert (answer.status, answer.content_type) == (200, METRICS_CONTENT_TYPE)
    assert answer.body.decode() == metrics(live.service)
    assert "payment_gateway_payment_total" in parse_exposition(answer.body.decode())


@pytest.mark.tool("nginx")
@pytest.mark.parametrize("path", ["/", "/health/", "/healthz", "/metrics/x", "/etc/payment/demo/nginx.conf"])
def test_everything_else_is_not_found_by_an_allowed_caller(live: DemoServer, path: str) -> None:
    assert get(live, path, client(live.bundle, holder(KONG.name))).status == 404


@pytest.mark.tool("nginx")
def test_a_client_without_a_certificate_is_refused(live: DemoServer) -> None:
    # TLS 1.3 finishes the handshake before the server looks at the (missing) certificate; nginx then answers 400.
    answer = get(live, "/health", client(live.bundle, None))
    assert answer.status == 400
    assert b"No required SSL certificate was sent" in answer.body
    assert b"UP" not in answer.body


@pytest.mark.tool("nginx")
def test_a_certificate_from_another_ca_is_refused(live: DemoServer) -> None:
    stranger = leaf(faithful("staging", "profile=prod", "demo=true"), "operator")  # another stack, another CA
    assert stranger != operator()
    answer = get(live, "/metrics", client(live.bundle, stranger))
    assert answer.status == 400
    assert b"The SSL certificate error" in answer.body
    assert b"http_requests_total" not in answer.body


@pytest.mark.tool("nginx")
def test_the_server_certificate_is_checked_against_the_bundle(live: DemoServer) -> None:
    other = bundle(faithful("staging", "profile=prod", "demo=true"))
    with pytest.raises(ssl.SSLCertVerificationError):
        get(live, "/health", client(other, operator()))


@pytest.mark.tool("nginx")
def test_nginx_writes_only_under_tmp_and_logs_to_stdout(live: DemoServer) -> None:
    get(live, "/health", client(live.bundle, operator()))
    scratch = live.root / "tmp"
    assert {p.name for p in scratch.iterdir()} >= {"nginx.pid", "nginx-client-body", "nginx-proxy"}
    assert all(p.stat().st_uid == live.uid for p in scratch.iterdir())
    assert (scratch / "nginx.pid").read_text().strip().isdigit()
    deadline = time.monotonic() + WAIT_SECONDS
    while "CN=operator" not in (live.folder / "nginx.out").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    access = (live.folder / "nginx.out").read_text()
    assert '"GET /health HTTP/1.1" 200' in access and "CN=operator" in access
    assert "[emerg]" not in live.logs() and "[crit]" not in live.logs()


@pytest.mark.tool("nginx")
def test_the_default_healthcheck_passes_with_real_curl(live: DemoServer) -> None:
    curl = require_tool("curl", "curl")
    command = health_command(live.service)
    assert command[:2] == ["CMD", "curl"]
    # Container paths map into the test's root; the URL stays https://localhost:<port>/health.
    local = [live.paths.local(a) if a.startswith("/app/") else a for a in command[2:]]
    result = subprocess.run([curl, *local], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "UP", "service": GATEWAY}
    # The same check fails when the service is down: curl -f turns a refused connection into a non-zero exit.
    dead = [a.replace(f":{live.port}/", f":{free_port()}/") for a in local]
    assert subprocess.run([curl, *dead], capture_output=True, timeout=30, check=False).returncode != 0


PAYERS = sorted(caller for caller, upstreams in CALLS.items() if GATEWAY in upstreams)
"""The services that call payment-gateway in the catalog's call graph."""
STRANGER = "risk-service"
"""payment-gateway calls it; it does not call payment-gateway."""
API = "/api/v1/payments/x"


@pytest.mark.tool("nginx")
@pytest.mark.parametrize(
    ("subject", "path", "status"),
    [
        *(
            (payer, path, status)
            for payer in PAYERS
            for path, status in (("/health", 200), (API, 404), ("/metrics", 403))
        ),
        (KONG.name, API, 404),  # a public route leads to payment-gateway
        (KONG.name, "/health", 200),  # Kong's active health checks
        (STRANGER, "/health", 403),
        (STRANGER, API, 403),
        (PROMETHEUS.name, "/metrics", 200),
        (PROMETHEUS.name, "/health", 403),
        (PROMETHEUS.name, API, 403),
        (OPERATOR, "/health", 200),
        (OPERATOR, "/metrics", 403),
        (OPERATOR, API, 403),
        (GATEWAY, "/health", 200),  # its own Docker healthcheck
        (GATEWAY, API, 403),
        (REDIS.name, "/health", 403),
        (POSTGRES.name, "/metrics", 403),
        (POSTGRES.name, API, 403),
    ],
)
def test_only_the_allow_list_of_each_endpoint_gets_past_403(
    live: DemoServer, subject: str, path: str, status: int
) -> None:
    assert PAYERS and STRANGER not in PAYERS and STRANGER in CALLS[GATEWAY]
    answer = get(live, path, client(live.bundle, holder(subject)))
    assert answer.status == status, (subject, path, answer)
    if status == 403:
        # The handshake completed (an HTTP answer came back); the body is nginx's, not the endpoint's.
        assert b"403 Forbidden" in answer.body and b"UP" not in answer.body and b"http_requests" not in answer.body


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(oid, value)]) for oid, value in attributes])


PLATFORM_OU = (NameOID.ORGANIZATIONAL_UNIT_NAME, "payment-platform")


@pytest.mark.tool("nginx")
@pytest.mark.parametrize(
    ("subject", "status"),
    [
        # The control: the same issuer and layout as the PKI's own leaves (CN last in the certificate).
        (_name(PLATFORM_OU, (NameOID.COMMON_NAME, "cashier-service")), 200),
        (_name(PLATFORM_OU, (NameOID.COMMON_NAME, "cashier-service-x")), 403),  # a caller's name as a prefix
        (_name(PLATFORM_OU, (NameOID.COMMON_NAME, "Cashier-Service")), 403),  # names are compared exactly
        (_name((NameOID.ORGANIZATIONAL_UNIT_NAME, "cashier-service"), (NameOID.COMMON_NAME, STRANGER)), 403),
        (_name((NameOID.COMMON_NAME, "cashier-service"), PLATFORM_OU), 403),  # the CN does not lead the subject
        (_name((NameOID.ORGANIZATION_NAME, "cashier-service")), 403),  # no CN at all
        (_name(PLATFORM_OU, (NameOID.COMMON_NAME, "cashier-service,OU=x")), 403),  # RFC 2253 escapes the comma
    ],
)
def test_only_the_common_name_leading_the_subject_counts(live: DemoServer, subject: x509.Name, status: int) -> None:
    assert "cashier-service" in PAYERS
    answer = get(live, "/health", client(live.bundle, signed_by_the_platform_ca(subject)))
    assert answer.status == status, (subject.rfc4514_string(), answer)


@pytest.mark.tool("nginx")
def test_a_caller_named_like_a_map_parameter_is_a_key_not_the_default() -> None:
    """A stack may add a service called `default`: it is admitted, and everybody else still is not."""
    gateway = service()
    clients = Clients(api=("default",), health=("default",), metrics=(PROMETHEUS.name,))
    assert "        \\default 1;\n" in nginx_conf(gateway, clients, DemoPaths())
    named_default = signed_by_the_platform_ca(_name(PLATFORM_OU, (NameOID.COMMON_NAME, "default")))
    with demo_server(GATEWAY, clients) as server:
        assert get(server, API, client(server.bundle, named_default)).status == 404
        assert get(server, API, client(server.bundle, holder(STRANGER))).status == 403
        assert get(server, "/health", client(server.bundle, holder(OPERATOR))).status == 403
