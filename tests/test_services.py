"""The application services as both stacks declare them: names, ports, databases, env contract, graph."""

from __future__ import annotations

import pytest

import plan
from plan import Render, Resource
from stacks.catalog import CALLS, ROUTES, SERVICES, callers_of
from tests.conftest import rendered, stack_config, uploads
from tests.test_catalog import SEED_SERVICES
from vocabulary import CONTAINER, REMOTE_IMAGE


def service_containers(render: Render) -> dict[str, Resource]:
    return {
        str(r.inputs["name"]): r
        for r in render.by_type(CONTAINER)
        if any(label["label"] == "com.payment-platform.service" for label in r.inputs.get("labels", []))
        and not str(r.inputs["name"]).endswith("-files")  # the file loaders carry their container's labels
    }


def env(resource: Resource) -> dict[str, str]:
    return dict(str(item).split("=", 1) for item in resource.revealed_inputs["envs"])


def test_dev_runs_the_seed_table_one_container_each() -> None:
    found = service_containers(rendered("dev"))
    assert sorted(found) == sorted(f"payment-{name}" for name, _, _ in SEED_SERVICES)
    for name, port, database in SEED_SERVICES:
        container = found[f"payment-{name}"]
        variables = env(container)
        assert (variables["SERVICE_NAME"], variables["PORT"], variables["DB_NAME"]) == (name, str(port), database)
        assert container.inputs["networksAdvanced"][0]["aliases"] == [name, f"{name}.payment-network"]
        assert container.inputs["ports"] == [{"external": port, "internal": port, "ip": "127.0.0.1", "protocol": "tcp"}]


def test_prod_runs_three_gateway_replicas_behind_one_alias() -> None:
    found = service_containers(rendered("prod"))
    assert len(found) == 21
    replicas = [f"payment-payment-gateway-{n}" for n in (1, 2, 3)]
    assert set(replicas) <= set(found)
    for name in replicas:
        assert found[name].inputs["networksAdvanced"][0]["aliases"] == [
            "payment-gateway",
            "payment-gateway.payment-network",
        ]
        assert "ports" not in found[name].inputs or found[name].inputs["ports"] == []
        assert env(found[name])["OTEL_RESOURCE_ATTRIBUTES"].endswith(f"service.instance.id={name}")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_service_gets_the_full_contract(stack: str) -> None:
    delivery_suffix = "_FILE" if stack == "prod" else ""
    for name, container in service_containers(rendered(stack)).items():
        variables = env(container)
        service = (
            name.removeprefix("payment-").rsplit("-", 1)[0]
            if name.startswith("payment-payment-gateway-")
            else name.removeprefix("payment-")
        )
        assert variables["ENV"] == stack
        assert variables["OTEL_SERVICE_NAME"] == service
        assert variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger.payment-network:4317"
        assert variables["DB_HOST"] == "postgres.payment-network" and variables["DB_SSLMODE"] == "verify-full"
        assert variables["REDIS_HOST"] == "redis.payment-network" and variables["REDIS_TLS"] == "true"
        assert variables["KAFKA_BROKERS"] == "kafka.payment-network:9092"
        for secret in ("JWT_SECRET", "DB_PASSWORD", "REDIS_PASSWORD"):
            assert secret + delivery_suffix in variables, (name, secret)
        assert variables["TLS_CERT_FILE"] == f"/app/certs/services/{service}/{service}.crt"
        assert variables["ENABLE_MTLS"] == "true"


def test_upstream_urls_follow_the_call_graph_exactly() -> None:
    found = service_containers(rendered("dev"))
    ports = {s.name: s.port for s in SERVICES}
    for service in SERVICES:
        urls = {k: v for k, v in env(found[f"payment-{service.name}"]).items() if k.endswith("_SERVICE_URL")}
        expected = {
            stack_config("dev").service(dep).url_variable: f"https://{dep}.payment-network:{ports[dep]}"
            for dep in CALLS.get(service.name, ())
        }
        assert urls == expected, service.name
    gateway = env(found["payment-payment-gateway"])
    assert gateway["ORDER_SERVICE_URL"] == "https://order-service.payment-network:40004"
    assert gateway["RISK_SERVICE_URL"] == "https://risk-service.payment-network:40006"


def test_no_service_depends_on_another_service() -> None:
    for stack in ("dev", "prod"):
        found = service_containers(rendered(stack))
        urns = {r.urn for r in found.values()}
        for container in found.values():
            assert not set(container.dependencies) & urns, container.name


def test_services_wait_for_the_data_stores_and_are_waited_for() -> None:
    render = rendered("prod")
    stores = {
        r.urn
        for r in render.by_type(CONTAINER)
        if r.inputs["name"] in ("payment-postgres", "payment-redis", "payment-kafka")
    }
    for container in service_containers(render).values():
        assert stores <= set(container.dependencies)
        assert container.inputs["wait"] is True


def test_demo_services_run_the_stand_in_and_prod_the_registry_images() -> None:
    images = {r.inputs["name"] for r in rendered("dev").by_type(REMOTE_IMAGE)}
    assert "nginxinc/nginx-unprivileged:1.29.5-alpine" in images
    prod_images = {r.inputs["name"] for r in rendered("prod").by_type(REMOTE_IMAGE)}
    assert {f"payment-platform/{s.name}:1.0.0" for s in SERVICES} <= prod_images


def test_default_healthcheck_is_an_mtls_get_of_health() -> None:
    order = service_containers(rendered("dev"))["payment-order-service"].inputs["healthcheck"]["tests"]
    assert order[:2] == ["CMD", "curl"]
    assert "https://localhost:40004/health" in order
    assert "/app/certs/services/order-service/order-service.key" in order


def test_a_healthcheck_and_an_image_can_be_set_per_service() -> None:
    render = rendered(
        "prod",
        'services.order-service.healthcheck=["CMD", "/app/healthcheck"]',
        "services.order-service.image=registry.example.com/order:2.1.0",
    )
    order = service_containers(render)["payment-order-service"]
    assert order.inputs["healthcheck"]["tests"] == ["CMD", "/app/healthcheck"]
    assert "registry.example.com/order:2.1.0" in {r.inputs["name"] for r in render.by_type(REMOTE_IMAGE)}


def test_a_build_context_builds_each_service_from_its_dockerfile() -> None:
    render = rendered("prod", "serviceImages.buildContext=../backend/services")
    builds = {r.inputs["name"]: r.inputs["build"] for r in render.by_type(REMOTE_IMAGE) if "build" in r.inputs}
    assert builds["payment-platform/order-service:1.0.0"] == {
        "context": "../backend/services/order-service",
        "dockerfile": "Dockerfile",
    }
    assert len(builds) == len(SERVICES)


def test_stripe_reaches_channel_adapter_only() -> None:
    render = plan.render(
        "dev",
        secret_sets=(
            "secrets.stripe-api-key=sk_test_0000000000000000000000",
            "secrets.stripe-webhook-secret=whsec_000000000000000000000",
        ),
    )
    holders = {name for name, c in service_containers(render).items() if "STRIPE_API_KEY" in env(c)}
    assert holders == {"payment-channel-adapter"}


def allow_lists(container: Resource) -> tuple[set[str], set[str], set[str]]:
    """The names in a container's MTLS_ALLOWED_CLIENTS, MTLS_HEALTH_CLIENTS and MTLS_METRICS_CLIENTS."""
    variables = env(container)
    return tuple(  # type: ignore[return-value]
        set(filter(None, variables[f"MTLS_{endpoint}_CLIENTS"].split(",")))
        for endpoint in ("ALLOWED", "HEALTH", "METRICS")
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_service_is_told_exactly_who_may_call_it(stack: str) -> None:
    """The inverse of CALLS, written out here edge by edge, plus Kong where a route (no integration) leads."""
    routed = {r.service for r in ROUTES if r.integration is None}
    seen_routed = seen_unrouted = 0
    for container in service_containers(rendered(stack)).values():
        name = env(container)["SERVICE_NAME"]
        callers = {caller for caller, upstreams in CALLS.items() for upstream in upstreams if upstream == name}
        api, health, scrape = allow_lists(container)
        if name in routed:
            seen_routed += 1
            assert api == callers | {"kong"}, name
        else:
            seen_unrouted += 1
            assert api == callers and "kong" not in health, name
        assert health == api | {"operator", name}, name
        assert scrape == {"prometheus"}, name
    assert seen_routed >= 3 and seen_unrouted >= 10
    # The catalog's helper agrees with the graph: order-service is called by exactly these four.
    assert callers_of("order-service") == (
        "cashier-service",
        "dispute-service",
        "merchant-bff-service",
        "payment-gateway",
    )
    assert callers_of("merchant-bff-service") == ()


def test_a_service_nobody_calls_and_no_route_reaches_is_told_so() -> None:
    """An empty MTLS_ALLOWED_CLIENTS: nobody may call the API (the value is present, never left out)."""
    render = rendered("dev", "services.loyalty-service.port=40030", "services.loyalty-service.database=payment_loyalty")
    api, health, _ = allow_lists(service_containers(render)["payment-loyalty-service"])
    assert env(service_containers(render)["payment-loyalty-service"])["MTLS_ALLOWED_CLIENTS"] == ""
    assert api == set() and health == {"operator", "loyalty-service"}


def test_a_service_a_stack_adds_is_allowed_by_the_services_it_calls() -> None:
    render = rendered(
        "dev",
        "services.loyalty-service.port=40030",
        "services.loyalty-service.database=payment_loyalty",
        "services.loyalty-service.calls=[order-service,risk-service]",
    )
    found = service_containers(render)
    for callee in ("order-service", "risk-service"):
        assert "loyalty-service" in allow_lists(found[f"payment-{callee}"])[0], callee
    assert "loyalty-service" not in allow_lists(found["payment-accounting-service"])[0]
    # Its demo stand-in's config admits the callers it was told about, too.
    config = next(
        u for u in uploads(render, "payment-services-payment-order-service") if str(u["file"]).endswith("nginx.conf")
    )
    assert "        loyalty-service 1;\n" in str(config["content"])


def test_stripe_makes_kong_a_caller_of_channel_adapter() -> None:
    before = allow_lists(service_containers(rendered("dev"))["payment-channel-adapter"])[0]
    render = plan.render(
        "dev",
        secret_sets=(
            "secrets.stripe-api-key=sk_test_0000000000000000000000",
            "secrets.stripe-webhook-secret=whsec_000000000000000000000",
        ),
    )
    after = allow_lists(service_containers(render)["payment-channel-adapter"])[0]
    assert "kong" not in before and after == before | {"kong"}
