"""A test PKI for C2PA signing: a trusted and an untrusted three-level chain (root -> intermediate -> signer).

c2pa-rs 0.91 checks the signer certificate when the signer is *created*: an end-entity certificate whose EKUs are
not in c2pa's accepted set (emailProtection, documentSigning, timeStamping, OCSPSigning, the C2PA and Microsoft
signing OIDs) is refused with "the certificate is invalid", whatever ``trust_config`` says; so the signers carry
emailProtection and documentSigning, and the trust config lists exactly those.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.credentials.trust import TrustFiles

EKU_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
SIGNER_EKUS: tuple[str, ...] = (EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING)
"""The EKUs our end-entity certificates carry, and so the content of the trust config (``store.cfg``)."""


@dataclass(frozen=True)
class TestPKI:
    """Two signing identities and the trust material that makes exactly one of them trusted.

    The trusted chain ends at :attr:`root_pem`, which the tests load as a c2pa trust anchor, so c2pa reports
    ``Trusted``. The untrusted chain is structurally identical but ends at a root that is in no trust list, so
    c2pa reports a good signature from an unknown signer (``Valid``). All keys are EC P-256 (ES256).
    """

    __test__: ClassVar[bool] = False  # the name starts with "Test": keep pytest from collecting it

    root_pem: bytes
    """Trusted test root CA certificate (PEM)."""
    trusted_chain_pem: bytes
    """End-entity certificate then intermediate (PEM), chaining to :attr:`root_pem`; c2pa embeds both."""
    trusted_key_pem: bytes
    """PKCS#8 PEM private key of the trusted end-entity certificate."""
    untrusted_chain_pem: bytes
    """End-entity + intermediate chaining to a different root that is in no trust list."""
    untrusted_key_pem: bytes
    trust_config: str
    """c2pa trust config (``store.cfg``): one EKU OID per line, the EKUs our end-entity certificates carry."""

    def write(self, directory: Path) -> TrustFiles:
        """Write ``anchors.pem``, an empty ``allowed.pem`` and ``store.cfg`` into ``directory``.

        The allowed list stays empty on purpose: trust must come from the anchor, as it does in production,
        not from pinning the end-entity certificate.
        """
        directory.mkdir(parents=True, exist_ok=True)
        anchors, allowed, config = directory / "anchors.pem", directory / "allowed.pem", directory / "store.cfg"
        anchors.write_bytes(self.root_pem)
        allowed.write_bytes(b"")
        config.write_text(self.trust_config)
        return TrustFiles(anchors=anchors, allowed=allowed, config=config)

    def c2pa_settings(self) -> dict[str, Any]:
        """c2pa-rs settings trusting this PKI's root, fetching nothing (the keys the reader adapter uses)."""
        return {
            "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
            "trust": {
                "trust_anchors": self.root_pem.decode(),
                "allowed_list": "",
                "trust_config": self.trust_config,
            },
        }


@dataclass(frozen=True)
class _Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    signer: x509.Certificate
    signer_key: ec.EllipticCurvePrivateKey

    @property
    def chain_pem(self) -> bytes:
        return _pem(self.signer) + _pem(self.intermediate)

    @property
    def key_pem(self) -> bytes:
        return self.signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "media-ingest tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None,
    now: datetime.datetime,
) -> x509.Certificate:
    """One certificate with the extensions C2PA's certificate profile asks for (self-signed: no issuer)."""
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(_key_usage(signer=not ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if not ca:
        ekus = [x509.ObjectIdentifier(oid) for oid in SIGNER_EKUS]
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _make_chain(prefix: str, now: datetime.datetime) -> _Chain:
    root_key, intermediate_key, signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{prefix} Root CA", root_key, None, root_key, ca=True, path_length=None, now=now)
    intermediate = _certificate(
        f"{prefix} Intermediate CA", intermediate_key, root, root_key, ca=True, path_length=0, now=now
    )
    signer = _certificate(
        f"{prefix} Signer", signer_key, intermediate, intermediate_key, ca=False, path_length=None, now=now
    )
    return _Chain(root=root, intermediate=intermediate, signer=signer, signer_key=signer_key)


@functools.cache
def make_test_pki(common_name_prefix: str = "media-ingest test") -> TestPKI:
    """Build the trusted and the untrusted chain (cached per process: one PKI serves every test).

    Certificates are valid from a day ago for a year, so a sample signed now validates despite clock skew.
    """
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    trusted = _make_chain(common_name_prefix, now)
    untrusted = _make_chain(f"{common_name_prefix} untrusted", now)
    return TestPKI(
        root_pem=_pem(trusted.root),
        trusted_chain_pem=trusted.chain_pem,
        trusted_key_pem=trusted.key_pem,
        untrusted_chain_pem=untrusted.chain_pem,
        untrusted_key_pem=untrusted.key_pem,
        trust_config="".join(f"{oid}\n" for oid in SIGNER_EKUS),
    )
