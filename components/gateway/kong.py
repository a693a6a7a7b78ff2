"""Kong, the platform's only public entry point: a DB-less gateway configured from the service catalog.

Creates the pulled image and the `payment-kong` container (alias `kong`). Its whole routing table is one
declarative file generated here (`declarative_config`, rendered by `render_yaml`): one Kong service and
one upstream per routed catalog service, routes from the catalog's `ROUTES` (each with its own per-client rate
limit; operator-only routes behind `ip-restriction` and `key-auth`), the `operator` consumer, and five global
plugins (default rate limit, request size limit, X-Request-ID correlation, HSTS, Prometheus metrics). Shaped this way:

* DB-less (`KONG_DATABASE=off`): the file is the configuration, so `pulumi preview` shows every change
  to the gateway as a change of one upload, and a change replaces the container (the Admin API of a
  DB-less node is read-only anyway). No database, no migrations, nothing to drift.
* Services are reached the way services reach each other: over HTTPS with mutual TLS. Each Kong service
  has `tls_verify` on against the platform CA, held in the file as `ca_certificates` entities. Kong
  accepts exactly one certificate per such entity, so each CA of the trust bundle gets its own entity
  (during a CA rotation the bundle holds two). Each entity's id is a UUIDv5 of its certificate: the
  same bundle always renders the same file.
* Kong's client certificate is the global `client_ssl` setting pointing at two files, not a
  `certificates` entity: an entity would put the private key into the declarative file. Kong's active health
  checks present the same global certificate when the upstream names none.
* The declarative file is a secret upload (0400, readable by Kong alone): it holds the operator consumer's
  key-auth key, and Kong OSS 3.9 cannot take that key from a vault reference (key-auth's `key` is not a
  referenceable field). `pulumi preview` therefore shows that the file changes, not its text; `declarative_config`
  renders the same document with any key for tests and reviews.
* The public edge (issue 14): the only proxy listener is TLS (`KONG_PROXY_LISTEN ... ssl`, TLS 1.2 and 1.3 through
  Kong's `intermediate` suite), serving `gateway.tls.*` from stack config, or the platform CA's `kong` certificate
  when unset (dev). There is no plain-HTTP listener to publish; every route also says `protocols: [https]`, so a
  plain listener added later would answer 426, not serve. HSTS is Kong OSS's way: the `response-transformer`
  plugin, globally, so Kong's own answers (401, 403, 404, 429) carry it too. Behind a load balancer
  (`gateway.trustedProxies`), Kong takes the client address from X-Forwarded-For sent by those peers only
  (`KONG_TRUSTED_IPS`, `KONG_REAL_IP_*`): rate limits and the operator allow-list then count real clients.
* Targets are container names (`payment-payment-gateway-2:40003`), so Kong balances over every replica
  and health-checks each one; the upstream's `host_header` (`payment-gateway.payment-network`) is the
  name Kong sends as Host and SNI and verifies in the service's certificate, which is issued for that
  name, not for the container's. Active checks send the same name as SNI (`https_sni`) and verify it
  against `lua_ssl_trusted_certificate` (the CA bundle file), the trust store of Kong's own sockets.
* The root filesystem stays read-only: Kong writes only its prefix (rendered nginx.conf, the in-memory
  configuration store, sockets, buffered request bodies), which lives on a tmpfs at `/tmp/kong`.
* Listeners: the TLS proxy on 0.0.0.0:8443 (published on 40080 where the profile says: 127.0.0.1 in dev,
  0.0.0.0 in prod); the Admin API on 127.0.0.1:8001 inside the container only and never published;
  Kong Manager (on by default since 3.4) off; the read-only Status API on 0.0.0.0:8100 for /status and
  the Prometheus plugin's /metrics, reachable on the platform network only.

Facts about the `kong` image this relies on (kong:3.9.1, Ubuntu 24.04 based): it runs as the `kong`
user, which the package's post-install script creates after the base image's `ubuntu` user (1000), so
1001:1001; curl is removed from the image, so the healthcheck is `kong health`, as the image's own.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from types import MappingProxyType
from typing import Any

import pulumi
import pulumi_docker as docker
import yaml

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.image_contract import ImageContract, PathContract
from components.pki import LeafCertificate, tls_uploads
from stacks.catalog import KONG, ROUTES, CatalogRoute, Integration
from stacks.models import Gateway, Infrastructure, Service

KONG_UID = 1001
"""The image's `kong` user and group (created after Ubuntu 24.04's `ubuntu` user, 1000); owns the files."""

STATUS = "status"
"""The catalog's read-only Status API (/status, /metrics): Prometheus scrapes it over the platform network."""
ADMIN_LISTEN = f"127.0.0.1:{KONG.ports['admin']}"
"""Loopback inside the container, never published: read-only in DB-less mode, but it lists the whole configuration."""

FORMAT_VERSION = "3.0"
HEALTH_PATH = "/health"
"""What every service serves for probes (the same endpoint its Docker healthcheck calls)."""

CORRELATION_HEADER = "X-Request-ID"

OPERATOR_CONSUMER = "operator"
OPERATOR_KEY_HEADER = "X-Operator-Key"
"""Where an operator sends the `operatorApiKey` (key-auth's `key_names`); never in the query string, which logs keep."""

HSTS_HEADER = "Strict-Transport-Security"
HSTS_VALUE = "max-age=31536000; includeSubDomains"
"""One year, the gateway's whole domain: a browser that once reached the gateway never tries plain HTTP again."""

TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS_CIPHER_SUITE = "intermediate"
"""Kong's preset (Mozilla's intermediate): forward-secret AEAD ciphers, TLS 1.2 and 1.3. The preset sets the
protocols itself; `KONG_SSL_PROTOCOLS` says the same, for a reader and for `custom` one day."""

DNS_VALID_TTL_SECONDS = 10
"""Docker's embedded DNS answers with a 600 s TTL; a replaced container's new address must not wait that long."""

PREFIX_TMPFS = MappingProxyType({"/tmp": "rw,noexec,nosuid,size=128m"})
"""Kong's prefix and `resty`'s scratch folders. Sized for request bodies Kong buffers to disk (anything
above its 8k in-memory buffer, up to the request size limit) for a handful of concurrent uploads."""

_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "kong.payment-platform")
_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class KongPaths:
    """Where things live inside the container."""

    declarative: str = "/etc/kong/declarative/kong.yml"
    """The generated routing table (public)."""
    cert: str = "/etc/kong/tls/kong.crt"
    """Kong's certificate, presented to services (and to their health endpoints) as the client certificate."""
    key: str = "/etc/kong/tls/kong.key"
    ca: str = "/etc/kong/tls/ca.crt"
    """The trust bundle: what Kong's own sockets (active health checks) verify services against."""
    server_cert: str = "/etc/kong/tls/public.crt"
    """The public certificate chain from `gateway.tls.certificate`, when set; else Kong serves `cert`."""
    server_key: str = "/etc/kong/tls/public.key"
    prefix: str = "/tmp/kong"
    """Kong's working directory, on the tmpfs: the root filesystem stays read-only."""


# --- the declarative configuration (pure) ----------------------------------------------------------------


def routes(integrations: frozenset[Integration]) -> tuple[CatalogRoute, ...]:
    """The routes a stack with `integrations` switched on serves: the catalog's, minus those whose integration is
    off."""
    return tuple(r for r in ROUTES if r.integration is None or r.integration in integrations)


def ca_certificates(ca_bundle: str) -> list[dict[str, str]]:
    """One `ca_certificates` entity per CA in the bundle (Kong refuses two certificates in one entity)."""
    pems = [match.group(0).replace("\r\n", "\n") + "\n" for match in _CERTIFICATE.finditer(ca_bundle)]
    if not pems:
        raise ValueError("the trust bundle holds no PEM certificate; Kong could verify no service")
    return [{"id": str(uuid.uuid5(_ID_NAMESPACE, pem)), "cert": pem} for pem in pems]


def upstream_name(service: str) -> str:
    """The virtual host a Kong service points at; Kong balances it over the upstream's targets."""
    return f"{service}.upstream"


def _upstream(service: Service) -> dict[str, Any]:
    tls_name = service.dns_name
    return {
        "name": upstream_name(service.name),
        # Host header and TLS name (SNI, certificate check) for proxied requests: the service's
        # certificate names `<service>.<domain>`, not the container names the targets use.
        "host_header": tls_name,
        "healthchecks": {
            # Probes every replica; an unhealthy one stops receiving traffic until it passes again.
            "active": {
                "type": "https",
                "http_path": HEALTH_PATH,
                "https_sni": tls_name,
                "https_verify_certificate": True,
                "timeout": 3,
                "concurrency": 10,
                "healthy": {"interval": 10, "successes": 2},
                "unhealthy": {"interval": 5, "http_failures": 3, "tcp_failures": 2, "timeouts": 3},
            },
            # Takes a replica out as soon as proxied requests fail at the connection or gateway level; an
            # application's own 500 is not a sign of a dead replica (Kong's default list counts it).
            "passive": {
                "type": "https",
                "healthy": {"successes": 5},
                "unhealthy": {
                    "http_statuses": [502, 503, 504],
                    "http_failures": 5,
                    "tcp_failures": 2,
                    "timeouts": 3,
                },
            },
        },
        "targets": [{"target": target, "weight": 100} for target in service.targets],
    }


def rate_limiting(per_minute: int) -> dict[str, Any]:
    """Per client address, counted in this node's memory: one Kong node, so nothing to share. Kong counts each
    route apart, whatever the plugin's scope."""
    return {"name": "rate-limiting", "config": {"minute": per_minute, "policy": "local", "limit_by": "ip"}}


def operator_plugins(admin_allow: Sequence[IPv4Network]) -> list[dict[str, Any]]:
    """An operator-only route: a source network from the allow-list (403 otherwise), then the operator's key (401
    without it). Kong OSS has no client-certificate authentication (mtls-auth is Enterprise)."""
    return [
        {"name": "ip-restriction", "config": {"allow": [str(network) for network in admin_allow]}},
        {
            "name": "key-auth",
            "config": {
                "key_names": [OPERATOR_KEY_HEADER],
                "key_in_header": True,
                "key_in_query": False,
                "key_in_body": False,
                # The admin back end never sees the key: a log line or a dump there cannot leak it.
                "hide_credentials": True,
            },
        },
    ]


def _route(service: Service, route: CatalogRoute, gateway: Gateway) -> dict[str, Any]:
    extra = operator_plugins(gateway.admin_allow) if route.operators_only else []
    return {
        "name": f"{service.name}-{route.name}",
        "protocols": ["https"],
        "paths": [route.path],
        "strip_path": False,
        # Host must stay the service's name: it is what Kong verifies in the service's certificate.
        "preserve_host": False,
        "plugins": [rate_limiting(gateway.route_limits[route.name]), *extra],
    }


def _service(
    service: Service, service_routes: Sequence[CatalogRoute], ca_ids: Sequence[str], gateway: Gateway
) -> dict[str, Any]:
    return {
        "name": service.name,
        "protocol": "https",
        "host": upstream_name(service.name),
        "port": service.port,
        "tls_verify": True,
        "ca_certificates": list(ca_ids),
        "routes": [_route(service, route, gateway) for route in service_routes],
    }


def plugins(gateway: Gateway) -> list[dict[str, Any]]:
    """Global plugins: they apply to every route (a route's own plugin of the same name replaces the global one)."""
    return [
        # The default: Kong's own /health, and any route without a limit of its own.
        rate_limiting(gateway.rate_limit_per_minute),
        {
            "name": "request-size-limiting",
            "config": {"allowed_payload_size": gateway.max_request_megabytes, "size_unit": "megabytes"},
        },
        # A fresh UUID per request (unless the client sent one), passed to the service and echoed back, so
        # a merchant's support ticket can quote the id the logs and traces carry.
        {
            "name": "correlation-id",
            "config": {"header_name": CORRELATION_HEADER, "generator": "uuid", "echo_downstream": True},
        },
        # HSTS on every answer, Kong's own included. `replace` overwrites a service's own header, `add` sets it where
        # there was none (Kong runs remove, rename, replace, add, append in that order): exactly one, ours.
        {
            "name": "response-transformer",
            "config": {
                "replace": {"headers": [f"{HSTS_HEADER}:{HSTS_VALUE}"]},
                "add": {"headers": [f"{HSTS_HEADER}:{HSTS_VALUE}"]},
            },
        },
        # Exposed on the Status API's /metrics (never on the proxy port).
        {
            "name": "prometheus",
            "config": {
                "status_code_metrics": True,
                "latency_metrics": True,
                "bandwidth_metrics": True,
                "upstream_health_metrics": True,
            },
        },
    ]


# Kong answers this itself (no upstream): what a load balancer in front, or `make health`, asks.
HEALTH_ROUTE: dict[str, Any] = {
    "name": "kong-health",
    "protocols": ["https"],
    "paths": ["~/health$"],
    "plugins": [
        {
            "name": "request-termination",
            "config": {
                "status_code": 200,
                "content_type": "application/json",
                "body": '{"status":"UP","service":"kong"}',
            },
        }
    ],
}


def declarative_config(
    served: Sequence[CatalogRoute],
    services: Sequence[Service],
    gateway: Gateway,
    ca_bundle: str,
    operator_key: str,
) -> dict[str, Any]:
    """Kong's whole DB-less configuration: the routes `served` to `services` (every routed one, in first-route
    order), the gateway's limits, trusting the CAs of `ca_bundle` (public PEM text); the `operator` consumer holds
    `operator_key` (secret)."""
    cas = ca_certificates(ca_bundle)
    ca_ids = [ca["id"] for ca in cas]
    return {
        "_format_version": FORMAT_VERSION,
        "ca_certificates": cas,
        "upstreams": [_upstream(s) for s in services],
        "services": [_service(s, [r for r in served if r.service == s.name], ca_ids, gateway) for s in services],
        "routes": [HEALTH_ROUTE],
        "consumers": [{"username": OPERATOR_CONSUMER, "keyauth_credentials": [{"key": operator_key}]}],
        "plugins": plugins(gateway),
    }


def routed(served: Sequence[CatalogRoute], services: Sequence[Service]) -> tuple[Service, ...]:
    """The services behind `served`, in first-route order, each once."""
    by_name = {s.name: s for s in services}
    return tuple(by_name[name] for name in dict.fromkeys(r.service for r in served))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (the CA certificates) as literal blocks, as PEM reads."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(document: dict[str, Any]) -> str:
    """The declarative file's text: keys in builder order, certificates as literal blocks."""
    header = "# Generated by payment-platform (components/gateway/kong.py). SECRET: holds the operator's key.\n"
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def kong_environment(infra: Infrastructure, paths: KongPaths, gateway: Gateway) -> dict[str, str]:
    """Kong's settings (`KONG_<setting>` overrides kong.conf). Only paths and switches: never a secret."""
    cpus = infra.workload.limits.cpus
    public = gateway.tls is not None
    return {
        "KONG_DATABASE": "off",
        "KONG_DECLARATIVE_CONFIG": paths.declarative,
        "KONG_PREFIX": paths.prefix,
        # TLS only: the one proxy listener terminates TLS; there is no plain-HTTP port to publish.
        "KONG_PROXY_LISTEN": f"0.0.0.0:{infra.port} ssl",
        "KONG_SSL_CERT": paths.server_cert if public else paths.cert,
        "KONG_SSL_CERT_KEY": paths.server_key if public else paths.key,
        "KONG_SSL_PROTOCOLS": TLS_PROTOCOLS,
        "KONG_SSL_CIPHER_SUITE": TLS_CIPHER_SUITE,
        **proxy_environment(gateway.trusted_proxies),
        "KONG_ADMIN_LISTEN": ADMIN_LISTEN,
        "KONG_ADMIN_GUI_LISTEN": "off",
        "KONG_STATUS_LISTEN": f"0.0.0.0:{infra.ports[STATUS]}",
        # Upstream mTLS: the certificate Kong presents to services and to their health endpoints.
        "KONG_CLIENT_SSL": "on",
        "KONG_CLIENT_SSL_CERT": paths.cert,
        "KONG_CLIENT_SSL_CERT_KEY": paths.key,
        # The trust store of Kong's own sockets (active health checks); proxied requests use the
        # services' `ca_certificates`. Only the platform CA: Kong calls nothing outside the platform.
        "KONG_LUA_SSL_TRUSTED_CERTIFICATE": paths.ca,
        "KONG_DNS_VALID_TTL": str(DNS_VALID_TTL_SECONDS),
        # nginx defaults to one worker per host CPU; the container's CPU limit is what it really gets.
        "KONG_NGINX_WORKER_PROCESSES": str(max(1, math.ceil(cpus))),
        # No Server/Via/latency headers naming Kong and its version to the public.
        "KONG_HEADERS": "off",
        "KONG_ANONYMOUS_REPORTS": "off",
        "KONG_PROXY_ACCESS_LOG": "/dev/stdout",
        "KONG_PROXY_ERROR_LOG": "/dev/stderr",
        "KONG_ADMIN_ACCESS_LOG": "/dev/stdout",
        "KONG_ADMIN_ERROR_LOG": "/dev/stderr",
        "KONG_STATUS_ERROR_LOG": "/dev/stderr",
    }


def proxy_environment(trusted: Sequence[IPv4Network]) -> Mapping[str, str]:
    """Kong's real-IP settings: with load balancers in front, the client address is the right-most X-Forwarded-For
    entry that is not one of them (`recursive`), taken only from connections of those peers; without, the peer."""
    if not trusted:
        return {}
    return {
        "KONG_TRUSTED_IPS": ",".join(str(network) for network in trusted),
        "KONG_REAL_IP_HEADER": "X-Forwarded-For",
        "KONG_REAL_IP_RECURSIVE": "on",
    }


HEALTHCHECK = ("CMD", "kong", "health")
"""Kong's own check (nginx master and workers running), as in the image; the image has no curl."""


# --- the component ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KongArgs:
    infra: Infrastructure
    """Kong's catalog entry, resolved: listeners, image, sizing, exposure."""
    routes: tuple[CatalogRoute, ...]
    """The public routes this stack serves (`routes`)."""
    services: tuple[Service, ...]
    """The services behind them (`routed`): their names, ports, replicas."""
    gateway: Gateway
    """Limits (default and per route), who reaches operator routes, trusted proxies, the public certificate."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    certificate: LeafCertificate
    """The certificate the platform CA issued to `kong` (`Pki.certificates["kong"]`): Kong's client identity."""
    trust_bundle: pulumi.Output[str]
    """Every trusted CA certificate (public): what Kong verifies services against."""
    operator_key: pulumi.Output[str]
    """The `operator` consumer's key-auth key (secret): what opens operator-only routes."""
    upstreams: Sequence[pulumi.Resource]
    """The containers of `services`: created (and healthy) before Kong starts."""


class Kong(pulumi.ComponentResource):
    """The API gateway: image and the DB-less `payment-kong` container with its generated routing table."""

    container: docker.Container
    """The `payment-kong` container."""
    proxy_url: str
    """Where clients reach the proxy: the published URL as the Docker host reaches it (`https://127.0.0.1:40080`),
    or the network-internal URL when unpublished."""
    status_target: str
    """`kong:<status port>`: where Prometheus scrapes the gateway's metrics."""

    def __init__(self, name: str, args: KongArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:gateway:Kong", name, None, opts)
        infra = args.infra
        paths = KongPaths()
        # Secret: the operator key is in it (the Output stays secret because the key is).
        declarative = pulumi.Output.all(args.trust_bundle, args.operator_key).apply(
            lambda values: render_yaml(
                declarative_config(args.routes, args.services, args.gateway, values[0], values[1])
            )
        )
        files = ContainerFiles(
            env=kong_environment(infra, paths, args.gateway),
            uploads=(
                upload(paths.declarative, declarative, KONG_UID),
                *tls_uploads(
                    args.certificate, args.trust_bundle, KONG_UID, cert=paths.cert, key=paths.key, ca=paths.ca
                ),
                *public_certificate_uploads(args.gateway, paths),
            ),
        )
        self.container = infrastructure_container(
            name,
            infra,
            args.host,
            InfraSpec(
                healthcheck=HEALTHCHECK,
                user=f"{KONG_UID}:{KONG_UID}",
                files=files,
                tmpfs=PREFIX_TMPFS,
                # Nothing waits for the gateway; its own start still waits for every routed service.
                wait=False,
                depends_on=args.upstreams,
            ),
            parent=self,
        )
        self.proxy_url = infra.published_url or f"https://{infra.address()}"
        self.status_target = infra.target(STATUS)
        self.register_outputs({"containerName": self.container.name, "proxyUrl": self.proxy_url})


def public_certificate_uploads(gateway: Gateway, paths: KongPaths) -> tuple[docker.ContainerUploadArgs, ...]:
    """The certificate chain (0444) and its key (0400, secret) from `gateway.tls.*`; nothing when unset."""
    if gateway.tls is None:
        return ()
    key = pulumi.Output.secret(gateway.tls.key.get_secret_value())
    return (
        upload(paths.server_cert, gateway.tls.certificate, KONG_UID, PUBLIC_READ),
        upload(paths.server_key, key, KONG_UID),
    )


IMAGE_CONTRACT = ImageContract(
    stands_for=str(KONG.image),
    local=KONG.name,
    # The image's kong user; the container also runs as it.
    user=f"{KONG_UID}:{KONG_UID}",
    run_as=f"{KONG_UID}:{KONG_UID}",
    # The component sets neither entrypoint nor command: the image's entrypoint runs its CMD `kong docker-start`.
    entrypoint=("/docker-entrypoint.sh",),
    # The healthcheck's `kong health`.
    executables=(HEALTHCHECK[1],),
    # The prefix's tmpfs takes this folder's owner and mode: Kong (1001) writes its prefix there.
    paths=tuple(PathContract(path, owner="0:0", mode=0o1777) for path in PREFIX_TMPFS),
    probe=(HEALTHCHECK[1], "version"),
    # The local build is a stand-in (images/kong): no Kong package can be fetched where it is built.
    stand_in=True,
    ports=(KONG.port, KONG.ports[STATUS]),
)
"""What this module relies on from `kong` (checked against local builds by tests/images)."""
