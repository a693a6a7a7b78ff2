"""The public edge: per-route rate limits, operator source networks, trusted proxies, and the public certificate.

A certificate set in config (`gateway.tls.certificate` / `gateway.tls.key`) is checked here, before anything is
registered: PEM, the key belongs to the first certificate, and the certificate is valid now. Kong would otherwise
refuse to start (or, worse, serve an expired certificate) minutes into a `pulumi up`. Messages never hold the key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stacks.catalog import ROUTES
from stacks.errors import Problem, suggest
from stacks.models import Gateway, GatewaySettings, GatewayTls, Profile, StackSettings

TLS_PATH = ("gateway", "tls")
SET_SECRET = "pulumi config set --secret --path 'gateway.tls.{field}' < file.pem"


def gateway(settings: StackSettings, profile: Profile, stored_as_secret: bool, problems: list[Problem]) -> Gateway:
    given = settings.gateway or GatewaySettings()
    default = profile.gateway
    limit = given.rate_limit_per_minute or default.rate_limit_per_minute
    names = [route.name for route in ROUTES]
    for name in sorted(set(given.routes) - set(names)):
        problems.append(
            Problem(
                ("gateway", "routes", name),
                f"unknown route{suggest(name, names)} (expected one of: {', '.join(names)})",
            )
        )
    if given.admin_allow is not None and not given.admin_allow:
        problems.append(
            Problem(
                ("gateway", "adminAllow"),
                "expected at least one network (Kong's ip-restriction needs one; operators also need the key)",
                [],
            )
        )
    for index, network in enumerate(given.trusted_proxies or ()):
        if network.prefixlen == 0:
            problems.append(
                Problem(
                    ("gateway", "trustedProxies", index),
                    "trusts every address: any client could then claim any address in X-Forwarded-For; "
                    "expected the load balancers' own networks",
                    str(network),
                )
            )
    route_limits = {}
    for route in ROUTES:
        override = given.routes.get(route.name)
        chosen = override.rate_limit_per_minute if override else None
        route_limits[route.name] = chosen or route.rate_limit_per_minute or limit
    return Gateway(
        rate_limit_per_minute=limit,
        max_request_megabytes=given.max_request_megabytes or default.max_request_megabytes,
        route_limits=route_limits,
        admin_allow=tuple(given.admin_allow) if given.admin_allow is not None else default.admin_allow,
        trusted_proxies=tuple(given.trusted_proxies or ()),
        tls=_tls(given, stored_as_secret, problems),
    )


def _tls(given: GatewaySettings, stored_as_secret: bool, problems: list[Problem]) -> GatewayTls | None:
    tls = given.tls
    if tls is None or (tls.certificate is None and tls.key is None):
        return None
    if tls.certificate is None or tls.key is None:
        missing = "certificate" if tls.certificate is None else "key"
        problems.append(
            Problem(
                (*TLS_PATH, missing),
                f"required with gateway.tls.{'key' if missing == 'certificate' else 'certificate'}; "
                f"run `{SET_SECRET.format(field=missing)}`",
            )
        )
        return None
    if not stored_as_secret:
        problems.append(
            Problem(
                (*TLS_PATH, "key"),
                f"is stored in plain text; set it with `{SET_SECRET.format(field='key')}`",
            )
        )
    found = check_certificate(tls.certificate, tls.key.get_secret_value(), datetime.now(UTC))
    problems += [Problem((*TLS_PATH, field), reason) for field, reason in found]
    return None if found else GatewayTls(certificate=tls.certificate, key=tls.key)


def check_certificate(chain: str, key: str, now: datetime) -> list[tuple[str, str]]:
    """(field, reason) for each problem of a PEM chain and its key at `now`; empty when Kong can serve them."""
    try:
        certificates = x509.load_pem_x509_certificates(chain.encode())
    except ValueError:
        return [("certificate", "expected a PEM certificate chain (-----BEGIN CERTIFICATE-----), server first")]
    try:
        private = serialization.load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        # TypeError: an encrypted key; Kong (nginx) would ask for a passphrase on a terminal it does not have.
        return [("key", "expected an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)")]
    leaf = certificates[0]
    found = []
    if private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        found.append(("key", "does not belong to the first certificate of gateway.tls.certificate"))
    if leaf.not_valid_after_utc <= now:
        found.append(("certificate", f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"))
    elif leaf.not_valid_before_utc > now:
        found.append(("certificate", f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"))
    return found
