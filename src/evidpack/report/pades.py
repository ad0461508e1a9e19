"""Signing a PDF as PAdES (baseline B-B) with an agency's X.509 certificate,
with pyHanko, so PDF readers show who signed it.

The certificate and key are loaded (and checked to belong together) before a
build starts, so a bad file stops the build at once with one line. The key may
be PEM or DER, encrypted or not; its passphrase is asked for only when needed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import keys as akeys
from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..errors import EvidpackError, read_input

FIELD_NAME = "evidpack-seal"
REASON = "Sealed evidence index: the bundle's contents as sealed by evidpack"


@dataclass(frozen=True)
class PdfCertSigner:
    """An X.509 certificate (with any chain certificates in its file) and its key."""

    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    signer: signers.SimpleSigner = field(repr=False)

    @property
    def subject(self) -> str:
        return self.cert.subject.human_friendly

    def describe(self) -> dict[str, Any]:
        """What the 'sealed' custody event records about the PDF signature."""
        return {
            "subfilter": "ETSI.CAdES.detached",
            "certificate_subject": self.subject,
            "certificate_issuer": self.cert.issuer.human_friendly,
            "certificate_serial": format(self.cert.serial_number, "x"),
            "certificate_sha256": hashlib.sha256(self.cert.dump()).hexdigest(),
        }

    def sign(self, pdf: bytes) -> bytes:
        """``pdf`` with a PAdES signature added as an incremental update."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=REASON,
        )
        out = signers.PdfSigner(meta, signer=self.signer).sign_pdf(writer)
        return out.getvalue()


def load(cert_path: Path, key_path: Path, passphrase: bytes | Callable[[], bytes]) -> PdfCertSigner:
    """Load the certificate (its file may hold the chain after it) and the key.
    ``passphrase`` is the key's passphrase, or a function that asks for it,
    called only when the key is encrypted."""
    cert_data = read_input(cert_path, "certificate file", limit=1 << 20)
    try:
        certs = list(load_certs_from_pemder_data(cert_data))
    except (ValueError, TypeError) as exc:
        raise EvidpackError(f"{cert_path}: not an X.509 certificate in PEM or DER ({exc})") from None
    if not certs:
        raise EvidpackError(f"{cert_path}: holds no certificate")
    key = _private_key(key_path, read_input(key_path, "key file", limit=1 << 20), passphrase)
    cert = certs[0]
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != cert.public_key.dump():
        raise EvidpackError(f"{key_path}: this key does not belong to the certificate in {cert_path} ({cert.subject.human_friendly})")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signer = signers.SimpleSigner(cert, akeys.PrivateKeyInfo.load(der), SimpleCertificateStore.from_certs(certs[1:]))
    return PdfCertSigner(cert, tuple(certs[1:]), signer)


def _private_key(path: Path, data: bytes, passphrase: bytes | Callable[[], bytes]) -> Any:
    load_key = load_pem_private_key if b"-----BEGIN" in data else load_der_private_key
    given = passphrase if isinstance(passphrase, bytes) else None
    try:
        return load_key(data, given)
    except TypeError:
        if given is not None:
            raise EvidpackError(f"{path}: the key is not encrypted, but a passphrase file was given") from None
    except ValueError as exc:
        raise EvidpackError(f"{path}: {'wrong passphrase, or ' if given else ''}not a private key in PEM or DER ({exc})") from None
    try:  # encrypted: ask for the passphrase now
        return load_key(data, passphrase())  # type: ignore[operator]
    except ValueError:
        raise EvidpackError(f"{path}: wrong passphrase for the key") from None
