"""Kong: the generated declarative configuration, and the gateway container under the engine.

What users rely on: every public path reaches every container of the right service over verified mutual
TLS, the Stripe webhook is open only when Stripe is configured, the profile's limits apply to every
request, each route has its own limit, the admin route is for operators only (allow-listed source AND key), every
answer carries HSTS, the proxy speaks TLS only, the routing table (which holds the operator key) is a secret upload,
and only the proxy port is ever published (never the Admin API).
"""

from __future__ import annotations

import functools
import json
import posixpath
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from components.docker.containers import docker_cpus
from components.docker.labels import platform_labels
from components.gateway.kong import (
    HSTS_HEADER,
    HSTS_VALUE,
    OPERATOR_KEY_HEADER,
    Kong,
    KongArgs,
    KongPaths,
    ca_certificates,
    declarative_config,
    kong_environment,
    render_yaml,
    routed,
    routes,
)
from components.pki import Pki, PkiArgs
from components.platform import health_endpoints
from plan.engine import RecordingMonitor, Render, Resource, run_program
from plan.simulate import SECRET_MARKER
from stacks.catalog import GATEWAY_OPERATOR_KEY, ROUTES, Integration
from stacks.errors import ConfigError
from stacks.models import PlatformConfig
from tests.conftest import attachments, docker_host, stack_config
from tests.conftest import uploads as container_uploads
from tests.support.tlsmodel import Faithful
from tests.tlstools import self_signed
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, PRIVATE_KEY, REMOTE_IMAGE, SECRET

KONG = "payment-kong-container"
STRIPE = {
    "stripe-api-key": "sk_live_CANARY0stripe0api0key0000000000",
    "stripe-webhook-secret": "whsec_CANARY0stripe0webhook00000000000",
}
ONE_CA = "-----BEGIN CERTIFICATE-----\nCA-ONE\n-----END CERTIFICATE-----\n"
TWO_CAS = ONE_CA + "-----BEGIN CERTIFICATE-----\nCA-TWO\n-----END CERTIFICATE-----\n"
OPERATOR_KEY = "CANARY0operator0key0000000000000000000000"
PUBLIC_ROUTES = {
    "/admin": "admin-bff-service",
    "/merchant": "merchant-bff-service",
    "/api/v1/payments": "payment-gateway",
}


def document_for(config: PlatformConfig, bundle: str) -> dict[str, Any]:
    """Kong's declarative configuration for `config`, wired as Platform wires it."""
    served = routes(config.secrets.integrations)
    return declarative_config(served, routed(served, config.services), config.gateway, bundle, OPERATOR_KEY)


def parsed(config: PlatformConfig, bundle: str = TWO_CAS) -> dict[str, Any]:
    """The declarative file as Kong reads it: rendered to YAML text, then parsed back."""
    document = yaml.safe_load(render_yaml(document_for(config, bundle)))
    assert isinstance(document, dict)
    return document


def route_table(document: dict[str, Any]) -> dict[str, str]:
    """Public path -> Kong service name, every path exactly once."""
    table: dict[str, str] = {}
    for service in document["services"]:
        for route in service["routes"]:
            for path in route["paths"]:
                assert path not in table, f"{path} routed twice"
                table[path] = service["name"]
    return table


# --- the declarative configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "secrets"), [("dev", {}), ("prod", {}), ("prod", STRIPE)], ids=["dev", "prod", "prod-stripe"]
)
def test_every_route_reaches_every_container_of_its_service_over_verified_tls(
    stack: str, secrets: dict[str, str]
) -> None:
    config = stack_config(stack, secrets=secrets) if secrets else stack_config(stack)
    document = parsed(config)
    services = {s["name"]: s for s in document["services"]}
    upstreams = {u["name"]: u for u in document["upstreams"]}
    ca_ids = [ca["id"] for ca in document["ca_certificates"]]
    assert len(ca_ids) == 2 and len(set(ca_ids)) == 2
    table = route_table(document)
    assert table
    for path, name in table.items():
        assert name in services, f"{path}: no Kong service {name}"
        service = services[name]
        catalog = config.service(name)
        assert (service["protocol"], service["tls_verify"], service["port"]) == ("https", True, catalog.port)
        assert service["ca_certificates"] == ca_ids
        upstream = upstreams[service["host"]]
        targets = [t["target"] for t in upstream["targets"]]
        assert sorted(targets) == sorted(f"{c}:{catalog.port}" for c in catalog.container_names), path
        # The certificate of a service names `<service>.payment-network`, never a container name.
        tls_name = f"{name}.payment-network"
        assert upstream["host_header"] == tls_name
        active = upstream["healthchecks"]["active"]
        assert (active["type"], active["http_path"], active["https_sni"]) == ("https", "/health", tls_name)
        assert active["https_verify_certificate"] is True
        assert active["healthy"]["interval"] > 0 and active["unhealthy"]["interval"] > 0  # 0 switches them off
        assert upstream["healthchecks"]["passive"]["type"] == "https"
        assert any(upstream["healthchecks"]["passive"]["unhealthy"][k] > 0 for k in ("http_failures", "tcp_failures"))
        for route in service["routes"]:
            assert (route["strip_path"], route["preserve_host"]) == (False, False)
            assert route["protocols"] == ["https"], path  # never served over plain HTTP
    # Only routed services get a Kong service and an upstream; no upstream is left unused.
    assert set(services) == set(table.values())
    assert set(upstreams) == {s["host"] for s in services.values()}


def test_payment_gateway_is_balanced_over_its_three_prod_replicas() -> None:
    document = parsed(stack_config("prod"))
    gateway = next(u for u in document["upstreams"] if u["name"] == "payment-gateway.upstream")
    assert [t["target"] for t in gateway["targets"]] == [
        "payment-payment-gateway-1:40003",
        "payment-payment-gateway-2:40003",
        "payment-payment-gateway-3:40003",
    ]
    dev = parsed(stack_config("dev"))
    assert [t["target"] for u in dev["upstreams"] if u["name"] == "payment-gateway.upstream" for t in u["targets"]] == [
        "payment-payment-gateway:40003"
    ]


def test_a_replica_count_from_config_reaches_the_targets() -> None:
    config = stack_config("prod", services={"merchant-bff-service": {"replicas": 2}})
    merchant = next(u for u in parsed(config)["upstreams"] if u["name"] == "merchant-bff-service.upstream")
    assert [t["target"] for t in merchant["targets"]] == [
        "payment-merchant-bff-service-1:40023",
        "payment-merchant-bff-service-2:40023",
    ]


def test_the_stripe_webhook_is_routed_only_when_stripe_is_on() -> None:
    off = parsed(stack_config("prod"))
    assert route_table(off) == PUBLIC_ROUTES
    assert "channel-adapter" not in {s["name"] for s in off["services"]}
    on = parsed(stack_config("prod", secrets=STRIPE))
    assert route_table(on) == {**PUBLIC_ROUTES, "/webhooks/stripe": "channel-adapter"}
    channel = next(u for u in on["upstreams"] if u["name"] == "channel-adapter.upstream")
    assert [t["target"] for t in channel["targets"]] == ["payment-channel-adapter:40005"]


def test_the_route_table_names_catalog_services_and_distinct_paths() -> None:
    config = stack_config("prod")
    assert len({r.path for r in ROUTES}) == len(ROUTES)
    for route in ROUTES:
        config.service(route.service)  # KeyError for a service the catalog does not have
    assert [r.integration for r in ROUTES if r.integration] == [Integration.STRIPE]
    assert routes(config.secrets.integrations) == tuple(r for r in ROUTES if r.integration is None)


@pytest.mark.parametrize(("stack", "per_minute"), [("dev", 600), ("prod", 1200)])
def test_global_plugins_carry_the_profile_limits(stack: str, per_minute: int) -> None:
    document = parsed(stack_config(stack))
    found = {p["name"]: p for p in document["plugins"]}
    assert list(found) == [
        "rate-limiting",
        "request-size-limiting",
        "correlation-id",
        "response-transformer",
        "prometheus",
    ]
    for plugin in found.values():  # global: bound to no service, route or consumer
        assert not {"service", "route", "consumer"} & set(plugin)
    assert found["rate-limiting"]["config"] == {"minute": per_minute, "policy": "local", "limit_by": "ip"}
    assert found["request-size-limiting"]["config"] == {"allowed_payload_size": 8, "size_unit": "megabytes"}
    assert found["correlation-id"]["config"] == {
        "header_name": "X-Request-ID",
        "generator": "uuid",
        "echo_downstream": True,
    }
    metrics = found["prometheus"]["config"]
    assert all(
        metrics[k] is True
        for k in ("status_code_metrics", "latency_metrics", "bandwidth_metrics", "upstream_health_metrics")
    )


def test_gateway_limits_from_stack_config_reach_the_plugins() -> None:
    config = stack_config("dev", gateway={"rateLimitPerMinute": 50, "maxRequestMegabytes": 2})
    found = {p["name"]: p["config"] for p in parsed(config)["plugins"]}
    assert found["rate-limiting"]["minute"] == 50
    assert found["request-size-limiting"]["allowed_payload_size"] == 2
    # The default applies to every route without a limit of its own in the catalog; /admin keeps its own.
    assert route_limits(parsed(config)) == {"/admin": 120, "/merchant": 50, "/api/v1/payments": 50}


def route_plugins(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Public path -> its route's plugins by name."""
    return {
        path: {p["name"]: p["config"] for p in route.get("plugins", [])}
        for service in document["services"]
        for route in service["routes"]
        for path in route["paths"]
    }


def route_limits(document: dict[str, Any]) -> dict[str, int]:
    return {path: plugins["rate-limiting"]["minute"] for path, plugins in route_plugins(document).items()}


@pytest.mark.parametrize(("stack", "default"), [("dev", 600), ("prod", 1200)])
def test_every_route_has_its_own_rate_limit_per_client(stack: str, default: int) -> None:
    document = parsed(stack_config(stack, secrets=STRIPE))
    assert route_limits(document) == {"/admin": 120, "/merchant": default, "/api/v1/payments": default,
                                      "/webhooks/stripe": default}  # fmt: skip
    for plugins in route_plugins(document).values():
        assert {k: v for k, v in plugins["rate-limiting"].items() if k != "minute"} == {
            "policy": "local",
            "limit_by": "ip",
        }


def test_a_route_limit_from_stack_config_overrides_the_catalog_and_the_default() -> None:
    config = stack_config(
        "prod",
        gateway={"rateLimitPerMinute": 300, "routes": {"admin": {"rateLimitPerMinute": 10},
                                                       "api-v1-payments": {"rateLimitPerMinute": 5000}}},
    )  # fmt: skip
    assert route_limits(parsed(config)) == {"/admin": 10, "/merchant": 300, "/api/v1/payments": 5000}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_admin_route_needs_an_allow_listed_source_and_the_operator_key(stack: str) -> None:
    config = stack_config(stack)
    document = parsed(config)
    plugins = route_plugins(document)
    admin = plugins.pop("/admin")
    assert admin["ip-restriction"] == {"allow": [str(n) for n in config.gateway.admin_allow]}
    assert config.gateway.admin_allow and all(n.is_private for n in config.gateway.admin_allow)
    assert admin["key-auth"] == {
        "key_names": [OPERATOR_KEY_HEADER],
        "key_in_header": True,
        "key_in_query": False,  # a key in a URL ends up in access logs
        "key_in_body": False,
        "hide_credentials": True,  # the admin back end never sees the key
    }
    for path, others in plugins.items():
        assert not {"ip-restriction", "key-auth"} & set(others), path
    assert document["consumers"] == [{"username": "operator", "keyauth_credentials": [{"key": OPERATOR_KEY}]}]
    # Nothing global authenticates or restricts: the public routes stay public.
    assert not {"ip-restriction", "key-auth"} & {p["name"] for p in document["plugins"]}


def test_the_admin_allow_list_comes_from_stack_config() -> None:
    config = stack_config("prod", gateway={"adminAllow": ["10.8.0.0/24", "192.0.2.7/32"]})
    assert route_plugins(parsed(config))["/admin"]["ip-restriction"] == {"allow": ["10.8.0.0/24", "192.0.2.7/32"]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_answer_carries_hsts_exactly_once(stack: str) -> None:
    found = {p["name"]: p["config"] for p in parsed(stack_config(stack))["plugins"]}
    header = f"{HSTS_HEADER}:{HSTS_VALUE}"
    # replace: a service's own header becomes ours; add: where there was none. Global: Kong's own answers too.
    assert found["response-transformer"] == {"replace": {"headers": [header]}, "add": {"headers": [header]}}
    assert "max-age=31536000" in HSTS_VALUE


def test_document_is_format_3_and_round_trips_through_yaml() -> None:
    config = stack_config("prod", secrets=STRIPE)
    document = document_for(config, TWO_CAS)
    text = render_yaml(document)
    assert yaml.safe_load(text) == document
    assert document["_format_version"] == "3.0"
    assert list(document) == [
        "_format_version",
        "ca_certificates",
        "upstreams",
        "services",
        "routes",
        "consumers",
        "plugins",
    ]
    assert "PRIVATE KEY" not in text
    assert "-----BEGIN CERTIFICATE-----\n    CA-ONE\n" in text  # certificates stay readable, as literal blocks


def test_one_ca_entity_per_certificate_with_stable_ids() -> None:
    two = ca_certificates(TWO_CAS)
    assert [ca["cert"].count("BEGIN CERTIFICATE") for ca in two] == [1, 1]
    assert [ca["cert"] for ca in two] == [ONE_CA, TWO_CAS[len(ONE_CA) :]]
    assert two == ca_certificates(TWO_CAS)  # same bundle, same ids: the file renders identically
    assert ca_certificates(ONE_CA) == two[:1]  # an id belongs to its certificate, not to its position
    assert all(uuid.UUID(ca["id"]).version == 5 for ca in two)
    assert ca_certificates(ONE_CA.replace("\n", "\r\n")) == two[:1]


def test_a_bundle_without_certificates_is_refused() -> None:
    with pytest.raises(ValueError, match="no PEM certificate"):
        document_for(stack_config("dev"), "")


def test_environment_runs_db_less_with_admin_on_loopback_and_no_secret() -> None:
    paths = KongPaths()
    for stack, workers in (("dev", "1"), ("prod", "2")):
        config = stack_config(stack)
        env = kong_environment(config.infra("kong"), paths, config.gateway)
        assert env["KONG_DATABASE"] == "off"
        assert env["KONG_DECLARATIVE_CONFIG"] == paths.declarative
        # The one proxy listener terminates TLS 1.2+ with the platform CA's kong certificate (no public one set).
        assert env["KONG_PROXY_LISTEN"] == "0.0.0.0:8443 ssl"
        assert (env["KONG_SSL_CERT"], env["KONG_SSL_CERT_KEY"]) == (paths.cert, paths.key)
        assert (env["KONG_SSL_PROTOCOLS"], env["KONG_SSL_CIPHER_SUITE"]) == ("TLSv1.2 TLSv1.3", "intermediate")
        assert not {"KONG_TRUSTED_IPS", "KONG_REAL_IP_HEADER", "KONG_REAL_IP_RECURSIVE"} & set(env)
        assert env["KONG_ADMIN_LISTEN"].startswith("127.0.0.1:")
        assert env["KONG_ADMIN_GUI_LISTEN"] == "off"
        assert env["KONG_STATUS_LISTEN"] == "0.0.0.0:8100"
        assert (env["KONG_CLIENT_SSL"], env["KONG_CLIENT_SSL_CERT"], env["KONG_CLIENT_SSL_CERT_KEY"]) == (
            "on",
            paths.cert,
            paths.key,
        )
        assert env["KONG_LUA_SSL_TRUSTED_CERTIFICATE"] == paths.ca
        assert env["KONG_PREFIX"] == paths.prefix
        assert env["KONG_NGINX_WORKER_PROCESSES"] == workers
        assert not any("BEGIN" in value for value in env.values())


# --- the component under the engine ------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    render: Render
    config: PlatformConfig

    def kong(self) -> Resource:
        return self.render.get(CONTAINER, KONG)

    def env(self) -> dict[str, str]:
        return dict(str(item).split("=", 1) for item in self.kong().inputs["envs"])

    def uploads(self, *, revealed: bool = False) -> dict[str, dict[str, Any]]:
        return {u["file"]: u for u in container_uploads(self.render, KONG, revealed=revealed)}


def gateway(config: PlatformConfig, monitor: RecordingMonitor | None = None) -> Render:
    """Network, PKI and Kong as the platform wires them, with two stand-ins for service containers."""

    def program() -> None:
        host = docker_host(config)
        pki = Pki("payment-pki", PkiArgs(config=config.pki, domain=config.network.name))
        upstreams = [docker.Container(f"service-{n}", image="stand-in:1") for n in ("a", "b")]
        served = routes(config.secrets.integrations)
        kong = Kong(
            "payment-kong",
            KongArgs(
                infra=config.infra("kong"),
                routes=served,
                services=routed(served, config.services),
                gateway=config.gateway,
                host=host,
                certificate=pki.certificates["kong"],
                trust_bundle=pki.trust_bundle,
                operator_key=pulumi.Output.secret(OPERATOR_KEY),
                upstreams=upstreams,
            ),
        )
        pulumi.export("proxyUrl", kong.proxy_url)
        pulumi.export("statusTarget", kong.status_target)
        pulumi.export("trustBundle", pki.trust_bundle)

    return run_program(program, config.project, config.stack, monitor=monitor)


@functools.cache
def built(stack: str) -> Built:
    config = stack_config(stack)
    return Built(gateway(config), config)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_identity_user_image_and_health(stack: str) -> None:
    kong = built(stack).kong()
    inputs = kong.inputs
    assert inputs["name"] == "payment-kong"
    assert inputs["hostname"] == "kong"
    assert inputs["networksAdvanced"] == attachments(stack, "kong")
    assert inputs["user"] == "1001:1001"
    assert "command" not in inputs and "entrypoints" not in inputs  # the image's entrypoint and `kong docker-start`
    image = built(stack).render.get(REMOTE_IMAGE, "payment-kong-image")
    assert image.inputs["name"] == "kong:3.9.1"
    assert inputs["image"] == image.revealed_outputs["imageId"]
    assert inputs["healthcheck"]["tests"] == ["CMD", "kong", "health"]
    assert inputs["wait"] is False  # nothing depends on the gateway being healthy
    assert kong.delete_before_replace


def test_only_the_tls_proxy_is_published_loopback_in_dev_everywhere_in_prod() -> None:
    for stack, address in (("dev", "127.0.0.1"), ("prod", "0.0.0.0")):
        render = built(stack).render
        ports = built(stack).kong().inputs["ports"]
        # The seed's 40080, now served by the TLS listener; no plain-HTTP port exists to publish.
        assert ports == [{"internal": 8443, "external": 40080, "ip": address, "protocol": "tcp"}]
        assert built(stack).env()["KONG_PROXY_LISTEN"] == "0.0.0.0:8443 ssl"
        # A URL a client on the Docker host can use: 0.0.0.0 is where Kong listens, never where to connect.
        assert render.outputs["proxyUrl"] == "https://127.0.0.1:40080"
        assert render.outputs["statusTarget"] == "kong:8100"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_admin_api_is_on_loopback_and_never_published(stack: str) -> None:
    config = built(stack).config
    admin = config.infra("kong").ports["admin"]
    assert built(stack).env()["KONG_ADMIN_LISTEN"] == f"127.0.0.1:{admin}"
    assert admin not in {p["internal"] for p in built(stack).kong().inputs["ports"]}
    # Whatever the stack publishes, the published port maps to the proxy alone.
    everything = stack_config(stack, kong={"publish": {"enabled": True, "address": "127.0.0.1"}})
    assert [p["internal"] for p in gateway(everything).get(CONTAINER, KONG).inputs["ports"]] == [8443]


def test_an_unpublished_proxy_is_reached_on_the_network() -> None:
    config = stack_config("dev", kong={"publish": {"enabled": False}})
    render = gateway(config)
    assert render.get(CONTAINER, KONG).inputs["ports"] == []
    assert render.outputs["proxyUrl"] == "https://kong.payment-network:8443"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_read_only_root_with_the_prefix_on_tmpfs(stack: str) -> None:
    inputs = built(stack).kong().inputs
    assert inputs["readOnly"] is True
    prefix = built(stack).env()["KONG_PREFIX"]
    assert any(prefix == mount or prefix.startswith(mount + "/") for mount in inputs["tmpfs"])
    assert inputs["capabilities"] == {"drops": ["ALL"]}
    assert inputs["securityOpts"] == ["no-new-privileges:true"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_files_are_owned_by_kong_and_the_key_and_routing_table_are_secret(stack: str) -> None:
    paths = KongPaths()
    uploads = built(stack).uploads()
    assert {f: (u["permissions"], u["owner"], u["group"]) for f, u in uploads.items()} == {
        # It holds the operator's key-auth key: Kong alone reads it.
        paths.declarative: ("0400", "1001", "1001"),
        paths.cert: ("0444", "1001", "1001"),
        paths.key: ("0400", "1001", "1001"),
        paths.ca: ("0444", "1001", "1001"),
    }
    for secret in (paths.key, paths.declarative):
        assert uploads[secret]["content"] == SECRET, f"{secret} should be secret"
    for public in (paths.cert, paths.ca):
        assert uploads[public]["content"] != SECRET, f"{public} should be public"
    # Each file's folder is mounted read-only from the files volume.
    mounts = {m["target"]: m for m in built(stack).kong().inputs["mounts"]}
    for file in uploads:
        assert mounts[posixpath.dirname(file)]["readOnly"] is True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_declarative_file_is_the_generated_one_and_holds_no_secret(stack: str) -> None:
    paths = KongPaths()
    render, config = built(stack).render, built(stack).config
    bundle = str(render.outputs["trustBundle"])
    revealed = built(stack).uploads(revealed=True)
    text = revealed[paths.declarative]["content"]
    assert text == render_yaml(document_for(config, bundle))
    assert OPERATOR_KEY in text and "PRIVATE KEY" not in text
    assert [ca["cert"] for ca in yaml.safe_load(text)["ca_certificates"]] == [
        pem + "-----END CERTIFICATE-----\n" for pem in bundle.split("-----END CERTIFICATE-----\n") if pem
    ]
    assert revealed[paths.ca]["content"] == bundle
    pki_cert = render.get(LOCALLY_SIGNED_CERT, "payment-pki-kong-cert")
    pki_key = render.get(PRIVATE_KEY, "payment-pki-kong-key")
    assert revealed[paths.cert]["content"] == pki_cert.revealed_outputs["certPem"]
    assert revealed[paths.key]["content"] == pki_key.revealed_outputs["privateKeyPem"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_env_points_at_the_uploaded_files_and_carries_no_secret(stack: str) -> None:
    env = built(stack).env()
    uploads = built(stack).uploads()
    for variable in (
        "KONG_DECLARATIVE_CONFIG",
        "KONG_CLIENT_SSL_CERT",
        "KONG_CLIENT_SSL_CERT_KEY",
        "KONG_SSL_CERT",
        "KONG_SSL_CERT_KEY",
    ):
        assert env[variable] in uploads, variable
    assert env["KONG_LUA_SSL_TRUSTED_CERTIFICATE"] in uploads
    assert env["KONG_ADMIN_LISTEN"].startswith("127.0.0.1:")
    visible = json.dumps([built(stack).kong().inputs["envs"], built(stack).kong().revealed_inputs["envs"]])
    assert SECRET not in visible and SECRET_MARKER not in visible and "BEGIN" not in visible
    assert OPERATOR_KEY not in visible


def test_a_public_certificate_from_config_is_served_and_its_key_stays_secret(public_tls: dict[str, str]) -> None:
    paths = KongPaths()
    config = stack_config("prod", gateway={"tls": public_tls}, secret_keys=("gateway",))
    render = gateway(config)
    env = dict(str(item).split("=", 1) for item in render.get(CONTAINER, KONG).inputs["envs"])
    assert (env["KONG_SSL_CERT"], env["KONG_SSL_CERT_KEY"]) == (paths.server_cert, paths.server_key)
    # The platform CA's certificate stays Kong's client identity towards the services.
    assert (env["KONG_CLIENT_SSL_CERT"], env["KONG_CLIENT_SSL_CERT_KEY"]) == (paths.cert, paths.key)
    shown = {u["file"]: u for u in container_uploads(render, KONG)}
    revealed = {u["file"]: u for u in container_uploads(render, KONG, revealed=True)}
    assert (shown[paths.server_key]["permissions"], shown[paths.server_key]["content"]) == ("0400", SECRET)
    assert revealed[paths.server_key]["content"] == public_tls["key"]
    assert (shown[paths.server_cert]["permissions"], shown[paths.server_cert]["content"]) == (
        "0444",
        public_tls["certificate"],
    )
    everything = json.dumps(render.outputs) + json.dumps(render.get(CONTAINER, KONG).inputs)
    assert "PRIVATE KEY" not in everything


def test_trusted_proxies_become_kong_s_real_ip_settings() -> None:
    config = stack_config("prod", gateway={"trustedProxies": ["10.0.0.0/24", "192.168.5.7/32"]})
    env = dict(str(item).split("=", 1) for item in gateway(config).get(CONTAINER, KONG).inputs["envs"])
    assert env["KONG_TRUSTED_IPS"] == "10.0.0.0/24,192.168.5.7/32"
    assert (env["KONG_REAL_IP_HEADER"], env["KONG_REAL_IP_RECURSIVE"]) == ("X-Forwarded-For", "on")


def test_the_operator_key_is_a_generated_secret_only_kong_gets() -> None:
    assert GATEWAY_OPERATOR_KEY.consumers == ("kong",)
    assert GATEWAY_OPERATOR_KEY.variable is None  # in no service's environment
    assert GATEWAY_OPERATOR_KEY.length >= 32


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kong_starts_after_its_upstreams_and_its_files(stack: str) -> None:
    render = built(stack).render
    dependencies = set(built(stack).kong().dependencies)
    for stand_in in ("service-a", "service-b"):
        assert render.get(CONTAINER, stand_in).urn in dependencies
    assert render.get(CONTAINER, f"{KONG}-loader").urn in dependencies


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_limits_logs_restart_and_labels(stack: str) -> None:
    config = built(stack).config
    workload = config.infra("kong").workload
    inputs = built(stack).kong().inputs
    assert (inputs["memory"], inputs["cpus"]) == (workload.limits.memory.mebibytes, docker_cpus(workload.limits.cpus))
    assert (inputs["logDriver"], inputs["logOpts"]) == ("json-file", {"max-size": "10m", "max-file": "3"})
    assert (inputs["restart"], inputs.get("maxRetryCount")) == ("unless-stopped", None)
    assert {label["label"]: label["value"] for label in inputs["labels"]} == platform_labels(
        config.project, config.stack, config.profile
    )


def test_every_trusted_ca_is_one_real_ca_certificate_as_kong_requires() -> None:
    # During a CA rotation the bundle holds two CAs; Kong refuses an entity with more than one certificate
    # or one without the CA basic constraint.
    config = stack_config("prod", pki={"caOverlap": "next"})
    render = gateway(config, RecordingMonitor(Faithful()))
    text = {u["file"]: u for u in container_uploads(render, KONG, revealed=True)}[KongPaths().declarative]["content"]
    document = yaml.safe_load(text)
    bundle = x509.load_pem_x509_certificates(str(render.outputs["trustBundle"]).encode())
    assert len(bundle) == 2
    entities = document["ca_certificates"]
    loaded = [x509.load_pem_x509_certificates(ca["cert"].encode()) for ca in entities]
    assert [len(certs) for certs in loaded] == [1, 1]
    assert [certs[0] for certs in loaded] == bundle
    for certs in loaded:
        assert certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    for service in document["services"]:
        assert service["ca_certificates"] == [ca["id"] for ca in entities]


# --- the public certificate from stack config (gateway.tls.*) ------------------------------------------------------


def _certificate(days: int = 90, start: datetime | None = None) -> tuple[str, str, ec.EllipticCurvePrivateKey]:
    """A self-signed certificate for gateway.example.com (PEM) and its key (PEM), valid from `start` for `days`."""
    return self_signed("gateway.example.com", days=days, start=start)


@pytest.fixture(scope="module")
def public_tls() -> dict[str, str]:
    certificate, key, _ = _certificate()
    return {"certificate": certificate, "key": key}


def _problems(**gateway: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        stack_config("prod", gateway=gateway, secret_keys=("gateway",))
    return list(raised.value.lines)


def test_a_valid_public_certificate_is_accepted(public_tls: dict[str, str]) -> None:
    tls = stack_config("prod", gateway={"tls": public_tls}, secret_keys=("gateway",)).gateway.tls
    assert tls is not None and tls.certificate == public_tls["certificate"]
    assert tls.key.get_secret_value() == public_tls["key"]
    assert stack_config("prod").gateway.tls is None  # unset: the platform CA's kong certificate


def test_an_expired_certificate_is_refused_naming_the_key() -> None:
    certificate, key, _ = _certificate(days=1, start=datetime.now(UTC) - timedelta(days=10))
    (line,) = _problems(tls={"certificate": certificate, "key": key})
    assert line.startswith("payment-platform:gateway.tls.certificate: expired on "), line


def test_a_key_of_another_certificate_is_refused_without_showing_it(public_tls: dict[str, str]) -> None:
    _, other_key, _ = _certificate()
    (line,) = _problems(tls={"certificate": public_tls["certificate"], "key": other_key})
    assert line == (
        "payment-platform:gateway.tls.key: does not belong to the first certificate of gateway.tls.certificate"
    )
    assert "PRIVATE" not in line


def test_text_that_is_not_pem_is_refused(public_tls: dict[str, str]) -> None:
    (line,) = _problems(tls={"certificate": "not a certificate", "key": public_tls["key"]})
    assert line.startswith("payment-platform:gateway.tls.certificate: expected a PEM certificate chain"), line
    (line,) = _problems(tls={"certificate": public_tls["certificate"], "key": "not a key"})
    assert line.startswith("payment-platform:gateway.tls.key: expected an unencrypted PEM private key"), line


def test_half_a_pair_or_a_key_in_plain_text_is_refused(public_tls: dict[str, str]) -> None:
    (line,) = _problems(tls={"certificate": public_tls["certificate"]})
    assert line.startswith("payment-platform:gateway.tls.key: required with gateway.tls.certificate"), line
    with pytest.raises(ConfigError) as raised:
        stack_config("prod", gateway={"tls": public_tls})  # not stored with --secret
    assert raised.value.lines == (
        "payment-platform:gateway.tls.key: is stored in plain text; set it with "
        "`pulumi config set --secret --path 'gateway.tls.key' < file.pem`",
    )
    assert "PRIVATE" not in str(raised.value)


def test_an_unknown_route_or_a_bad_network_is_refused_naming_the_key() -> None:
    (line,) = _problems(routes={"admn": {"rateLimitPerMinute": 5}})
    assert line.startswith("payment-platform:gateway.routes.admn: unknown route; did you mean 'admin'?"), line
    (line,) = _problems(trustedProxies=["10.0.0.1/8"])
    # The whole `gateway` block is stored as a secret (for its tls.key), so no value of it is shown.
    assert line.startswith("payment-platform:gateway.trustedProxies[0] = [secret]: expected an IPv4 network"), line


def test_make_health_checks_a_public_gateway_certificate_against_public_cas(public_tls: dict[str, str]) -> None:
    assert health_endpoints(stack_config("prod")) == [{"name": "kong", "health": "https://127.0.0.1:40080/health"}]
    config = stack_config("prod", gateway={"tls": public_tls}, secret_keys=("gateway",))
    assert health_endpoints(config) == [{"name": "kong", "health": "https://127.0.0.1:40080/health", "trust": "public"}]


def test_an_empty_allow_list_or_trusting_every_address_is_refused() -> None:
    (line,) = _problems(adminAllow=[])
    assert line.startswith("payment-platform:gateway.adminAllow = []: expected at least one network"), line
    (line,) = _problems(trustedProxies=["10.0.0.0/8", "0.0.0.0/0"])
    assert line.startswith('payment-platform:gateway.trustedProxies[1] = "0.0.0.0/0": trusts every address'), line
