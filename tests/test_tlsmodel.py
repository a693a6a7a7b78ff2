"""The faithful pulumi-tls model issues material that works: chains, names, usages and real handshakes."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from plan import PROJECT_DIR
from plan.simulate import PLACEHOLDERS, Request
from tests.support.tlsmodel import Faithful
from tests.tlstools import handshake, openssl, write_pem

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"

LEAF_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
CA_SUBJECT = {
    "commonName": "Payment Platform CA",
    "organization": "Payment Platform",
    "organizationalUnit": "Platform",
    "country": "CN",
    "province": "Shanghai",
    "locality": "Pudong",
    "postalCode": "200120",
    "serialNumber": "0001",
    "streetAddresses": ["1 Century Avenue"],
}
KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_cert_sign",
    "crl_sign",
)
EC_P256 = {"algorithm": "ECDSA", "ecdsaCurve": "P256"}


def simulate(type_: str, name: str, trigger: Any = None, **inputs: Any) -> dict[str, Any]:
    urn = f"urn:pulumi:dev::payment-platform::{type_}::{name}"
    return Faithful().outputs(Request(type_, urn, inputs, trigger))


@dataclass(frozen=True)
class Issued:
    key_pem: str
    cert_pem: str
    outputs: dict[str, Any]

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem.encode())


def make_ca(name: str, key: dict[str, Any] = EC_P256) -> Issued:
    key_pem = simulate(PRIVATE_KEY, f"{name}-key", **key)["privateKeyPem"]
    outputs = simulate(
        SELF_SIGNED,
        name,
        privateKeyPem=key_pem,
        subject={**CA_SUBJECT, "commonName": name},
        validityPeriodHours=87600.0,
        isCaCertificate=True,
        allowedUses=["cert_signing", "crl_signing"],
    )
    return Issued(key_pem, outputs["certPem"], outputs)


def make_leaf(service: str, ca: Issued, key: dict[str, Any] = EC_P256) -> Issued:
    key_pem = simulate(PRIVATE_KEY, f"{service}-key", **key)["privateKeyPem"]
    csr = simulate(
        CERT_REQUEST,
        f"{service}-csr",
        privateKeyPem=key_pem,
        subject={"commonName": service, "organization": "Payment Platform"},
        dnsNames=[service, f"{service}.payment-network", "localhost"],
        ipAddresses=["127.0.0.1"],
    )
    outputs = simulate(
        LOCALLY_SIGNED,
        f"{service}-cert",
        certRequestPem=csr["certRequestPem"],
        caPrivateKeyPem=ca.key_pem,
        caCertPem=ca.cert_pem,
        validityPeriodHours=720.0,
        allowedUses=LEAF_USES,
    )
    return Issued(key_pem, outputs["certPem"], outputs)


def key_usage_bits(cert: x509.Certificate) -> set[str]:
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    # encipher_only and decipher_only read as errors unless key_agreement is set, which no test asks for.
    assert not usage.key_agreement
    return {name for name in KEY_USAGE_BITS if getattr(usage, name)}


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("platform-ca")


@pytest.fixture(scope="module")
def other_ca() -> Issued:
    return make_ca("other-ca")


@pytest.fixture(scope="module")
def server(ca: Issued) -> Issued:
    return make_leaf("order-service", ca)


@pytest.fixture(scope="module")
def client(ca: Issued) -> Issued:
    return make_leaf("payment-gateway", ca)


def test_leaf_chains_to_the_ca_for_servers_and_clients(ca: Issued, other_ca: Issued, server: Issued) -> None:
    policy = PolicyBuilder().store(Store([ca.cert]))
    chain = policy.build_server_verifier(x509.DNSName("order-service.payment-network")).verify(server.cert, [])
    assert chain == [server.cert, ca.cert]
    assert policy.build_client_verifier().verify(server.cert, []).chain == [server.cert, ca.cert]
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([other_ca.cert])).build_client_verifier().verify(server.cert, [])


@pytest.mark.tool("openssl")
def test_openssl_verifies_the_chain(tmp_path: Path, ca: Issued, other_ca: Issued, server: Issued) -> None:
    bundle, wrong = write_pem(tmp_path, "ca.pem", ca.cert_pem), write_pem(tmp_path, "other.pem", other_ca.cert_pem)
    leaf = write_pem(tmp_path, "leaf.pem", server.cert_pem)
    for purpose in ("sslserver", "sslclient"):
        result = openssl("verify", "-CAfile", str(bundle), "-purpose", purpose, str(leaf))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{leaf}: OK"
    assert openssl("verify", "-CAfile", str(wrong), str(leaf)).returncode != 0


def test_leaf_names_exactly_the_requested_hosts(ca: Issued, server: Issued) -> None:
    cert = server.cert
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["order-service", "order-service.payment-network", "localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert len(list(names)) == 4
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "order-service"
    assert cert.issuer == ca.cert.subject


def test_leaf_usages_are_exactly_the_allowed_ones(ca: Issued, server: Issued) -> None:
    extensions = server.cert.extensions
    assert extensions.get_extension_for_class(x509.KeyUsage).critical
    assert key_usage_bits(server.cert) == {"digital_signature", "key_encipherment"}
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    authority = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_key_id = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert authority.key_identifier == ca_key_id.digest
    with pytest.raises(x509.ExtensionNotFound):
        extensions.get_extension_for_class(x509.SubjectKeyIdentifier)  # only with setSubjectKeyId


def test_ca_can_sign_certificates_and_nothing_else(ca: Issued) -> None:
    cert = ca.cert
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
    assert key_usage_bits(cert) == {"key_cert_sign", "crl_sign"}
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    key_id = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert key_id == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert ca.outputs["keyAlgorithm"] == "ECDSA"


def test_every_subject_field_reaches_the_certificate(ca: Issued) -> None:
    # In Go's order, whatever order the configuration lists the fields in.
    assert [(attribute.oid, attribute.value) for attribute in ca.cert.subject] == [
        (NameOID.COUNTRY_NAME, "CN"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Shanghai"),
        (NameOID.LOCALITY_NAME, "Pudong"),
        (NameOID.STREET_ADDRESS, "1 Century Avenue"),
        (NameOID.POSTAL_CODE, "200120"),
        (NameOID.ORGANIZATION_NAME, "Payment Platform"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Platform"),
        (NameOID.COMMON_NAME, "platform-ca"),
        (NameOID.SERIAL_NUMBER, "0001"),
    ]


def test_validity_is_the_requested_hours_starting_just_before_now(ca: Issued, server: Issued) -> None:
    cert = server.cert
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert end - start == timedelta(hours=720)
    assert timedelta(minutes=5) <= datetime.now(UTC) - start < timedelta(minutes=10)
    assert server.outputs["validityStartTime"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert server.outputs["validityEndTime"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert server.outputs["readyForRenewal"] is False
    assert server.outputs["caKeyAlgorithm"] == "ECDSA"
    assert ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc == timedelta(hours=87600)
    assert 0 < cert.serial_number < 2**159
    assert cert.serial_number != ca.cert.serial_number


@pytest.mark.parametrize("hostname", ["order-service.payment-network", "order-service", "localhost", "127.0.0.1"])
def test_mutual_tls_between_two_services_succeeds(ca: Issued, server: Issued, client: Issued, hostname: str) -> None:
    handshake(
        server.cert_pem,
        server.key_pem,
        ca.cert_pem,
        hostname,
        client_cert_pem=client.cert_pem,
        client_key_pem=client.key_pem,
    )


def test_handshake_fails_without_a_client_certificate(ca: Issued, server: Issued) -> None:
    with pytest.raises(ssl.SSLError, match="PEER_DID_NOT_RETURN_A_CERTIFICATE"):
        handshake(server.cert_pem, server.key_pem, ca.cert_pem, "order-service.payment-network")


def test_handshake_fails_with_a_client_certificate_from_another_ca(
    ca: Issued, other_ca: Issued, server: Issued
) -> None:
    intruder = make_leaf("intruder", other_ca)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        handshake(
            server.cert_pem,
            server.key_pem,
            ca.cert_pem,
            "order-service.payment-network",
            client_cert_pem=intruder.cert_pem,
            client_key_pem=intruder.key_pem,
        )


def test_client_rejects_a_server_certificate_from_another_ca(ca: Issued, other_ca: Issued, client: Issued) -> None:
    impostor = make_leaf("order-service", other_ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(
            impostor.cert_pem,
            impostor.key_pem,
            ca.cert_pem,
            "order-service.payment-network",
            client_cert_pem=client.cert_pem,
            client_key_pem=client.key_pem,
        )


def test_handshake_fails_for_a_hostname_outside_the_names(ca: Issued, server: Issued, client: Issued) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(
            server.cert_pem,
            server.key_pem,
            ca.cert_pem,
            "payment-gateway.payment-network",
            client_cert_pem=client.cert_pem,
            client_key_pem=client.key_pem,
        )


@pytest.mark.parametrize(
    ("key", "pem_type", "ssh_type"),
    [
        ({"algorithm": "RSA"}, "RSA PRIVATE KEY", "ssh-rsa"),
        ({"algorithm": "RSA", "rsaBits": 3072.0}, "RSA PRIVATE KEY", "ssh-rsa"),
        ({"algorithm": "ED25519"}, "PRIVATE KEY", "ssh-ed25519"),
        ({"algorithm": "ECDSA", "ecdsaCurve": "P384"}, "EC PRIVATE KEY", "ecdsa-sha2-nistp384"),
        ({"algorithm": "ECDSA", "ecdsaCurve": "P521"}, "EC PRIVATE KEY", "ecdsa-sha2-nistp521"),
    ],
)
def test_every_algorithm_makes_working_keys_and_chains(key: dict[str, Any], pem_type: str, ssh_type: str) -> None:
    name = f"{key['algorithm']}-{key.get('rsaBits', key.get('ecdsaCurve', ''))}".lower()
    outputs = simulate(PRIVATE_KEY, f"{name}-probe", **key)
    assert outputs["privateKeyPem"].startswith(f"-----BEGIN {pem_type}-----\n")
    assert outputs["privateKeyPemPkcs8"].startswith("-----BEGIN PRIVATE KEY-----\n")
    private = serialization.load_pem_private_key(outputs["privateKeyPem"].encode(), password=None)
    public = private.public_key()
    assert serialization.load_pem_private_key(outputs["privateKeyPemPkcs8"].encode(), None).public_key() == public
    assert serialization.load_pem_public_key(outputs["publicKeyPem"].encode()) == public
    assert serialization.load_ssh_private_key(outputs["privateKeyOpenssh"].encode(), None).public_key() == public
    assert outputs["publicKeyOpenssh"].startswith(f"{ssh_type} ") and outputs["publicKeyOpenssh"].endswith("\n")
    assert serialization.load_ssh_public_key(outputs["publicKeyOpenssh"].encode()) == public
    assert outputs["publicKeyFingerprintSha256"].startswith("SHA256:")
    assert len(outputs["publicKeyFingerprintMd5"].split(":")) == 16

    ca = make_ca(f"{name}-ca", key)
    assert ca.outputs["keyAlgorithm"] == key["algorithm"]
    ca.cert.verify_directly_issued_by(ca.cert)
    server, client = make_leaf(f"{name}-server", ca, key), make_leaf(f"{name}-client", ca, key)
    assert server.outputs["caKeyAlgorithm"] == key["algorithm"]
    if key["algorithm"] != "ED25519":  # cryptography's verifier enforces the Web PKI, which forbids Ed25519
        policy = PolicyBuilder().store(Store([ca.cert]))
        policy.build_server_verifier(x509.DNSName("localhost")).verify(server.cert, [])
    handshake(
        server.cert_pem,
        server.key_pem,
        ca.cert_pem,
        f"{name}-server.payment-network",
        client_cert_pem=client.cert_pem,
        client_key_pem=client.key_pem,
    )


def test_signature_hash_follows_the_curve_as_go_picks_it() -> None:
    assert isinstance(
        make_ca("p384-hash-ca", {**EC_P256, "ecdsaCurve": "P384"}).cert.signature_hash_algorithm, hashes.SHA384
    )
    assert make_ca("ed25519-hash-ca", {"algorithm": "ED25519"}).cert.signature_hash_algorithm is None


def test_ecdsa_defaults_to_p224_which_has_no_openssh_form_and_no_tls_support() -> None:
    """The provider's default curve is P224: components must name P256 (or stronger) for anything TLS."""
    outputs = simulate(PRIVATE_KEY, "default-curve", algorithm="ECDSA")
    key = serialization.load_pem_private_key(outputs["privateKeyPem"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp224r1"
    assert outputs["publicKeyOpenssh"] == outputs["privateKeyOpenssh"] == outputs["publicKeyFingerprintMd5"] == ""
    p224 = {"algorithm": "ECDSA"}
    ca = make_ca("p224-ca", p224)
    server, client = make_leaf("p224-server", ca, p224), make_leaf("p224-client", ca, p224)
    with pytest.raises(ssl.SSLError):  # OpenSSL offers no P-224 signature scheme in TLS
        handshake(
            server.cert_pem,
            server.key_pem,
            ca.cert_pem,
            "localhost",
            client_cert_pem=client.cert_pem,
            client_key_pem=client.key_pem,
        )


def test_ecdsa_and_ed25519_keys_are_stable_across_processes_and_rotate_with_the_trigger() -> None:
    code = (
        "from plan.simulate import Request; from tests.support.tlsmodel import Faithful\n"
        "for algorithm in ('ECDSA', 'ED25519'):\n"
        "    request = Request('tls:index/privateKey:PrivateKey', 'urn:k', {'algorithm': algorithm}, 1)\n"
        "    print(Faithful().outputs(request)['privateKeyPem'], end='')\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True
        ).stdout
        for _ in range(2)
    ]
    expected = "".join(
        Faithful().outputs(Request(PRIVATE_KEY, "urn:k", {"algorithm": a}, 1))["privateKeyPem"]
        for a in ("ECDSA", "ED25519")
    )
    assert runs == [expected, expected]
    for key in (EC_P256, {"algorithm": "ED25519"}):
        pem = simulate(PRIVATE_KEY, "stable", 1, **key)["privateKeyPem"]
        assert simulate(PRIVATE_KEY, "stable", 1, **key)["privateKeyPem"] == pem
        assert simulate(PRIVATE_KEY, "stable", 2, **key)["privateKeyPem"] != pem
        assert simulate(PRIVATE_KEY, "other", 1, **key)["privateKeyPem"] != pem


def test_rsa_keys_are_kept_for_the_same_resource() -> None:
    first = simulate(PRIVATE_KEY, "rsa-kept", algorithm="RSA")
    assert simulate(PRIVATE_KEY, "rsa-kept", algorithm="RSA") == first
    assert simulate(PRIVATE_KEY, "rsa-kept", 2, algorithm="RSA")["privateKeyPem"] != first["privateKeyPem"]


def test_authority_and_subject_key_ids_on_request() -> None:
    key_pem = simulate(PRIVATE_KEY, "ids-key", **EC_P256)["privateKeyPem"]
    pem = simulate(
        SELF_SIGNED,
        "ids",
        privateKeyPem=key_pem,
        validityPeriodHours=1,
        allowedUses=["server_auth"],
        dnsNames=["ids.example"],
        setSubjectKeyId=True,
        setAuthorityKeyId=True,
    )["certPem"]
    extensions = x509.load_pem_x509_certificate(pem.encode()).extensions
    subject_id = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == subject_id
    with pytest.raises(x509.ExtensionNotFound):
        extensions.get_extension_for_class(x509.KeyUsage)  # no key usage bit was allowed
    assert extensions.get_extension_for_class(x509.SubjectAlternativeName).critical  # the subject is empty


@pytest.mark.parametrize(
    ("type_", "inputs", "message"),
    [
        (PRIVATE_KEY, {"algorithm": "DSA"}, "unsupported algorithm 'DSA'"),
        (PRIVATE_KEY, {"algorithm": "ECDSA", "ecdsaCurve": "P192"}, "unsupported ecdsaCurve 'P192'"),
        (PRIVATE_KEY, {}, "missing required input algorithm"),
        (SELF_SIGNED, {"validityPeriodHours": 1, "allowedUses": []}, "missing required input privateKeyPem"),
        (CERT_REQUEST, {"subject": {"commonName": "x"}}, "missing required input privateKeyPem or privateKeyPemWo"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(type_: str, inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(type_, "bad", **inputs)


def test_bad_certificate_inputs_raise_a_clear_value_error(ca: Issued, other_ca: Issued) -> None:
    base = {"privateKeyPem": ca.key_pem, "validityPeriodHours": 1}
    with pytest.raises(ValueError, match=r"unknown allowedUses \['server_authentication'\]"):
        simulate(SELF_SIGNED, "typo", allowedUses=["server_authentication"], **base)
    with pytest.raises(ValueError, match="missing required input allowedUses"):
        simulate(SELF_SIGNED, "no-uses", **base)
    csr = simulate(CERT_REQUEST, "mismatch-csr", privateKeyPem=ca.key_pem)["certRequestPem"]
    with pytest.raises(ValueError, match="caPrivateKeyPem is not the key of caCertPem"):
        simulate(
            LOCALLY_SIGNED,
            "mismatch",
            certRequestPem=csr,
            caPrivateKeyPem=other_ca.key_pem,
            caCertPem=ca.cert_pem,
            validityPeriodHours=1,
            allowedUses=[],
        )


def test_other_types_keep_their_placeholders() -> None:
    for type_, simulator in PLACEHOLDERS.items():
        if not type_.startswith("tls:"):
            assert Faithful.simulators[type_] is simulator
