"""The private CA and the certificates it issues: one per service, per piece of infrastructure that speaks TLS
(the catalog's `tls`), the operator's, and kafka-exporter's Kafka client identity."""

from __future__ import annotations

from stacks.catalog import KAFKA_EXPORTER, OPERATOR
from stacks.errors import Problem
from stacks.models import Certificate, Infrastructure, Pki, PkiSettings, Profile, Service, StackSettings
from stacks.resolve.merge import overlay

ORGANIZATION = "Payment Platform"
ORGANIZATIONAL_UNIT = "payment-platform"


def pki(
    settings: StackSettings,
    profile: Profile,
    services: tuple[Service, ...],
    infrastructure: tuple[Infrastructure, ...],
    problems: list[Problem],
) -> Pki:
    rotation = settings.rotation
    defaults = Pki(
        organization=ORGANIZATION,
        organizational_unit=ORGANIZATIONAL_UNIT,
        country=None,
        ca_generation=rotation.get("ca", 0),
        ca_overlap="none",
        ca_validity_hours=profile.pki.ca_validity_hours,
        leaf_validity_hours=profile.pki.leaf_validity_hours,
        early_renewal_hours=profile.pki.early_renewal_hours,
        certificates=(
            *(
                Certificate(
                    subject=s.name, rotation=rotation.get(f"tls-{s.name}", 0), container_names=s.container_names
                )
                for s in services
            ),
            *(
                Certificate(
                    subject=i.name, rotation=rotation.get(f"tls-{i.name}", 0), container_names=(i.container_name,)
                )
                for i in infrastructure
                if i.tls
            ),
            Certificate(subject=OPERATOR, rotation=rotation.get(f"tls-{OPERATOR}", 0)),
            # kafka-exporter's Kafka client identity (`User:kafka-exporter`, read-only ACLs).
            Certificate(subject=KAFKA_EXPORTER.name, rotation=rotation.get(f"tls-{KAFKA_EXPORTER.name}", 0)),
        ),
    )
    resolved = overlay(defaults, settings.pki or PkiSettings())
    if resolved.ca_overlap == "previous" and resolved.ca_generation == 0:
        problems.append(
            Problem(("pki", "caOverlap"), "there is no CA before generation 0 (rotation.ca is 0)", "previous")
        )
    if resolved.early_renewal_hours >= resolved.leaf_validity_hours:
        problems.append(
            Problem(
                ("pki", "earlyRenewalHours"),
                f"expected fewer hours than leafValidityHours ({resolved.leaf_validity_hours}), "
                "or every refresh would re-issue every certificate",
                resolved.early_renewal_hours,
            )
        )
    if resolved.leaf_validity_hours > resolved.ca_validity_hours:
        problems.append(
            Problem(
                ("pki", "leafValidityHours"),
                f"expected at most caValidityHours ({resolved.ca_validity_hours}): a leaf cannot outlive its CA",
                resolved.leaf_validity_hours,
            )
        )
    return resolved
