"""The private CA and the mTLS certificates it issues, one per service and per TLS-speaking infrastructure.

Replaces the seed's generate-ca-cert.sh / generate-service-cert.sh with pulumi-tls resources:

* CA generations: `rotation.ca` picks the generation that signs every leaf; `pki.caOverlap` keeps a
  second generation (the next one, before a rotation; the previous one, after it) in the trust bundle,
  so no service ever meets a peer whose certificate it cannot verify. Each generation is its own pair of
  resources (`<name>-ca<n>-key`, `<name>-ca<n>`), so the overlapping one is kept, not replaced.
* Leaves: ECDSA P-256 key, CSR with the service's DNS names, certificate signed by the current CA,
  valid for server and client auth (mTLS). pulumi-tls only re-issues a certificate inside its
  early-renewal window after a refresh (pulumi-tls issue #39), so `make up` runs `pulumi up --refresh`.
  `rotation.tls-<name>` replaces the key through `replacement_trigger` (PrivateKey has no keepers).
* The CA itself has no early renewal: renewing it silently would re-issue every leaf at once with no
  overlap. It is rotated with the procedure in the README.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_tls as tls

from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from stacks.models import Pki as PkiConfig
from stacks.models import dns_name

LEAF_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]

CERTS_DIR = "/app/certs"
CA_FILE = f"{CERTS_DIR}/ca/ca-cert.pem"


def subject_alt_names(subject: str, domain: str, container_names: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses a leaf is valid for: `<name>`, `<name>.<domain>`, localhost, 127.0.0.1,
    and the subject's container names.

    The fully qualified name is what service URLs use (`https://order-service.payment-network:40004`);
    localhost and 127.0.0.1 let a container's own health check verify its certificate; the container
    names let a client that addresses one replica (Kong's upstream targets, a scrape of each replica)
    verify it too.
    """
    return [subject, dns_name(subject, domain), "localhost", *container_names], ["127.0.0.1"]


def subject_fields(config: PkiConfig, common_name: str) -> dict[str, str | None]:
    """Distinguished name of a CA or leaf: the common name plus the stack's organization."""
    return {
        "common_name": common_name,
        "organization": config.organization,
        "organizational_unit": config.organizational_unit,
        "country": config.country,
    }


def service_cert_paths(service: str) -> tuple[str, str]:
    """Certificate and key paths inside a service container, as the seed lays them out."""
    base = f"{CERTS_DIR}/services/{service}/{service}"
    return f"{base}.crt", f"{base}.key"


def tls_environment(service: str) -> dict[str, str]:
    """The seed's mTLS variables: the same pair serves as server and client certificate."""
    cert, key = service_cert_paths(service)
    return {
        "ENABLE_MTLS": "true",
        "ENABLE_HTTPS": "true",
        "TLS_CERT_FILE": cert,
        "TLS_KEY_FILE": key,
        "TLS_CLIENT_CERT": cert,
        "TLS_CLIENT_KEY": key,
        "TLS_CA_FILE": CA_FILE,
    }


@dataclass(frozen=True)
class LeafCertificate:
    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    """Secret."""
    private_key_pem_pkcs8: pulumi.Output[str] | None = None
    """Secret: the same key as PKCS#8 (`BEGIN PRIVATE KEY`), the only PEM key form Kafka's Java clients read."""


def tls_uploads(
    leaf: LeafCertificate, trust_bundle: pulumi.Input[str], uid: int, *, cert: str, key: str, ca: str
) -> tuple[docker.ContainerUploadArgs, ...]:
    """A certificate (0444), its private key (0400, secret) and the trust bundle (0444), owned by `uid`."""
    return (
        upload(cert, leaf.cert_pem, uid, PUBLIC_READ),
        upload(key, leaf.private_key_pem, uid),
        upload(ca, trust_bundle, uid, PUBLIC_READ),
    )


@dataclass(frozen=True)
class PkiArgs:
    config: PkiConfig
    domain: str
    """DNS domain of the platform network; every leaf is valid for `<subject>.<domain>`."""


class Pki(pulumi.ComponentResource):
    """Private CA generations and one leaf certificate per catalog entry that speaks TLS."""

    ca_cert_pem: pulumi.Output[str]
    """The signing CA's certificate (public)."""
    trust_bundle: pulumi.Output[str]
    """Every trusted CA certificate, signing one first: what services verify peers against."""
    ca_expires: pulumi.Output[str]
    certificates: dict[str, LeafCertificate]
    """Leaves by subject (service or infrastructure name)."""

    def __init__(self, name: str, args: PkiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:pki:Pki", name, None, opts)
        config = args.config
        cas = {generation: self._ca(name, config, generation) for generation in config.trusted_generations}
        signing_key, signing_cert = cas[config.ca_generation]
        self.ca_cert_pem = signing_cert.cert_pem
        self.ca_expires = signing_cert.validity_end_time
        self.trust_bundle = pulumi.Output.all(*(cas[g][1].cert_pem for g in config.trusted_generations)).apply(
            lambda pems: "".join(pem if pem.endswith("\n") else pem + "\n" for pem in pems)
        )
        self.certificates = {}
        for certificate in config.certificates:
            subject = certificate.subject
            key = tls.PrivateKey(
                f"{name}-{subject}-key",
                algorithm="ECDSA",
                ecdsa_curve="P256",
                opts=pulumi.ResourceOptions(parent=self, replacement_trigger=certificate.rotation),
            )
            dns_names, ip_addresses = subject_alt_names(subject, args.domain, certificate.container_names)
            csr = tls.CertRequest(
                f"{name}-{subject}-csr",
                private_key_pem=key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(**subject_fields(config, subject)),
                dns_names=dns_names,
                ip_addresses=ip_addresses,
                opts=pulumi.ResourceOptions(parent=self),
            )
            cert = tls.LocallySignedCert(
                f"{name}-{subject}-cert",
                cert_request_pem=csr.cert_request_pem,
                ca_private_key_pem=signing_key.private_key_pem,
                ca_cert_pem=signing_cert.cert_pem,
                validity_period_hours=config.leaf_validity_hours,
                early_renewal_hours=config.early_renewal_hours,
                allowed_uses=LEAF_USES,
                set_subject_key_id=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.certificates[subject] = LeafCertificate(
                cert_pem=cert.cert_pem,
                private_key_pem=key.private_key_pem,
                private_key_pem_pkcs8=key.private_key_pem_pkcs8,
            )
        self.register_outputs({"caCertPem": self.ca_cert_pem, "trustBundle": self.trust_bundle})

    def _ca(self, name: str, config: PkiConfig, generation: int) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
        key = tls.PrivateKey(
            f"{name}-ca{generation}-key",
            algorithm="ECDSA",
            ecdsa_curve="P384",
            opts=pulumi.ResourceOptions(parent=self),
        )
        cert = tls.SelfSignedCert(
            f"{name}-ca{generation}",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(**subject_fields(config, f"{config.organization} CA {generation}")),
            is_ca_certificate=True,
            set_subject_key_id=True,
            validity_period_hours=config.ca_validity_hours,
            early_renewal_hours=0,
            allowed_uses=CA_USES,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key, cert

    def service_files(self, service: str, uid: int) -> ContainerFiles:
        """A service's key pair and the trust bundle, at the seed's paths, and the seed's TLS variables."""
        leaf = self.certificates[service]
        cert_path, key_path = service_cert_paths(service)
        return ContainerFiles(
            env=tls_environment(service),
            uploads=tls_uploads(leaf, self.trust_bundle, uid, cert=cert_path, key=key_path, ca=CA_FILE),
        )
