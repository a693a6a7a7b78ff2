"""The named secrets: the catalog's, their values from config (checked, never shown), rotation counters, which
integrations are on, and SMTP's settings."""

from __future__ import annotations

from stacks.catalog import Integration, SecretKind, platform_secrets
from stacks.errors import Problem, suggest
from stacks.models import Pki, Profile, Secret, Secrets, Service, Smtp, StackSettings
from stacks.text import NOT_PRINTABLE

MIN_SECRET_LENGTH = 32
SECRET_PREFIXES = {
    "stripe-api-key": ("sk_", "rk_"),
    "stripe-webhook-secret": ("whsec_",),
}
"""Shapes of third-party credentials, checked so a swapped pair fails here, not on the first payment."""
SMTP_PORT = 587
"""Mail submission with STARTTLS, unless `smtp.port` says otherwise."""


def secrets(
    settings: StackSettings,
    profile: Profile,
    services: tuple[Service, ...],
    stored_as_secret: bool,
    problems: list[Problem],
) -> Secrets:
    catalog = platform_secrets(s.name for s in services)
    names = [c.name for c in catalog]
    if settings.secrets and not stored_as_secret:
        problems.append(
            Problem(
                ("secrets",),
                "is stored in plain text; set each value with "
                "`pulumi config set --secret --path 'secrets.<name>' <value>`",
            )
        )
    for name in sorted(set(settings.secrets) - set(names)):
        problems.append(
            Problem(("secrets", name), f"unknown secret{suggest(name, names)} (expected one of: {', '.join(names)})")
        )

    items = []
    for spec in catalog:
        value = settings.secrets.get(spec.name)
        if value is not None:
            _check_value(spec.name, spec.kind, value.get_secret_value(), problems)
        items.append(
            Secret(
                name=spec.name,
                kind=spec.kind,
                length=spec.length,
                value=value,
                rotation=settings.rotation.get(spec.name, 0),
                variable=spec.variable,
            )
        )

    integrations = set()
    for integration, switch in ((Integration.STRIPE, settings.stripe), (Integration.SMTP, settings.smtp)):
        needed = [c.name for c in catalog if c.integration is integration]
        present = [n for n in needed if n in settings.secrets]
        enabled = switch.enabled if switch and switch.enabled is not None else bool(present)
        if not enabled:
            continue
        integrations.add(integration)
        for name in needed:
            if name not in settings.secrets:
                problems.append(
                    Problem(
                        (integration.value, "enabled"),
                        f"{integration.value} is on but secrets.{name} is not set; run "
                        f"`pulumi config set --secret --path 'secrets.{name}' <value>`",
                    )
                )
    return Secrets(
        items=tuple(items),
        rotation_all=settings.rotation.get("all", 0),
        delivery=settings.secret_delivery or profile.secret_delivery,
        integrations=frozenset(integrations),
        smtp=_smtp(settings, problems) if Integration.SMTP in integrations else None,
    )


def _check_value(name: str, kind: SecretKind, value: str, problems: list[Problem]) -> None:
    """Shape checks on a secret; messages never include the value."""
    path = ("secrets", name)
    if not value.strip():
        problems.append(Problem(path, "is empty", value, secret=True))
    elif not value.isprintable():
        # A secret reaches files and variables, and its consumers differ on a final newline (psql's backticks
        # strip it, a service reading the file keeps it): the same secret would be two passwords.
        problems.append(Problem(path, NOT_PRINTABLE, value, secret=True))
    elif kind is SecretKind.GENERATED and len(value) < MIN_SECRET_LENGTH:
        problems.append(
            Problem(
                path,
                f"expected at least {MIN_SECRET_LENGTH} characters, or unset it to generate one",
                value,
                secret=True,
            )
        )
    elif name in SECRET_PREFIXES and not value.startswith(SECRET_PREFIXES[name]):
        expected = " or ".join(f"{p}..." for p in SECRET_PREFIXES[name])
        problems.append(Problem(path, f"expected a value starting {expected}", value, secret=True))


def _smtp(settings: StackSettings, problems: list[Problem]) -> Smtp | None:
    given = settings.smtp
    missing = [key for key in ("host", "username", "sender") if not (given and getattr(given, key))]
    for key in missing:
        alias = "from" if key == "sender" else key
        problems.append(Problem(("smtp", alias), "required when SMTP is on (notification-service sends mail with it)"))
    if missing or given is None:
        return None
    assert given.host and given.username and given.sender
    return Smtp(host=given.host, port=given.port or SMTP_PORT, username=given.username, sender=given.sender)


def check_rotation(settings: StackSettings, pki: Pki, secrets: Secrets, problems: list[Problem]) -> None:
    generated = {s.name for s in secrets.items if s.kind is SecretKind.GENERATED and s.value is None}
    allowed = ["all", "ca", *sorted(generated), *(c.name for c in pki.certificates)]
    for name in settings.rotation:
        if name in allowed:
            continue
        known = {s.name: s for s in secrets.items}
        if name in known:
            reason = (
                f"{name} is set in config, not generated; rotate it by setting a new value with "
                f"`pulumi config set --secret --path 'secrets.{name}' <value>`"
            )
        else:
            reason = (
                f"unknown rotation key{suggest(name, allowed)} (expected all, ca, a generated secret or tls-<name>)"
            )
        problems.append(Problem(("rotation", name), reason, settings.rotation[name]))
