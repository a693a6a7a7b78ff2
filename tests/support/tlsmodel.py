"""Real keys and certificates in place of the TLS placeholders, made the way pulumi-tls makes them.

The renderer shows fake PEM text (`plan.simulate.Placeholders`) because a render must be byte-identical
for the same commit and config, and a certificate carries the time it was issued. Tests need more than
that: what users rely on is that a service certificate chains to the platform CA, names the right hosts,
allows the right usages and completes a real TLS handshake, and a placeholder can show none of it.
`Faithful` keeps every other placeholder and issues real material with `cryptography`, following the
provider (the Terraform tls provider, written in Go) wherever its choices are visible to users:

* PEM formats: PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8 for Ed25519 in `privateKeyPem`; ECDSA defaults
  to P224, which has no OpenSSH encoding, so the OpenSSH outputs are empty strings for it;
* extensions as Go's `x509.CreateCertificate` writes them: critical KeyUsage (only when a key usage is
  allowed) and BasicConstraints (always, CA:FALSE for leaves), a subject key id on every CA, an
  authority key id copied from the CA certificate's subject key id;
* a locally signed certificate takes the subject, DNS names, IP addresses and URIs of the request and
  nothing else from it;
* signatures use SHA-256, SHA-384 for P384 keys and SHA-512 for P521 keys, as Go picks them.

One deliberate difference: `not_before` is five minutes in the past (the provider uses "now"), so a
certificate validates at once even against a peer whose clock runs slightly behind.

Values are computed once per resource and process, as the provider computes them once per resource and
keeps them in state: ECDSA and Ed25519 keys derive from the resource's seed (the CA stays the same
across test runs), RSA keys are random because no library derives them from a seed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from plan.simulate import PLACEHOLDERS, Placeholders, Request, Simulator, digest
from vocabulary import CERT_REQUEST, LOCALLY_SIGNED_CERT, PRIVATE_KEY, SELF_SIGNED_CERT

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

CURVES: Mapping[str, type[ec.EllipticCurve]] = {
    "P224": ec.SECP224R1,
    "P256": ec.SECP256R1,
    "P384": ec.SECP384R1,
    "P521": ec.SECP521R1,
}

KEY_USAGES: Mapping[str, str] = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
"""`allowedUses` names that are KeyUsage bits, with `x509.KeyUsage`'s argument for each."""

EXTENDED_KEY_USAGES: Mapping[str, ObjectIdentifier] = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "ipsec_end_system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "microsoft_server_gated_crypto": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}

# Go encodes a name in this fixed order, whatever order the configuration lists the fields in.
SUBJECT_FIELDS: tuple[tuple[str, ObjectIdentifier], ...] = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
)

OPENSSH_OUTPUTS = ("privateKeyOpenssh", "publicKeyOpenssh", "publicKeyFingerprintMd5", "publicKeyFingerprintSha256")


def _once(simulator: Simulator) -> Simulator:
    """`simulator`, computed once per resource: asked again, it returns the same key or certificate."""
    made: dict[str, dict[str, Any]] = {}

    @functools.wraps(simulator)
    def once(request: Request) -> dict[str, Any]:
        seed = request.seed("outputs")
        if seed not in made:
            made[seed] = simulator(request)
        return dict(made[seed])

    return once


def _input(request: Request, *names: str, default: Any = None) -> Any:
    """The value of the one input in `names` that is set (an input and its write-only twin)."""
    given = [request.inputs[name] for name in names if request.inputs.get(name) is not None]
    if len(given) > 1:
        raise ValueError(f"{request.urn}: set only one of {', '.join(names)}")
    if given:
        return given[0]
    if default is None:
        raise ValueError(f"{request.urn}: missing required input {' or '.join(names)}")
    return default


def _hours(request: Request, name: str, default: Any = None) -> int:
    hours = int(_input(request, name, default=default))  # protobuf carries numbers as doubles
    if hours < 0:
        raise ValueError(f"{request.urn}: {name} must not be negative, got {hours}")
    return hours


def _stream(seed: str, size: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def _new_key(request: Request) -> PrivateKey:
    algorithm = _input(request, "algorithm")
    seed = request.seed("key")
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(_input(request, "rsaBits", default=2048)))
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(_stream(seed, 32))
    if algorithm != "ECDSA":
        raise ValueError(f"{request.urn}: unsupported algorithm {algorithm!r}; pulumi-tls knows RSA, ECDSA, ED25519")
    name = _input(request, "ecdsaCurve", default="P224")
    if name not in CURVES:
        raise ValueError(f"{request.urn}: unsupported ecdsaCurve {name!r}; pulumi-tls knows {', '.join(CURVES)}")
    curve = CURVES[name]()
    # Every NIST curve's order exceeds 2**(bits-1), so any non-zero scalar below that is a valid key.
    limit = 2 ** (curve.key_size - 1) - 1
    scalar = int.from_bytes(_stream(seed, curve.key_size // 8 + 8)) % limit + 1
    return ec.derive_private_key(scalar, curve)


def _load_key(request: Request, *names: str) -> PrivateKey:
    key = serialization.load_pem_private_key(str(_input(request, *names)).encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(
            f"{request.urn}: {names[0]} holds a {type(key).__name__}; pulumi-tls takes RSA, ECDSA, ED25519"
        )
    return key


def _algorithm(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    return "ECDSA" if isinstance(key, ec.EllipticCurvePrivateKey) else "ED25519"


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None  # Ed25519 hashes internally
    size = key.curve.key_size if isinstance(key, ec.EllipticCurvePrivateKey) else 0
    return hashes.SHA512() if size == 521 else hashes.SHA384() if size == 384 else hashes.SHA256()


def _openssh(key: PrivateKey) -> dict[str, str]:
    try:
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except ValueError:  # P224: OpenSSH has no name for the curve, and the provider leaves these empty
        return dict.fromkeys(OPENSSH_OUTPUTS, "")
    blob = base64.b64decode(public.split()[1])
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return {
        "privateKeyOpenssh": private.decode(),
        "publicKeyOpenssh": public.decode() + "\n",  # Go's MarshalAuthorizedKey ends the line
        "publicKeyFingerprintMd5": ":".join(md5[i : i + 2] for i in range(0, len(md5), 2)),
        "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
    }


@_once
def private_key(request: Request) -> dict[str, Any]:
    key = _new_key(request)
    pem, plain = serialization.Encoding.PEM, serialization.NoEncryption()
    # Go writes PKCS#1 and SEC1 where they exist; Ed25519 only has PKCS#8.
    native = serialization.PrivateFormat.TraditionalOpenSSL
    if isinstance(key, ed25519.Ed25519PrivateKey):
        native = serialization.PrivateFormat.PKCS8
    return {
        "privateKeyPem": key.private_bytes(pem, native, plain).decode(),
        "privateKeyPemPkcs8": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, plain).decode(),
        "publicKeyPem": key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        **_openssh(key),
    }


def _name(fields: Mapping[str, Any] | None) -> x509.Name:
    rdns = []
    for field, oid in SUBJECT_FIELDS:
        value = (fields or {}).get(field)
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
        if values:  # Go writes repeated values of one field as a single multi-valued RDN
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, v) for v in values]))
    return x509.Name(rdns)


def _alt_names(request: Request) -> list[x509.GeneralName]:
    inputs = request.inputs
    return [
        *(x509.DNSName(name) for name in inputs.get("dnsNames") or []),
        *(x509.IPAddress(ipaddress.ip_address(address)) for address in inputs.get("ipAddresses") or []),
        *(x509.UniformResourceIdentifier(uri) for uri in inputs.get("uris") or []),
    ]


def _usages(request: Request) -> list[tuple[x509.ExtensionType, bool]]:
    uses = list(_input(request, "allowedUses"))
    unknown = [use for use in uses if use not in KEY_USAGES and use not in EXTENDED_KEY_USAGES]
    if unknown:
        raise ValueError(f"{request.urn}: unknown allowedUses {unknown}")
    bits = {KEY_USAGES[use] for use in uses if use in KEY_USAGES}
    extended = [EXTENDED_KEY_USAGES[use] for use in uses if use in EXTENDED_KEY_USAGES]
    extensions: list[tuple[x509.ExtensionType, bool]] = []
    if bits:
        extensions.append((x509.KeyUsage(**{bit: bit in bits for bit in KEY_USAGES.values()}), True))
    if extended:
        extensions.append((x509.ExtendedKeyUsage(extended), False))
    return extensions


def _issue(
    request: Request,
    *,
    subject: x509.Name,
    alt_names: Sequence[x509.GeneralName],
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Name,
    signer: PrivateKey,
    authority: x509.AuthorityKeyIdentifier | None,
) -> dict[str, Any]:
    """Sign a certificate the way the provider's shared `createCertificate` does."""
    hours = _hours(request, "validityPeriodHours")
    _hours(request, "earlyRenewalHours", default=0)
    is_ca = bool(request.inputs.get("isCaCertificate"))
    max_path = request.inputs.get("maxPathLength")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    end = start + timedelta(hours=hours)
    extensions = [
        *_usages(request),
        (x509.BasicConstraints(ca=is_ca, path_length=int(max_path) if is_ca and max_path is not None else None), True),
    ]
    if is_ca or request.inputs.get("setSubjectKeyId"):
        extensions.append((x509.SubjectKeyIdentifier.from_public_key(public_key), False))
    if authority is not None:
        extensions.append((authority, False))
    if alt_names:  # RFC 5280: the names must be critical when they are the only ones
        extensions.append((x509.SubjectAlternativeName(alt_names), len(subject) == 0))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        # Unique per issuance, like the provider's random 128-bit serials: clients reject two different
        # certificates with one issuer and serial.
        .serial_number(int(digest("serial", request.seed("serial"), start.isoformat())[:32], 16) or 1)
        .not_valid_before(start)
        .not_valid_after(end)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    certificate = builder.sign(signer, _signature_hash(signer))
    return {
        "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
    }


@_once
def self_signed_cert(request: Request) -> dict[str, Any]:
    key = _load_key(request, "privateKeyPem", "privateKeyPemWo")
    subject = _name(request.inputs.get("subject"))
    authority = (
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
        if request.inputs.get("setAuthorityKeyId")
        else None
    )
    outputs = _issue(
        request,
        subject=subject,
        alt_names=_alt_names(request),
        public_key=key.public_key(),
        issuer=subject,
        signer=key,
        authority=authority,
    )
    return {**outputs, "keyAlgorithm": _algorithm(key)}


@_once
def cert_request(request: Request) -> dict[str, Any]:
    key = _load_key(request, "privateKeyPem", "privateKeyPemWo")
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(request.inputs.get("subject")))
    if alt_names := _alt_names(request):
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    csr = builder.sign(key, _signature_hash(key))
    return {"certRequestPem": csr.public_bytes(serialization.Encoding.PEM).decode(), "keyAlgorithm": _algorithm(key)}


@_once
def locally_signed_cert(request: Request) -> dict[str, Any]:
    csr = x509.load_pem_x509_csr(str(_input(request, "certRequestPem")).encode())
    ca_cert = x509.load_pem_x509_certificate(str(_input(request, "caCertPem")).encode())
    ca_key = _load_key(request, "caPrivateKeyPem", "caPrivateKeyPemWo")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if ca_key.public_key().public_bytes(*spki) != ca_cert.public_key().public_bytes(*spki):
        raise ValueError(f"{request.urn}: caPrivateKeyPem is not the key of caCertPem")
    # Go rebuilds the subject from the fields it parsed, so emailAddress and any other attribute
    # without a field is dropped.
    subject = _name(
        {
            field: [str(a.value) for a in csr.subject.get_attributes_for_oid(oid)]
            for field, oid in SUBJECT_FIELDS
            if oid != NameOID.EMAIL_ADDRESS
        }
    )
    try:
        requested = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        requested = x509.SubjectAlternativeName([])
    alt_names = [n for n in requested if isinstance(n, x509.DNSName | x509.IPAddress | x509.UniformResourceIdentifier)]
    try:
        ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        ca_key_id = None
    # Go copies the CA's subject key id, and leaves it out when there is none or the names are equal.
    authority = (
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id)
        if ca_key_id is not None and subject != ca_cert.subject
        else None
    )
    outputs = _issue(
        request,
        subject=subject,
        alt_names=alt_names,
        public_key=csr.public_key(),
        issuer=ca_cert.subject,
        signer=ca_key,
        authority=authority,
    )
    return {**outputs, "caKeyAlgorithm": _algorithm(ca_key)}


SIMULATORS: Mapping[str, Simulator] = {
    **PLACEHOLDERS,
    PRIVATE_KEY: private_key,
    SELF_SIGNED_CERT: self_signed_cert,
    CERT_REQUEST: cert_request,
    LOCALLY_SIGNED_CERT: locally_signed_cert,
}


class Faithful(Placeholders):
    """Placeholders for everything but pulumi-tls, which gets real keys and certificates."""

    simulators: Mapping[str, Simulator] = SIMULATORS
