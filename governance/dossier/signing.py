"""Signing dossier PDFs and checking their signature: PAdES baseline B-B with pyHanko, offline.

- `signer_from_settings()` loads the deployment's key and certificate (settings
  `MODELGATE_DOSSIER_SIGNING_*`, PEM paths); None when the deployment has none, so its dossiers
  go out unsigned.
- `sign(pdf, signer)` appends the signature as an incremental update: the unsigned bytes stay a
  prefix of the signed file. No timestamp and no revocation data are fetched (B-B), so signing
  never touches the network. The signing time is part of the signature: two signings of one PDF
  give different bytes (unless made within the same second).
- `validate(pdf, trust_roots)` answers with a `SignatureReport`, never an exception for a bad
  file. `trust_roots_from_settings()` gives the roots the deployment trusts.

pyHanko's sync entry points (`sign_pdf`, `validate_pdf_signature`) call `asyncio.run`; where
the calling thread already runs an event loop, `sign` and `validate` do the work in a worker
thread.
"""

import asyncio
import hashlib
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

KEY = "MODELGATE_DOSSIER_SIGNING_KEY"
KEY_PASSWORD = "MODELGATE_DOSSIER_SIGNING_KEY_PASSWORD"  # noqa: S105 - a setting name
CERT = "MODELGATE_DOSSIER_SIGNING_CERT"
CHAIN = "MODELGATE_DOSSIER_SIGNING_CHAIN"
TRUST_ROOTS = "MODELGATE_DOSSIER_TRUST_ROOTS"

FIELD_NAME = "ModelGateDossier"
REASON = "ModelGate audit dossier"
LOCATION = "ModelGate"

Certificate = asn1_x509.Certificate
Signer = signers.Signer


class SigningConfigurationError(ImproperlyConfigured):
    """A signing setting that cannot be used; `variable` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class SignatureReport:
    """What a validation found. `bottom_line` is the only verdict to act on: `valid` covers the
    CMS signature over its signed attributes only and stays True when the document was changed.

    `signed_sha256` is the SHA-256 of the bytes the signature covers (its /ByteRange), the value
    the CMS messageDigest must equal. `original_sha256` is the SHA-256 of the revision the
    signature was added to, i.e. of the unsigned PDF: it is how two signings of the same document
    are recognised as such, since their bytes differ.
    """

    signed: bool
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    bottom_line: bool = False
    signer_subject: str | None = None
    signing_time: datetime | None = None
    signed_sha256: str | None = None
    original_sha256: str | None = None
    reason: str | None = None
    details: str = ""


# --- Configuration -----------------------------------------------------------------------------


def signer_from_settings() -> Signer | None:
    """The deployment's signer, or None when neither key nor certificate is configured.

    Every problem (a path unset, missing or unreadable, not PEM/DER, a wrong password, a key that
    is not the certificate's) raises `SigningConfigurationError` naming the variable, so a broken
    key is found when it is loaded, not by an auditor whose validation fails.
    """
    key_path = _setting(KEY)
    cert_path = _setting(CERT)
    if not key_path and not cert_path:
        return None
    if not key_path:
        raise SigningConfigurationError(KEY, f"not set, but {CERT} is: set both or neither")
    if not cert_path:
        raise SigningConfigurationError(CERT, f"not set, but {KEY} is: set both or neither")

    key = _load_key(key_path, _setting(KEY_PASSWORD))
    certs = _load_certs(CERT, cert_path)
    if len(certs) != 1:
        raise SigningConfigurationError(
            CERT, f"{cert_path} holds {len(certs)} certificates; put the chain in {CHAIN}"
        )
    cert = certs[0]
    if _key_public_der(key) != _cert_public_der(cert):
        raise SigningConfigurationError(
            KEY, f"{key_path} is not the private key of the certificate in {CERT} ({cert_path})"
        )
    key_usage = cert.key_usage_value
    # pyHanko's validator requires nonRepudiation of a document signer's certificate: without it
    # every dossier would be signed and then rejected.
    if key_usage is not None and "non_repudiation" not in key_usage.native:
        raise SigningConfigurationError(
            CERT,
            f"{cert_path}: its key usage lacks nonRepudiation (contentCommitment), which "
            "signature validators require of a document signer",
        )

    chain = [c for path in _setting_list(CHAIN) for c in _load_certs(CHAIN, path)]
    return signers.SimpleSigner(
        signing_cert=cert,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def trust_roots_from_settings() -> list[Certificate]:
    """The certificates `MODELGATE_DOSSIER_TRUST_ROOTS` names (empty when unset)."""
    return [c for path in _setting_list(TRUST_ROOTS) for c in _load_certs(TRUST_ROOTS, path)]


def load_certificates(path: str) -> list[Certificate]:
    """Every certificate in a PEM (or DER) file."""
    with open(path, "rb") as f:
        return list(load_certs_from_pemder_data(f.read()))


def _setting(name: str) -> str:
    return getattr(settings, name, "") or ""


def _setting_list(name: str) -> list[str]:
    value = getattr(settings, name, None) or []
    return [value] if isinstance(value, str) else list(value)


def _read(variable: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise SigningConfigurationError(variable, f"cannot read {path}: {exc.strerror}") from exc


def _load_certs(variable: str, path: str) -> list[Certificate]:
    data = _read(variable, path)
    try:
        certs = list(load_certs_from_pemder_data(data))
        # asn1crypto parses lazily: a broken certificate must fail here, where the file is known.
        for cert in certs:
            pyca_x509.load_der_x509_certificate(cert.dump())
    except (ValueError, TypeError) as exc:
        raise SigningConfigurationError(
            variable, f"{path} is not a PEM or DER certificate file ({exc})"
        ) from exc
    if not certs:
        raise SigningConfigurationError(variable, f"{path} holds no certificate")
    return certs


def _load_key(path: str, password: str) -> asn1_keys.PrivateKeyInfo:
    data = _read(KEY, path)
    passphrase = password.encode() if password else None
    try:
        return load_private_key_from_pemder_data(data, passphrase=passphrase)
    except TypeError as exc:
        # cryptography says TypeError when the password is missing or superfluous.
        if passphrase is None:
            raise SigningConfigurationError(
                KEY_PASSWORD, f"not set, but the key in {KEY} ({path}) is encrypted"
            ) from exc
        raise SigningConfigurationError(
            KEY_PASSWORD, f"set, but the key in {KEY} ({path}) is not encrypted"
        ) from exc
    except ValueError as exc:
        # A wrong password and a file that is no key both raise ValueError; the second attempt
        # (no password) tells them apart: only an encrypted key complains about the password.
        if passphrase is not None and _is_encrypted_key(data):
            raise SigningConfigurationError(
                KEY_PASSWORD, f"does not decrypt the key in {KEY} ({path})"
            ) from exc
        raise SigningConfigurationError(
            KEY, f"{path} is not a PEM or DER private key ({exc})"
        ) from exc


def _is_encrypted_key(data: bytes) -> bool:
    try:
        load_private_key_from_pemder_data(data, passphrase=None)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def _key_public_der(key: asn1_keys.PrivateKeyInfo) -> bytes:
    public = serialization.load_der_private_key(key.dump(), None).public_key()
    return public.public_bytes(serialization.Encoding.DER, _SPKI)


def _cert_public_der(cert: Certificate) -> bytes:
    public = pyca_x509.load_der_x509_certificate(cert.dump()).public_key()
    return public.public_bytes(serialization.Encoding.DER, _SPKI)


_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


# --- Signing -----------------------------------------------------------------------------------


def sign(pdf: bytes, signer: Signer) -> bytes:
    """`pdf` plus a PAdES B-B signature over all of it, as an incremental update."""
    return _outside_event_loop(_sign, pdf, signer)


def _sign(pdf: bytes, signer: Signer) -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=REASON,
        location=LOCATION,
    )
    # No timestamper and no validation context: B-B, and nothing is fetched.
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return out.getvalue()


# --- Validation --------------------------------------------------------------------------------


def validate(pdf: bytes, trust_roots: Iterable[Certificate]) -> SignatureReport:
    """Check the signature of `pdf` against `trust_roots` only (no system trust, no fetching).

    A file that cannot be read gives a report with the reason; an unsigned one `signed=False`.
    The verdict also requires the signature to cover the whole file: pyHanko accepts some updates
    appended after a signature, but nothing may follow the signature of a dossier.

    B-B carries no trusted time, so the signer's certificate is checked as of now: once it has
    expired, dossiers it signed no longer validate as trusted (B-T would fix that).
    """
    return _outside_event_loop(_validate, pdf, trust_roots)


def _validate(pdf: bytes, trust_roots: Iterable[Certificate]) -> SignatureReport:
    roots = list(trust_roots)
    # The bytes come from outside: whatever pyHanko trips over, here and in the validation
    # below, is a finding about the file, reported rather than raised.
    try:
        signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    except Exception as exc:
        return SignatureReport(signed=False, reason=f"not a readable PDF: {_describe(exc)}")
    if not signatures:
        return SignatureReport(signed=False, reason="the PDF carries no signature")
    if len(signatures) > 1:
        return SignatureReport(
            signed=True,
            reason=f"{len(signatures)} signatures: a dossier carries exactly one",
        )

    embedded = signatures[0]
    signed_sha256 = original_sha256 = None
    try:
        signed_sha256, original_sha256 = _digests(pdf, [int(n) for n in embedded.byte_range])
        status = validate_pdf_signature(
            embedded, ValidationContext(trust_roots=roots, allow_fetching=False)
        )
    except Exception as exc:
        return SignatureReport(
            signed=True,
            signed_sha256=signed_sha256,
            original_sha256=original_sha256,
            reason=f"the signature cannot be validated: {_describe(exc)}",
        )

    whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    problems = []
    if not status.intact:
        problems.append("the signed content was changed after signing (digest mismatch)")
    if not status.valid:
        problems.append("the signature does not verify with the signer's certificate")
    if status.intact and status.valid and not status.trusted:
        problems.append(
            "the signer's certificate does not chain to a trust root"
            + ("" if roots else " (no trust roots were given)")
        )
    if not whole_file:
        problems.append("the signature does not cover the whole file: it was changed after signing")
    bottom_line = bool(status.bottom_line and whole_file)
    if not bottom_line and not problems:
        problems.append(f"pyHanko rejects it (modification level {status.modification_level})")

    return SignatureReport(
        signed=True,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        bottom_line=bottom_line,
        signer_subject=_subject(status.signing_cert),
        signing_time=status.signer_reported_dt,
        signed_sha256=signed_sha256,
        original_sha256=original_sha256,
        reason="; ".join(problems) or None,
        details=status.pretty_print_details(),
    )


def _digests(pdf: bytes, byte_range: list[int]) -> tuple[str | None, str | None]:
    """SHA-256 of the signed ranges, and of the revision before the signature's update (the
    bytes up to the last %%EOF, with its end of line, that precedes /Contents)."""
    if len(byte_range) != 4 or min(byte_range) < 0 or sum(byte_range[2:]) > len(pdf):
        return None, None
    start, first_len, second_start, second_len = byte_range
    ranges = pdf[start : start + first_len] + pdf[second_start : second_start + second_len]
    signed = hashlib.sha256(ranges).hexdigest()
    if start != 0:
        return signed, None
    eof = pdf.rfind(b"%%EOF", 0, first_len)
    if eof < 0:
        return signed, None
    end = eof + len(b"%%EOF")
    if pdf[end : end + 2] == b"\r\n":
        end += 2
    elif pdf[end : end + 1] in (b"\n", b"\r"):
        end += 1
    return signed, hashlib.sha256(pdf[:end]).hexdigest()


def _subject(cert: Certificate | None) -> str | None:
    if cert is None:
        return None
    # RFC 4514, as pdfsig and openssl print it: "CN=…,O=…".
    return pyca_x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _outside_event_loop[T](function: Callable[..., T], *args: Any) -> T:
    """Run `function` here, or in a worker thread when this thread runs an event loop:
    pyHanko's sync API calls `asyncio.run`, which refuses to start inside a running loop (an
    ASGI view, or a test session driving a browser)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelgate-signing") as worker:
        return worker.submit(function, *args).result()
