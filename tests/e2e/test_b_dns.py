"""b. DNS: from a container on the platform network, every service and infrastructure name resolves both as
`<name>` and as `<name>.payment-network` (the aliases a first real run lost)."""

from __future__ import annotations

from stacks.catalog import EXPORTERS
from tests.e2e.live import PROJECT, PROJECT_LABEL, STACK_LABEL, Live, docker

PROBE_SCRIPT = 'for n in "$@"; do getent hosts "$n" >/dev/null || echo "unresolved: $n"; done'


def test_every_name_resolves_short_and_qualified(deployed: Live) -> None:
    outputs = deployed.outputs()
    network = outputs["network"]["name"]
    short = sorted({*outputs["services"], "postgres", "redis", "kafka", "prometheus", "grafana", "jaeger", "kong"})
    short += [e.name for e in EXPORTERS]
    names = [*short, *(f"{n}.{network}" for n in short)]
    # A throwaway probe on the network: the loader image (getent), read-only, no capabilities, removed after.
    out = docker(
        "run", "--rm", "--network", network, "--read-only", "--cap-drop", "ALL", "--user", "65534:65534",
        "--label", f"{PROJECT_LABEL}={PROJECT}", "--label", f"{STACK_LABEL}=dev",
        deployed.images["loader"], "sh", "-c", PROBE_SCRIPT, "probe", *names,
    )  # fmt: skip
    assert out.splitlines() == []
    deployed.results["dnsNamesResolved"] = len(names)
