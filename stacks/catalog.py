"""The service catalog: the one list of what the platform runs.

Every per-service resource (database, role, certificate, container, scrape job, dashboard row, gateway
route) is generated from these entries, so adding a service is one entry here or one `services.<name>`
block in stack config. Names, ports and databases are exactly the seed deployment guide's port table
(architecture section); a test compares them line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    """Where a service sits in the seed's layer diagram."""

    BFF = "bff"
    """Backend-for-frontend: aggregates core services for the admin and merchant portals."""
    CORE = "core"
    """Core business service."""


@dataclass(frozen=True)
class CatalogService:
    """An application service as the seed defines it."""

    name: str
    """Service name; also its DNS name on the network and the suffix of its container name."""
    port: int
    """Port the service listens on inside its container (mTLS), and its published port."""
    database: str
    """Its own PostgreSQL database."""
    tier: Tier
    title: str
    """Human name for dashboards and the render table."""


@dataclass(frozen=True)
class CatalogInfrastructure:
    """A piece of shared infrastructure and the host port the seed publishes it on."""

    name: str
    """Short name; its network alias and the key of its stack config block."""
    port: int
    """Port inside the container."""
    published_port: int
    """Host port from the seed's infrastructure table."""
    title: str


SERVICES: tuple[CatalogService, ...] = (
    CatalogService("admin-bff-service", 40001, "payment_admin", Tier.BFF, "Admin BFF"),
    CatalogService("merchant-bff-service", 40023, "payment_merchant", Tier.BFF, "Merchant BFF"),
    CatalogService("payment-gateway", 40003, "payment_gateway", Tier.CORE, "Payment Gateway"),
    CatalogService("order-service", 40004, "payment_order", Tier.CORE, "Order"),
    CatalogService("channel-adapter", 40005, "payment_channel", Tier.CORE, "Channel Adapter"),
    CatalogService("risk-service", 40006, "payment_risk", Tier.CORE, "Risk"),
    CatalogService("accounting-service", 40007, "payment_accounting", Tier.CORE, "Accounting"),
    CatalogService("notification-service", 40008, "payment_notification", Tier.CORE, "Notification"),
    CatalogService("analytics-service", 40009, "payment_analytics", Tier.CORE, "Analytics"),
    CatalogService("config-service", 40010, "payment_config", Tier.CORE, "Config"),
    CatalogService("merchant-auth-service", 40011, "payment_merchant_auth", Tier.CORE, "Merchant Auth"),
    CatalogService("settlement-service", 40013, "payment_settlement", Tier.CORE, "Settlement"),
    CatalogService("withdrawal-service", 40014, "payment_withdrawal", Tier.CORE, "Withdrawal"),
    CatalogService("kyc-service", 40015, "payment_kyc", Tier.CORE, "KYC"),
    CatalogService("cashier-service", 40016, "payment_cashier", Tier.CORE, "Cashier"),
    CatalogService("reconciliation-service", 40020, "payment_reconciliation", Tier.CORE, "Reconciliation"),
    CatalogService("dispute-service", 40021, "payment_dispute", Tier.CORE, "Dispute"),
    CatalogService("merchant-policy-service", 40022, "payment_merchant_policy", Tier.CORE, "Merchant Policy"),
    CatalogService("merchant-quota-service", 40024, "payment_merchant_quota", Tier.CORE, "Merchant Quota"),
)

INFRASTRUCTURE: tuple[CatalogInfrastructure, ...] = (
    CatalogInfrastructure("postgres", 5432, 40432, "PostgreSQL"),
    CatalogInfrastructure("redis", 6379, 40379, "Redis"),
    CatalogInfrastructure("kafka", 9092, 40092, "Kafka"),
    CatalogInfrastructure("prometheus", 9090, 40090, "Prometheus"),
    CatalogInfrastructure("grafana", 3000, 40300, "Grafana"),
    CatalogInfrastructure("jaeger", 16686, 50686, "Jaeger UI"),
    CatalogInfrastructure("kong", 8000, 40080, "Kong Gateway"),
)

INFRASTRUCTURE_NAMES: tuple[str, ...] = tuple(i.name for i in INFRASTRUCTURE)
