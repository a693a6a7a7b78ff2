"""The demo stand-in: what a service container runs when `demo` is on and the service has no image of its own.

Every service then runs the pinned nginx-unprivileged image (`stacks.catalog.DEMO_IMAGE`, or the stack's
`images.demo`) with a generated `nginx.conf` and a static Prometheus exposition, so the whole platform
(network, mTLS, healthchecks, scraping, gateway routes) can be stood up and checked before any real service
image exists. This module holds the pure builders only; the service component attaches `demo_files` and the
PKI's certificate files to the container and runs `demo_command`.

Shaped by the hardened container baseline (`components.docker.containers`):

* The container runs as an arbitrary uid (APP_UID, not the image's 101) on a read-only root filesystem with
  a tmpfs at /tmp. The generated file is a complete `nginx.conf`, not a server snippet for the image's own
  config, so nothing depends on the image's files being writable by that uid: the pid file and every temp
  path (request bodies, proxy, fastcgi, uwsgi, scgi) are under /tmp; the error log goes to stderr and the
  access log to stdout, i.e. to Docker's json-file log. `daemon off` comes from the command line, as the
  image's own CMD does; nginx refuses a config that repeats it.
* mTLS is required, as real services require it: the server presents the service's own certificate
  (`components.pki.service_cert_paths`) and only answers clients with a certificate from the platform CA
  (`ssl_verify_client on`); TLS 1.2 and 1.3 only.
* Authorization, as real services are told by `MTLS_*_CLIENTS` (`components.app.callers`): a `map` takes the
  common name from the verified client subject, one map per endpoint turns it into an allowed flag, and each
  location answers 403 to a name its list does not hold. nginx writes `$ssl_client_s_dn` in RFC 2253 form
  (since 1.11.6), most specific RDN first; pulumi-tls (Go's x509) puts the CN last in the certificate, so it
  leads the string: `CN=order-service,OU=...,O=...`. The pattern is anchored there and case-sensitive, and
  RFC 2253 puts a backslash before a comma inside a value, so no other field can pass for the CN.
* IPv4 only: a `listen [::]:<port>` stops nginx at start when the kernel or container has no IPv6, and
  the platform network is IPv4. The healthcheck's `localhost` falls back from ::1 to 127.0.0.1.
* The generated files sit in a folder of their own (`DemoPaths.folder`): the files volume is mounted
  read-only at each uploaded file's folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from components.app.callers import HEALTH_PATH, METRICS_PATH, Clients
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.pki import CA_FILE, service_cert_paths
from stacks.catalog import APP_UID, DEMO_IMAGE
from stacks.models import SERVICE_NAME, Service

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus text exposition format 0.0.4."""

HEALTH_TIMEOUT_SECONDS = 3
"""`curl --max-time` of the healthcheck; below the profiles' Docker healthcheck timeout (5 s)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of `http_request_duration_seconds`: the Prometheus client libraries' defaults."""

_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9._-]+)*")


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo's files are inside the container.

    `root` prefixes every path nginx is told about, so tests run the same layout in a temporary folder;
    it stays empty in a container.
    """

    folder: str = "/etc/payment/demo"
    """Folder of the generated files: the files volume is mounted here, read-only."""
    scratch: str = "/tmp"
    """The only writable place (the container's tmpfs): pid file and temp folders."""
    root: str = ""
    """Prefix of every path in the config and command (tests only)."""

    def __post_init__(self) -> None:
        for name in ("folder", "scratch", "root"):
            value = getattr(self, name)
            if not _SAFE_PATH.fullmatch(value) or (name != "root" and not value):
                raise ValueError(f"DemoPaths.{name}: expected an absolute path of plain names, got {value!r}")

    @property
    def config(self) -> str:
        """The generated nginx.conf, inside the container."""
        return f"{self.folder}/nginx.conf"

    @property
    def metrics(self) -> str:
        """The static Prometheus exposition served at /metrics, inside the container."""
        return f"{self.folder}/metrics"

    def local(self, path: str) -> str:
        """Where nginx finds the container path `path` (the path itself unless `root` is set)."""
        return f"{self.root}{path}"


def _checked(service: Service) -> str:
    # The name goes into nginx string literals and metric label values unescaped.
    if not SERVICE_NAME.fullmatch(service.name):
        raise ValueError(f"service name {service.name!r} is not a DNS label")
    return service.name


def health_body(service: Service) -> str:
    """The JSON /health answers with, in the shape the platform's Spring services use."""
    return json.dumps({"status": "UP", "service": _checked(service)}, separators=(",", ":"))


_MAP_PARAMETERS = frozenset({"default", "hostnames", "include", "volatile"})
"""Words nginx reads as a `map` parameter, not a key, unless escaped with a backslash (a service may be called
`default`: unescaped, it would replace the map's default and admit everybody)."""


def _allowed(variable: str, names: tuple[str, ...]) -> str:
    """An nginx `map` of the client's common name to 1 when `names` holds it, else 0."""
    keys = ("\\" + name if name in _MAP_PARAMETERS else name for name in names)
    entries = "".join(f"        {key} 1;\n" for key in keys)
    return f"    map $mtls_client ${variable} {{\n        default 0;\n{entries}    }}\n"


def nginx_conf(service: Service, clients: Clients, paths: DemoPaths) -> str:
    """A complete nginx.conf serving /health and /metrics for `service` over mutual TLS on its port, to the
    clients `clients` allows on each (403 to any other certificate of the platform CA)."""
    name = _checked(service)
    cert, key = service_cert_paths(name)
    scratch = paths.local(paths.scratch)
    return f"""\
# Demo stand-in for {name}, generated by components/demo.py. Started as
# `nginx -c {paths.local(paths.config)} -g 'daemon off;'` by a non-root user on a read-only root.
worker_processes 1;
pid {scratch}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 256;
}}

http {{
    client_body_temp_path {scratch}/nginx-client-body;
    proxy_temp_path {scratch}/nginx-proxy;
    fastcgi_temp_path {scratch}/nginx-fastcgi;
    uwsgi_temp_path {scratch}/nginx-uwsgi;
    scgi_temp_path {scratch}/nginx-scgi;

    # The verified client certificate's common name; "" for anything else (no CN first, odd characters).
    map $ssl_client_s_dn $mtls_client {{
        default "";
        "~^CN=(?<mtls_cn>[a-z0-9-]+)(,|$)" $mtls_cn;
    }}
{_allowed("mtls_api", clients.api)}{_allowed("mtls_health", clients.health)}{_allowed("mtls_metrics", clients.metrics)}
    log_format mtls '$remote_addr "$ssl_client_s_dn" "$request" $status $body_bytes_sent $request_time';
    access_log /dev/stdout mtls;

    server_tokens off;
    keepalive_timeout 15s;
    client_max_body_size 1k;
    default_type application/octet-stream;

    server {{
        listen {service.port} ssl;
        server_name {name};

        ssl_certificate {paths.local(cert)};
        ssl_certificate_key {paths.local(key)};
        ssl_client_certificate {paths.local(CA_FILE)};
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers off;
        ssl_session_tickets off;

        # Each `if` runs before the location's content: an unlisted client never sees the body.
        location = {HEALTH_PATH} {{
            if ($mtls_health = 0) {{
                return 403;
            }}
            types {{ }}
            default_type application/json;
            return 200 '{health_body(service)}';
        }}

        location = {METRICS_PATH} {{
            if ($mtls_metrics = 0) {{
                return 403;
            }}
            types {{ }}
            default_type "{METRICS_CONTENT_TYPE}";
            alias {paths.local(paths.metrics)};
        }}

        # The API: the stand-in has none, so an allowed caller gets 404 and anybody else 403.
        location / {{
            if ($mtls_api = 0) {{
                return 403;
            }}
            return 404;
        }}
    }}
}}
"""


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def _bound(le: float) -> str:
    return repr(float(le))


def metrics(service: Service) -> str:
    """A static Prometheus exposition with the series a real service exports and the dashboards query.

    The stand-in counts nothing, so counters and the latency histogram stay at zero; `payment_demo_info`
    tells a dashboard reader that the numbers come from the stand-in.
    """
    name = _checked(service)
    lines = [
        "# HELP payment_demo_info The demo stand-in serves this service (always 1).",
        "# TYPE payment_demo_info gauge",
        f"payment_demo_info{_labels(service=name)} 1",
        "# HELP http_requests_total HTTP requests handled, by method and status code.",
        "# TYPE http_requests_total counter",
        f"http_requests_total{_labels(service=name, method='GET', status='200')} 0",
        "# HELP http_request_duration_seconds Time to answer an HTTP request.",
        "# TYPE http_request_duration_seconds histogram",
        *(f"http_request_duration_seconds_bucket{_labels(service=name, le=_bound(le))} 0" for le in LATENCY_BUCKETS),
        f"http_request_duration_seconds_bucket{_labels(service=name, le='+Inf')} 0",
        f"http_request_duration_seconds_sum{_labels(service=name)} 0",
        f"http_request_duration_seconds_count{_labels(service=name)} 0",
    ]
    if name == "payment-gateway":
        # The seed's success-rate panel: sum(rate(..{status="success"})) / sum(rate(..)).
        lines += [
            "# HELP payment_gateway_payment_total Payments processed, by outcome.",
            "# TYPE payment_gateway_payment_total counter",
            'payment_gateway_payment_total{status="success"} 0',
            'payment_gateway_payment_total{status="failed"} 0',
        ]
    return "\n".join(lines) + "\n"


def demo_files(service: Service, clients: Clients, uid: int, paths: DemoPaths = DemoPaths()) -> ContainerFiles:
    """The generated config and metrics, public (0444) and owned by `uid`; certificates come from the PKI."""
    if paths.root:
        raise ValueError("DemoPaths.root is for running the layout outside a container; uploads need it empty")
    return ContainerFiles(
        uploads=(
            upload(paths.config, nginx_conf(service, clients, paths), uid, PUBLIC_READ),
            upload(paths.metrics, metrics(service), uid, PUBLIC_READ),
        )
    )


def demo_command(paths: DemoPaths = DemoPaths()) -> list[str]:
    """The container command: nginx in the foreground with the generated config."""
    return ["nginx", "-c", paths.local(paths.config), "-g", "daemon off;"]


def health_command(service: Service) -> list[str]:
    """The default Docker healthcheck of a service: GET /health over mTLS with the service's own certificate.

    The certificate is valid for localhost, so curl verifies the server as any peer would; the service's own
    name is on its /health allow list (`components.app.callers`) for this check.
    """
    cert, key = service_cert_paths(_checked(service))
    return [
        "CMD",
        "curl",
        "-fsS",
        "--max-time",
        str(HEALTH_TIMEOUT_SECONDS),
        "--cacert",
        CA_FILE,
        "--cert",
        cert,
        "--key",
        key,
        f"https://localhost:{service.port}/health",
    ]


IMAGE_CONTRACT = ImageContract(
    stands_for=DEMO_IMAGE,
    local="demo",
    # The image's own user is 101; service containers always run as APP_UID.
    user=None,
    run_as=f"{APP_UID}:{APP_UID}",
    # `demo_command()` is run through the image's entrypoint.
    entrypoint=("/docker-entrypoint.sh",),
    # The server (with the ssl module: the probe) and the healthcheck's client.
    executables=(demo_command()[0], "curl"),
    # The container's tmpfs: APP_UID writes the pid file and temp folders there.
    paths=(PathContract(DemoPaths().scratch, owner="0:0", mode=0o1777),),
    probe=("sh", "-c", "nginx -V 2>&1 | grep -q -- --with-http_ssl_module"),
)
"""What this module relies on from `nginxinc/nginx-unprivileged:1.29.5-alpine` (checked by tests/images)."""
