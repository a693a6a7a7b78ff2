"""The certificates both stacks declare, issued for real by the faithful pulumi-tls model.

What users rely on: every service certificate chains to the platform CA, names the service's hosts,
works for server and client auth in a real mutual-TLS handshake, and a CA rotation never leaves two
services unable to verify each other.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from plan import Render
from stacks.catalog import INFRASTRUCTURE, SERVICES
from tests.conftest import faithful
from tests.tlstools import handshake, openssl, write_pem
from vocabulary import LOCALLY_SIGNED_CERT, PRIVATE_KEY

SUBJECTS = [*(s.name for s in SERVICES), *(i.name for i in INFRASTRUCTURE if i.tls)]
ORDER = "order-service.payment-network"


def leaf(rendered: Render, subject: str) -> tuple[str, str]:
    """A subject's certificate and private key PEM, as the provider would hand them to its container."""
    cert = rendered.get(LOCALLY_SIGNED_CERT, f"payment-pki-{subject}-cert").revealed_outputs["certPem"]
    key = rendered.get(PRIVATE_KEY, f"payment-pki-{subject}-key").revealed_outputs["privateKeyPem"]
    return str(cert), str(key)


def bundle(rendered: Render) -> str:
    return str(rendered.outputs["caBundle"])


def mtls(server: tuple[str, str], client: tuple[str, str] | None, trust: str, hostname: str = ORDER) -> None:
    handshake(
        server[0],
        server[1],
        trust,
        hostname,
        client_cert_pem=client[0] if client else None,
        client_key_pem=client[1] if client else None,
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_leaf_chains_to_the_ca_with_its_names_and_usages(stack: str) -> None:
    rendered = faithful(stack)
    store = x509.verification.Store(x509.load_pem_x509_certificates(bundle(rendered).encode()))
    for subject in SUBJECTS:
        cert = x509.load_pem_x509_certificate(leaf(rendered, subject)[0].encode())
        # Verified as a server certificate for the service's network name, which also checks the chain.
        verifier = (
            x509.verification.PolicyBuilder()
            .store(store)
            .build_server_verifier(x509.DNSName(f"{subject}.payment-network"))
        )
        verifier.verify(cert, [])
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        containers = (
            [f"payment-{subject}"] if rendered.outputs["profile"] == "dev" or subject != "payment-gateway" else []
        )
        assert names.get_values_for_type(x509.DNSName)[:3] == [subject, f"{subject}.payment-network", "localhost"]
        assert set(containers) <= set(names.get_values_for_type(x509.DNSName))
        assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(extended) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == subject


@pytest.mark.tool("openssl")
def test_openssl_verifies_every_leaf_against_the_bundle(tmp_path: Path) -> None:
    rendered = faithful("prod")
    ca = write_pem(tmp_path, "ca.pem", bundle(rendered))
    leaves = [write_pem(tmp_path, f"{s}.crt", leaf(rendered, s)[0]) for s in SUBJECTS]
    result = openssl("verify", "-CAfile", str(ca), "-purpose", "sslserver", *map(str, leaves))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(SUBJECTS)


def test_two_services_complete_a_mutual_tls_handshake() -> None:
    rendered = faithful("prod")
    mtls(leaf(rendered, "order-service"), leaf(rendered, "payment-gateway"), bundle(rendered))


def test_handshake_fails_without_a_client_certificate() -> None:
    rendered = faithful("prod")
    with pytest.raises(ssl.SSLError):
        mtls(leaf(rendered, "order-service"), None, bundle(rendered))


def test_handshake_fails_with_a_certificate_from_another_ca() -> None:
    rendered, other = faithful("prod"), faithful("staging", "profile=prod", "demo=true")  # another stack, another CA
    with pytest.raises(ssl.SSLError):
        mtls(leaf(rendered, "order-service"), leaf(other, "payment-gateway"), bundle(rendered))


def test_handshake_fails_for_another_services_name() -> None:
    rendered = faithful("prod")
    with pytest.raises(ssl.SSLCertVerificationError):
        mtls(leaf(rendered, "order-service"), leaf(rendered, "payment-gateway"), bundle(rendered), "risk-service")


def test_during_a_ca_rotation_old_and_new_leaves_trust_each_other() -> None:
    staged = faithful("prod", "pki.caOverlap=next")  # step 1: CA 1 trusted, leaves from CA 0
    rotated = faithful("prod", "pki.caOverlap=previous", "rotation.ca=1")  # step 2: leaves from CA 1
    finished = faithful("prod", "rotation.ca=1")  # step 3: CA 0 gone
    old_server, new_client = leaf(staged, "order-service"), leaf(rotated, "payment-gateway")
    new_server, old_client = leaf(rotated, "order-service"), leaf(staged, "payment-gateway")
    for trust in (bundle(staged), bundle(rotated)):  # a container replaced in step 1 or step 2
        mtls(old_server, new_client, trust)
        mtls(new_server, old_client, trust)
    # Only after the rotation do old certificates stop working, which is why step 3 comes last.
    with pytest.raises(ssl.SSLError):
        mtls(new_server, old_client, bundle(finished))
    mtls(leaf(finished, "order-service"), leaf(finished, "payment-gateway"), bundle(finished))
