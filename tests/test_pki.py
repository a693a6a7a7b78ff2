"""The private CA and its certificates, as both stacks declare them (placeholder engine)."""

from __future__ import annotations

from plan import Render
from stacks.catalog import INFRASTRUCTURE, SERVICES
from tests.conftest import changed, faithful, rendered
from vocabulary import CERT_REQUEST, CONTAINER, LOCALLY_SIGNED_CERT, PRIVATE_KEY, SECRET, SELF_SIGNED_CERT

TLS_INFRASTRUCTURE = ["postgres", "redis", "kafka", "prometheus", "kong"]


def test_one_certificate_per_service_and_tls_infrastructure(dev: Render, prod: Render) -> None:
    assert [i.name for i in INFRASTRUCTURE if i.tls] == TLS_INFRASTRUCTURE
    clients = ["operator", "kafka-exporter"]  # client-only identities: people and tools, the Kafka exporter
    expected = {f"payment-pki-{name}-cert" for name in [*(s.name for s in SERVICES), *TLS_INFRASTRUCTURE, *clients]}
    for render in (dev, prod):
        assert {r.name for r in render.by_type(LOCALLY_SIGNED_CERT)} == expected
        assert [r.name for r in render.by_type(SELF_SIGNED_CERT)] == ["payment-pki-ca0"]


def test_leaf_names_usages_and_validity_follow_the_profile(dev: Render, prod: Render) -> None:
    csr = prod.get(CERT_REQUEST, "payment-pki-order-service-csr").inputs
    assert csr["dnsNames"] == ["order-service", "order-service.payment-network", "localhost", "payment-order-service"]
    gateway = prod.get(CERT_REQUEST, "payment-pki-payment-gateway-csr").inputs["dnsNames"]
    assert gateway[3:] == [f"payment-payment-gateway-{n}" for n in (1, 2, 3)]  # each replica is addressable
    assert csr["ipAddresses"] == ["127.0.0.1"]
    assert csr["subject"]["commonName"] == "order-service"
    for render, validity, renewal in ((dev, 720, 168), (prod, 2160, 720)):
        cert = render.get(LOCALLY_SIGNED_CERT, "payment-pki-order-service-cert").inputs
        assert cert["allowedUses"] == ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
        assert (cert["validityPeriodHours"], cert["earlyRenewalHours"]) == (validity, renewal)
        assert cert["caPrivateKeyPem"] == SECRET
    key = prod.get(PRIVATE_KEY, "payment-pki-order-service-key")
    assert (key.inputs["algorithm"], key.inputs["ecdsaCurve"], key.replacement_trigger) == ("ECDSA", "P256", 0)


def test_the_ca_is_a_ca_that_never_renews_by_itself(prod: Render) -> None:
    ca = prod.get(SELF_SIGNED_CERT, "payment-pki-ca0").inputs
    assert ca["isCaCertificate"] is True
    assert "cert_signing" in ca["allowedUses"]
    assert ca["earlyRenewalHours"] == 0
    assert ca["validityPeriodHours"] == 43800
    assert ca["subject"]["commonName"] == "Payment Platform CA 0"


def test_every_leaf_is_signed_by_the_current_ca(prod: Render) -> None:
    ca = prod.get(SELF_SIGNED_CERT, "payment-pki-ca0")
    for cert in prod.by_type(LOCALLY_SIGNED_CERT):
        assert ca.urn in cert.dependencies


def test_ca_certificate_is_a_public_output(prod: Render) -> None:
    assert prod.outputs["caCertificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert prod.outputs["caBundle"] == prod.outputs["caCertificate"]


def containers(render: Render) -> set[str]:
    """Containers holding the trust bundle, and their loaders: what a change of trusted CAs replaces."""
    bundle = render.outputs["caBundle"]
    loaders = {
        r.name
        for r in render.by_type(CONTAINER)
        if any(u.get("content") == bundle for u in r.revealed_inputs.get("uploads", []))
    }
    return loaders | {name.removesuffix("-loader") for name in loaders}


# The CA rotation's three steps are the renders test_pki_tls.py handshakes with (`faithful`): the same inputs and
# triggers as placeholder renders, with real certificates, each issued once per process like the provider's.


def test_preparing_a_ca_rotation_adds_the_next_ca_to_the_bundle_only() -> None:
    before, after = faithful("prod"), faithful("prod", "pki.caOverlap=next")
    diff = changed(before, after)
    # Only containers change: each one that holds the bundle receives the new one.
    assert containers(after) >= {"payment-postgres-container", "payment-redis-container"}
    assert diff == {"added": {"payment-pki-ca1", "payment-pki-ca1-key"}, "removed": set(), "changed": containers(after)}
    assert after.outputs["caBundle"].count("BEGIN CERTIFICATE") == 2
    assert after.outputs["caCertificate"] == before.outputs["caCertificate"]


def test_rotating_the_ca_reissues_every_leaf_and_keeps_trusting_the_previous_one() -> None:
    staged = faithful("prod", "pki.caOverlap=next")
    rotated = faithful("prod", "pki.caOverlap=previous", "rotation.ca=1")
    diff = changed(staged, rotated)
    leaves = {r.name for r in staged.by_type(LOCALLY_SIGNED_CERT)}
    assert diff["added"] == diff["removed"] == set()
    assert diff["changed"] == leaves | containers(rotated)  # keys and CSRs stay; certificates are re-issued
    ca1 = rotated.get(SELF_SIGNED_CERT, "payment-pki-ca1")
    assert all(ca1.urn in cert.dependencies for cert in rotated.by_type(LOCALLY_SIGNED_CERT))
    assert rotated.outputs["caBundle"].count("BEGIN CERTIFICATE") == 2
    assert rotated.outputs["caBundle"].startswith(rotated.outputs["caCertificate"])
    finished = faithful("prod", "rotation.ca=1")
    assert changed(rotated, finished)["removed"] == {"payment-pki-ca0", "payment-pki-ca0-key"}
    assert changed(rotated, finished)["changed"] == containers(finished)  # the bundle shrinks


def test_rotating_one_certificate_replaces_its_key_and_reissues_it_alone() -> None:
    diff = changed(rendered("dev"), rendered("dev", "rotation.tls-order-service=1"))
    assert diff == {
        "added": set(),
        "removed": set(),
        "changed": {
            "payment-pki-order-service-key",
            "payment-pki-order-service-csr",
            "payment-pki-order-service-cert",
            "payment-services-payment-order-service-loader",
            "payment-services-payment-order-service",
        },
    }
    postgres = changed(rendered("dev"), rendered("dev", "rotation.tls-postgres=1"))["changed"]
    assert postgres == {
        "payment-pki-postgres-key",
        "payment-pki-postgres-csr",
        "payment-pki-postgres-cert",
        "payment-postgres-container-loader",
        "payment-postgres-container",
    }


def test_subject_comes_from_config() -> None:
    render = rendered("dev", "pki.organization=Acme Pay", "pki.country=CN")
    subject = render.get(CERT_REQUEST, "payment-pki-kyc-service-csr").inputs["subject"]
    assert (subject["organization"], subject["country"]) == ("Acme Pay", "CN")
    assert render.get(SELF_SIGNED_CERT, "payment-pki-ca0").inputs["subject"]["commonName"] == "Acme Pay CA 0"
