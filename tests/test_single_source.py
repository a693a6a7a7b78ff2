"""Each shared fact has one home: the catalog (`stacks/`). Components read it from the resolved models or from a
sibling's output; none writes an infrastructure port, alias, public route, secret name or variable, or the owner
of an integration as a literal of its own.

The check reads the code of `components/` (every string and number in it, docstrings and comments aside) and
looks for the catalog's values. A literal that equals a fact but means something else (the `postgres`
executable, Grafana's datasource uid `prometheus`) is listed in `UNRELATED` with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks.catalog import (
    DB_PASSWORD_VARIABLE,
    EXPORTERS,
    INFRASTRUCTURE,
    JWT_ALGORITHM_VARIABLE,
    JWT_ISSUERS,
    JWT_KEYS,
    JWT_KID_VARIABLE,
    ROUTES,
    SERVICES,
    Integration,
    integration_owner,
    platform_secrets,
)

COMPONENTS = Path(__file__).resolve().parents[1] / "components"

UNRELATED: dict[tuple[str, str | int], str] = {
    ("data/postgres.py", "postgres"): "the server executable, and the superuser role and maintenance database",
    ("observability/exporters.py", "postgres"): "the maintenance database the monitoring role may reach",
    ("gateway/kong.py", "kong"): "the `kong` command line (healthcheck, probe)",
    ("observability/prometheus.py", "prometheus"): "the server executable",
    ("observability/grafana.py", "grafana"): "the `grafana` command line (cli, probe)",
    ("observability/grafana.py", "prometheus"): "the datasource's type and fixed uid, Grafana's vocabulary",
    ("observability/grafana.py", "jaeger"): "the datasource's type and fixed uid, Grafana's vocabulary",
    ("gateway/kong.py", "prometheus"): "the name of Kong's Prometheus plugin",
    ("gateway/kong.py", "kong.payment-platform"): "the namespace of the declarative file's UUIDv5 ids, not a host",
    ("observability/jaeger.py", "prometheus"): "the OpenTelemetry collector's Prometheus metrics reader",
    ("observability/exporters.py", "REDIS_PASSWORD_FILE"): "redis_exporter's own setting: its address-to-password map",
}
"""(file under components/, literal) -> why it is not the catalog's fact."""


def facts() -> dict[str | int, str]:
    """Literal -> the catalog fact it would repeat."""
    found: dict[str | int, str] = {}
    for item in INFRASTRUCTURE:
        found[item.name] = f"the alias of {item.name}"
        found[item.port] = f"{item.name}'s port"
        found[item.published_port] = f"{item.name}'s published port"
        for role, port in item.ports.items():
            found[port] = f"{item.name}'s {role} port"
    for exporter in EXPORTERS:
        found[exporter.name] = f"the alias of {exporter.name}"
        found[exporter.port] = f"{exporter.name}'s port"
    for service in SERVICES:
        found[service.port] = f"{service.name}'s port"
    for route in ROUTES:
        found[route.path] = f"the public route to {route.service}"
    for secret in platform_secrets(s.name for s in SERVICES):
        found[secret.name] = f"the name of the secret {secret.name}"
        if secret.variable is not None:
            found[secret.variable] = f"the variable of {secret.name}"
            found[f"{secret.variable}_FILE"] = f"the file variable of {secret.name}"
    found[DB_PASSWORD_VARIABLE] = "the variable of each service's database password"
    for key in JWT_KEYS:
        found[key.name] = f"the file name of {key.variable}"
        found[key.variable] = found[f"{key.variable}_FILE"] = f"the variable of {key.name}"
        if key.kid_variable is not None:
            found[key.kid_variable] = f"the key id variable of {key.name}"
    found[JWT_ALGORITHM_VARIABLE] = found[JWT_KID_VARIABLE] = "a JWT variable of the catalog"
    for issuer in JWT_ISSUERS:
        found.setdefault(issuer, "a JWT issuer of the catalog")
    for integration in Integration:
        found[integration_owner(integration)] = f"the owner of the {integration.value} integration"
    return found


def literals(tree: ast.AST) -> Iterator[tuple[int, str | int]]:
    """(line, value) of every string and integer constant that is not a docstring, f-string parts included."""
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str) or (isinstance(node.value, int) and not isinstance(node.value, bool)):
            yield node.lineno, node.value


def repeated(value: str | int, known: dict[str | int, str]) -> str | None:
    """The fact `value` repeats: equal to one, or (strings) naming an alias as a host (`kafka.` or `kafka:`)."""
    if value in known:
        return known[value]
    if isinstance(value, str):
        for alias in [i.name for i in INFRASTRUCTURE] + [e.name for e in EXPORTERS]:
            if value.startswith((f"{alias}.", f"{alias}:")) or f"//{alias}." in value or f"//{alias}:" in value:
                return f"a host name built from the alias {alias}"
    return None


def test_no_component_writes_a_catalog_fact_of_its_own() -> None:
    known = facts()
    problems = []
    for path in sorted(COMPONENTS.rglob("*.py")):
        where = path.relative_to(COMPONENTS).as_posix()
        for line, value in literals(ast.parse(path.read_text(), str(path))):
            fact = repeated(value, known)
            if fact is not None and (where, value) not in UNRELATED:
                problems.append(f"components/{where}:{line}: {value!r} repeats {fact}")
    assert not problems, "read it from the catalog or the resolved models instead:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("PORT = 9090\n", "prometheus's port"),
        ('URL = f"http://jaeger.{domain}:{port}"\n', "a host name built from the alias jaeger"),
        ('SECRET = "redis-password"\n', "the name of the secret redis-password"),
        ('env = {"JWT_SECRET_FILE": path}\n', "the file variable of jwt-secret"),
        ('ROUTE = "/webhooks/stripe"\n', "the public route to channel-adapter"),
        ('OWNER = "channel-adapter"\n', "the owner of the stripe integration"),
        ('TARGET = "kong:8100"\n', "a host name built from the alias kong"),
    ],
)
def test_the_check_finds_each_kind_of_repeated_fact(source: str, found: str) -> None:
    known = facts()
    assert [repeated(value, known) for _, value in literals(ast.parse(source))].count(found) == 1


def test_docstrings_may_name_facts() -> None:
    source = '"""Kong listens on 8000; see the kong docs."""\n\ndef f():\n    """Reads redis-password."""\n'
    assert list(literals(ast.parse(source))) == []
