"""b. DNS and segmentation: on each of the stack's networks, every container that joins it resolves as `<name>`
and `<name>.payment-network` (the aliases a first real run lost), and no container that does not join it
resolves there."""

from __future__ import annotations

from stacks.catalog import EXPORTERS
from tests.e2e.live import PROJECT, PROJECT_LABEL, STACK_LABEL, Live, docker

# Prints `resolved: <name>` or `unresolved: <name>` for each argument.
PROBE_SCRIPT = (
    'for n in "$@"; do if getent hosts "$n" >/dev/null; then echo "resolved: $n"; else echo "unresolved: $n"; fi; done'
)


def _probe(live: Live, network: str, names: list[str]) -> dict[str, bool]:
    """A throwaway probe on `network`: the loader image (getent), read-only, no capabilities, removed after."""
    out = docker(
        "run", "--rm", "--network", network, "--read-only", "--cap-drop", "ALL", "--user", "65534:65534",
        "--label", f"{PROJECT_LABEL}={PROJECT}", "--label", f"{STACK_LABEL}=dev",
        live.images["loader"], "sh", "-c", PROBE_SCRIPT, "probe", *names,
    )  # fmt: skip
    found = {}
    for line in out.splitlines():
        state, _, name = line.partition(": ")
        found[name] = state == "resolved"
    return found


def test_each_network_resolves_its_members_and_no_one_else(deployed: Live) -> None:
    outputs = deployed.outputs()
    domain = outputs["network"]["name"]
    segments = {name: segment["members"] for name, segment in outputs["network"]["segments"].items()}
    everyone = sorted({*outputs["services"], "postgres", "redis", "kafka", "prometheus", "grafana", "jaeger", "kong"})
    everyone += [e.name for e in EXPORTERS]
    assert {m for members in segments.values() for m in members} == set(everyone)
    checked = 0
    for network, members in segments.items():
        names = [*everyone, *(f"{n}.{domain}" for n in everyone)]
        found = _probe(deployed, network, names)
        wrong = [
            f"{name} {'resolves' if found[name] else 'does not resolve'} on {network}"
            for name in names
            if found.get(name) != (name.removesuffix(f".{domain}") in members)
        ]
        assert wrong == []
        checked += len(names)
    deployed.results["dnsNamesChecked"] = checked
