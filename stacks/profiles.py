"""The `dev` and `prod` profiles: every default that differs between environments, and which one a stack runs.

A stack named `dev` or `prod` uses the profile of that name; any other stack sets `profile` (a `staging`
stack runs prod defaults with `pulumi config set profile prod`). Stack config overrides single values on
top of a profile; it never has to restate one.

A production stack cannot opt out of the prod profile (issue 15): `select_profile` is the one decision, taken by
the program (`stacks.resolve`), by `python -m plan check` (`policy_rules.check`) and by the policy pack (from the
stack name and config the engine hands it), so the three never disagree. A stack is production when its *declared
environment* is: its name has the word `prod` or `production` (`prod`, `prod-eu`, `eu_prod2`, `Production`), or
its `environment` config key says `prod`. Such a stack runs the prod profile and the prod rules; `profile: dev`
or `environment: dev` on it is a configuration error, never a quiet downgrade.

dev follows the seed guide (1 CPU / 512M limits, 0.5 CPU / 256M reservations, every port published) but
binds published ports to 127.0.0.1, so a laptop does not expose an unauthenticated Redis to its Wi-Fi.
prod is sized for the seed's recommended 16-core / 32 GB host and publishes only Kong's proxy port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import get_args

from stacks.errors import Problem
from stacks.models import (
    EnvironmentName,
    GatewayDefaults,
    HealthTiming,
    LogRotation,
    ObservabilityDefaults,
    PkiDefaults,
    PostgresTuning,
    Profile,
    Publish,
    RedisTuning,
    Resources,
    RestartPolicy,
    TopicDefaults,
    Workload,
)
from stacks.units import ByteSize, Cpus

LOOPBACK = IPv4Address("127.0.0.1")
ANY = IPv4Address("0.0.0.0")

# Operator routes: private sources only. Docker's port proxy connects from the published network's gateway (a
# private address), so a client on the Docker host or the internal network passes; the internet never does.
PRIVATE_NETWORKS = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _workload(limit_cpus: str, limit_memory: str, reserve_cpus: str, reserve_memory: str, publish: Publish) -> Workload:
    return Workload(
        limits=Resources(cpus=Cpus.parse(limit_cpus), memory=ByteSize.parse(limit_memory)),
        reservations=Resources(cpus=Cpus.parse(reserve_cpus), memory=ByteSize.parse(reserve_memory)),
        publish=publish,
    )


_LOCAL = Publish(enabled=True, address=LOOPBACK)
_HIDDEN = Publish(enabled=False, address=LOOPBACK)
_PUBLIC = Publish(enabled=True, address=ANY)

# The seed's log rotation, kept in both profiles: json-file, 10m x 3.
_LOGGING = LogRotation(max_size=ByteSize.parse("10m"), max_files=3)
# `unless-stopped` in both profiles: the platform must come back after a host reboot without `pulumi up`. On a
# real engine `on-failure` did not: the daemon stops containers with SIGTERM on shutdown, nginx, Kong, Grafana and
# the exporters exit 0 on it, and `on-failure` never restarts an exit 0, so after a daemon restart only the
# containers that exited non-zero came back (README, "Deploy proof"). A crash loop is slowed by the engine's own
# back-off (doubling up to a minute between restarts) and pages through the ServiceDown and store-down alerts;
# `restartPolicy: on-failure` (CIS 5.15's literal reading, at most 5 retries) remains for who prefers that.
_RESTART = RestartPolicy(policy="unless-stopped")

DEV = Profile(
    name="dev",
    service=_workload("1.0", "512M", "0.5", "256M", _LOCAL),
    infrastructure=MappingProxyType(
        {
            "postgres": _workload("1.0", "1G", "0.5", "512M", _LOCAL),
            "redis": _workload("0.5", "256M", "0.25", "128M", _LOCAL),
            "kafka": _workload("1.0", "1G", "0.5", "512M", _LOCAL),
            "prometheus": _workload("0.5", "512M", "0.25", "256M", _LOCAL),
            "grafana": _workload("0.5", "256M", "0.25", "128M", _LOCAL),
            "jaeger": _workload("0.5", "512M", "0.25", "256M", _LOCAL),
            "kong": _workload("1.0", "512M", "0.5", "256M", _LOCAL),
        }
    ),
    logging=_LOGGING,
    restart=_RESTART,
    # Short-lived leaves in dev exercise renewal often; the CA outlives a laptop's interest in it.
    pki=PkiDefaults(ca_validity_hours=8760, leaf_validity_hours=720, early_renewal_hours=168),
    # Sized for the 1G dev limit: shared_buffers a quarter of it, the cache estimate three quarters.
    postgres=PostgresTuning(
        max_connections=200,
        shared_buffers=ByteSize.parse("256M"),
        effective_cache_size=ByteSize.parse("768M"),
        work_mem=ByteSize.parse("4M"),
        maintenance_work_mem=ByteSize.parse("64M"),
    ),
    # volatile-lru: only keys with a TTL (caches) are evicted; locks and idempotency keys never are.
    redis=RedisTuning(maxmemory=ByteSize.parse("192M"), maxmemory_policy="volatile-lru"),
    topics=TopicDefaults(partitions=3, retention_hours=72),
    health=HealthTiming(
        interval_seconds=10, timeout_seconds=5, retries=5, start_period_seconds=30, wait_timeout_seconds=180
    ),
    protect_data=False,
    gateway=GatewayDefaults(
        rate_limit_per_minute=600,
        max_request_megabytes=8,
        admin_allow=(IPv4Network("127.0.0.0/8"), *PRIVATE_NETWORKS),
    ),
    observability=ObservabilityDefaults(
        scrape_interval_seconds=15,
        retention_days=7,
        latency_p95_seconds=1.0,
        error_ratio=0.05,
        payment_success_ratio=0.90,
        memory_ratio=0.9,
        exporter=_workload("0.25", "128M", "0.1", "64M", _HIDDEN),
    ),
    # Environment variables, as the seed's .env did: images that only read DB_PASSWORD work unchanged.
    secret_delivery="env",
    # The seed publishes every port on the developer's 127.0.0.1, and the engine publishes ports only for a container
    # on a network that is not internal. One edge network per published container would be 26 networks, more than
    # the engine's default address pools hold, and one shared edge network breaks name resolution (see
    # stacks/resolve/networks.py). So dev keeps the segmentation (who shares a network with whom) and gives up the
    # no-egress part: its tier networks are not internal and carry the published ports themselves.
    internal_networks=False,
)

# 16 cores / 32 GB: 21 service containers (payment-gateway x3) reserve 10.5 CPU-shares and 10.5G, the
# data tier 3.5 CPU and 7.5G, monitoring and the gateway the rest, leaving headroom for the OS and cache.
PROD = Profile(
    name="prod",
    service=_workload("1.0", "1G", "0.5", "512M", _HIDDEN),
    replicas=MappingProxyType({"payment-gateway": 3}),
    infrastructure=MappingProxyType(
        {
            "postgres": _workload("4.0", "8G", "2.0", "4G", _HIDDEN),
            "redis": _workload("1.0", "2G", "0.5", "1G", _HIDDEN),
            "kafka": _workload("2.0", "4G", "1.0", "2G", _HIDDEN),
            "prometheus": _workload("1.0", "2G", "0.5", "1G", _HIDDEN),
            "grafana": _workload("0.5", "512M", "0.25", "256M", _LOCAL),
            "jaeger": _workload("1.0", "1G", "0.5", "512M", _HIDDEN),
            "kong": _workload("2.0", "1G", "1.0", "512M", _PUBLIC),
        }
    ),
    logging=_LOGGING,
    restart=_RESTART,
    public_infrastructure=frozenset({"kong"}),
    # 90-day leaves renewed 30 days ahead (by `make up`, which refreshes); a 5-year CA rotated by procedure.
    pki=PkiDefaults(ca_validity_hours=43800, leaf_validity_hours=2160, early_renewal_hours=720),
    postgres=PostgresTuning(
        max_connections=400,
        shared_buffers=ByteSize.parse("2G"),
        effective_cache_size=ByteSize.parse("6G"),
        work_mem=ByteSize.parse("16M"),
        maintenance_work_mem=ByteSize.parse("512M"),
    ),
    redis=RedisTuning(maxmemory=ByteSize.parse("1536M"), maxmemory_policy="volatile-lru"),
    # 12 partitions leave room to scale consumers; a week of events to replay after an incident.
    topics=TopicDefaults(partitions=12, retention_hours=168),
    health=HealthTiming(
        interval_seconds=15, timeout_seconds=5, retries=5, start_period_seconds=60, wait_timeout_seconds=300
    ),
    protect_data=True,
    gateway=GatewayDefaults(rate_limit_per_minute=1200, max_request_megabytes=8, admin_allow=PRIVATE_NETWORKS),
    # Payments: page on a p95 above half a second, 2% of 5xx, or fewer than 95% successful payments.
    observability=ObservabilityDefaults(
        scrape_interval_seconds=15,
        retention_days=30,
        latency_p95_seconds=0.5,
        error_ratio=0.02,
        payment_success_ratio=0.95,
        memory_ratio=0.9,
        exporter=_workload("0.5", "256M", "0.1", "64M", _HIDDEN),
    ),
    # Files: a secret in an environment variable shows in `docker inspect` and in crash dumps.
    secret_delivery="files",
    internal_networks=True,
)

PROFILES: MappingProxyType[str, Profile] = MappingProxyType({"dev": DEV, "prod": PROD})


PRODUCTION = "prod"
"""The environment (and profile) whose rules no stack of it can switch off."""
ENVIRONMENTS: tuple[str, ...] = get_args(EnvironmentName)
"""Values of the `environment` config key: what the stack is, whichever profile it runs. Only `prod` binds."""
PRODUCTION_NAME = re.compile(r"(?:^|[-_.])(?:prod|production)[0-9]*(?:$|[-_.])", re.IGNORECASE)
"""A stack name that declares production by itself: a word `prod`/`production`, optionally numbered, between the
name's separators. `preprod` or `product` is not one (a word of its own is); such a stack declares
`environment: prod` if it is production."""


@dataclass(frozen=True)
class Selection:
    """Which profile a stack runs (`profile`, None when it cannot be told) and the problems that decision found."""

    profile: str | None
    production: bool
    """The stack's name or its `environment` key declares production."""
    problems: tuple[Problem, ...]

    @property
    def rules(self) -> str:
        """The profile whose policy rules apply: a production stack's always prod, and prod too where the program
        cannot run at all (a problem): the strict rules are never the ones a bad configuration falls back from."""
        if self.production or self.problems or self.profile is None:
            return PRODUCTION
        return self.profile


def select_profile(stack: str, profile: str | None, environment: str | None) -> Selection:
    """The profile stack `stack` runs, given its `profile` and `environment` config values (None when unset).

    Raw values are accepted (the policy pack reads them from the engine, unchecked): anything but a known profile
    or environment is a problem naming the key, as the program reports it.
    """
    problems: list[Problem] = []
    by_name = PRODUCTION_NAME.search(stack) is not None
    if environment is not None and environment not in ENVIRONMENTS:
        problems.append(Problem(("environment",), f"expected one of: {', '.join(ENVIRONMENTS)}", environment))
    if profile is not None and profile not in PROFILES:
        problems.append(Problem(("profile",), f"expected one of: {', '.join(PROFILES)}", profile))
    if by_name and environment is not None and environment != PRODUCTION:
        problems.append(
            Problem(
                ("environment",),
                f"stack '{stack}' is a production stack by its name; expected {PRODUCTION} or unset",
                environment,
            )
        )
    production = by_name or environment == PRODUCTION
    if production and profile is not None and profile != PRODUCTION:
        declared = "its name" if by_name else f"`environment: {PRODUCTION}`"
        problems.append(
            Problem(
                ("profile",),
                f"stack '{stack}' is a production stack ({declared}) and cannot opt out of the {PRODUCTION} "
                f"profile and its rules; expected {PRODUCTION} or unset",
                profile,
            )
        )
    name = profile if profile in PROFILES else None
    if name is None and profile is None:
        name = PRODUCTION if production else (stack if stack in PROFILES else None)
        if name is None:
            problems.append(
                Problem(
                    ("profile",),
                    f"not set, and stack '{stack}' is not named after a profile; "
                    f"run `pulumi config set profile prod` (expected one of: {', '.join(PROFILES)})",
                )
            )
    return Selection(profile=name, production=production, problems=tuple(problems))
