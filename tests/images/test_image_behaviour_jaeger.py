"""The local Jaeger image runs the program's own Jaeger container: healthy, and a trace sent in comes back out.

The rendered dev stack's `payment-jaeger` (tests/images/harness.py: user, read-only root, tmpfs, GOMEMLIMIT,
`--config` with the generated configuration loaded by the local loader image, healthcheck) runs on the
engine with the local image in place of `jaegertracing/jaeger:2.22.0`, with no network. Its own
healthcheck (healthcheckv2 on the container's loopback, with the image's wget) must pass; then a span sent
to the OTLP/HTTP receiver, as a service's exporter sends it, must be found through the query API Grafana's
datasource reads. Printed timings are shown with `pytest -s`.
"""

from __future__ import annotations

import json
import secrets
import time

from components.observability.jaeger import OTLP_HTTP_PORT, QUERY_HTTP_PORT
from stacks.catalog import JAEGER
from tests.conftest import rendered, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import container_named, sandbox, wait_healthy

HEALTHY_WITHIN = 60


def otlp_span(service: str, trace_id: str) -> str:
    """One span in OTLP/HTTP JSON, the shape an OpenTelemetry SDK's exporter posts to /v1/traces."""
    now = time.time_ns()
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [
                        {
                            "scope": {"name": "image-test"},
                            "spans": [
                                {
                                    "traceId": trace_id,
                                    "spanId": secrets.token_hex(8),
                                    "name": "POST /api/v1/payments",
                                    "kind": 2,
                                    "startTimeUnixNano": str(now - 5_000_000),
                                    "endTimeUnixNano": str(now),
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )


def test_jaeger_is_healthy_and_a_trace_sent_over_otlp_is_queryable(engine: str) -> None:
    """Healthy by its own healthcheck; a span posted to OTLP/HTTP is returned by the query API."""
    for name in (JAEGER.name, "loader"):
        if name not in CONTRACTS:
            unavailable(f"no contract for image {name!r}")
        if docker("image", "inspect", local_ref(CONTRACTS[name])).returncode != 0:
            unavailable(f"{local_ref(CONTRACTS[name])} is not built: run `python3 -m scripts.images {name}`")
    dev = rendered("dev")
    spec = container_named(dev, f"payment-{JAEGER.name}")
    with sandbox("jaeger") as box:
        name = box.run_rendered(dev, spec, local_ref(CONTRACTS[JAEGER.name]), local_ref(CONTRACTS["loader"]))
        seconds = wait_healthy(name, spec.revealed_inputs["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"jaeger: healthy after {seconds:.1f} s")

        service, trace_id = "image-test-gateway", secrets.token_hex(16)
        proc = docker(
            "exec",
            name,
            "wget",
            "-q",
            "-O",
            "-",
            "--header=Content-Type: application/json",
            f"--post-data={otlp_span(service, trace_id)}",
            f"http://127.0.0.1:{OTLP_HTTP_PORT}/v1/traces",
        )
        assert proc.returncode == 0, f"the OTLP/HTTP receiver refused a span: {shown(proc)}"

        started = time.monotonic()
        found = ""
        while time.monotonic() - started < 30:
            query = docker(
                "exec", name, "wget", "-q", "-O", "-", f"http://127.0.0.1:{QUERY_HTTP_PORT}/api/traces/{trace_id}"
            )
            if query.returncode == 0 and trace_id in query.stdout:
                found = query.stdout
                break
            time.sleep(1)
        assert found, f"trace {trace_id} not returned by the query API within 30 s: {shown(query)}"
        services = docker("exec", name, "wget", "-q", "-O", "-", f"http://127.0.0.1:{QUERY_HTTP_PORT}/api/services")
        assert service in services.stdout, shown(services)
        print(f"jaeger: trace queryable {time.monotonic() - started:.1f} s after it was sent")
