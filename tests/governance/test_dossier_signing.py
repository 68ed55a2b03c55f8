"""Dossier signing: PAdES B-B with the deployment's key, checked by pyHanko and by poppler's pdfsig.

The test PKI (a CA, a signer certificate and a stranger CA) is made with `cryptography` in a
temporary directory; nothing is fetched.
"""

import asyncio
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from typing import Any

import pypdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from reportlab.pdfgen import canvas

from governance.dossier import signing

MARKER = b"ModelGate test dossier: approved by vera"
SIGNER_SUBJECT = "CN=ModelGate dossier signer,O=ModelGate Test"
KEY_PASSWORD = "correct horse battery staple"
NO_USAGE = dict.fromkeys(
    (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ),
    False,
)


@dataclass(frozen=True)
class Pki:
    ca: Path
    signer_cert: Path
    signer_key: Path
    encrypted_signer_key: Path
    stranger_ca: Path
    stranger_key: Path
    no_repudiation_cert: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ModelGate Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(**{**NO_USAGE, "key_cert_sign": True, "crl_sign": True}), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    key: rsa.RSAPrivateKey, ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, **usage: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name("ModelGate dossier signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**{**NO_USAGE, **usage}), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write_key(path: Path, key: rsa.RSAPrivateKey, password: str | None = None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return path


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = _ca("ModelGate Test CA")
    stranger_key, stranger = _ca("Someone Else's CA")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # DER, but a SEQUENCE holding one INTEGER rather than a certificate.
    (d / "not-a-cert.der").write_bytes(b"\x30\x03\x02\x01\x01")
    return Pki(
        ca=_write_cert(d / "ca.pem", ca),
        signer_cert=_write_cert(
            d / "signer.pem",
            _leaf(key, ca_key, ca, digital_signature=True, content_commitment=True),
        ),
        signer_key=_write_key(d / "signer.key", key),
        encrypted_signer_key=_write_key(d / "signer-encrypted.key", key, KEY_PASSWORD),
        stranger_ca=_write_cert(d / "stranger-ca.pem", stranger),
        stranger_key=_write_key(d / "stranger.key", stranger_key),
        no_repudiation_cert=_write_cert(
            d / "signer-no-repudiation.pem", _leaf(key, ca_key, ca, digital_signature=True)
        ),
    )


def _deployment(pki: Pki) -> dict[str, Any]:
    return {
        "MODELGATE_DOSSIER_SIGNING_KEY": str(pki.signer_key),
        "MODELGATE_DOSSIER_SIGNING_KEY_PASSWORD": "",
        "MODELGATE_DOSSIER_SIGNING_CERT": str(pki.signer_cert),
        "MODELGATE_DOSSIER_SIGNING_CHAIN": [str(pki.ca)],
        "MODELGATE_DOSSIER_TRUST_ROOTS": [str(pki.ca)],
    }


@pytest.fixture
def deployment(settings: Any, pki: Pki) -> Any:
    for name, value in _deployment(pki).items():
        setattr(settings, name, value)
    return settings


@pytest.fixture(scope="module")
def pdf() -> bytes:
    out = io.BytesIO()
    # Uncompressed page content, so that a test can change one character of visible text.
    page = canvas.Canvas(out, invariant=1, pageCompression=0)
    page.drawString(72, 720, MARKER.decode())
    page.showPage()
    page.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def signed(pki: Pki, pdf: bytes) -> bytes:
    with override_settings(**_deployment(pki)):
        signer = signing.signer_from_settings()
    assert signer is not None
    return signing.sign(pdf, signer)


@pytest.fixture(scope="module")
def roots(pki: Pki) -> list[signing.Certificate]:
    return signing.load_certificates(str(pki.ca))


def byte_range(signed_pdf: bytes) -> list[int]:
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed_pdf)
    assert match, "no /ByteRange in the signed file"
    return [int(n) for n in match.groups()]


# --- Configuration -----------------------------------------------------------------------------


def test_a_deployment_without_key_and_certificate_signs_nothing(settings: Any) -> None:
    settings.MODELGATE_DOSSIER_SIGNING_KEY = ""
    settings.MODELGATE_DOSSIER_SIGNING_CERT = ""
    settings.MODELGATE_DOSSIER_TRUST_ROOTS = []

    assert signing.signer_from_settings() is None
    assert signing.trust_roots_from_settings() == []


@pytest.mark.parametrize(
    ("changes", "variable", "words"),
    [
        ({"KEY": "{d}/missing.key"}, "KEY", ["missing.key", "cannot read"]),
        ({"CERT": "{d}/missing.pem"}, "CERT", ["missing.pem", "cannot read"]),
        ({"KEY": "{d}"}, "KEY", ["cannot read"]),  # a directory: unreadable as a file
        ({"CERT": ""}, "CERT", ["not set", "MODELGATE_DOSSIER_SIGNING_KEY"]),
        ({"KEY": ""}, "KEY", ["not set", "MODELGATE_DOSSIER_SIGNING_CERT"]),
        ({"KEY": "{d}/stranger.key"}, "KEY", ["stranger.key", "not the private key"]),
        ({"KEY": "{d}/ca.pem"}, "KEY", ["ca.pem", "not a PEM or DER private key"]),
        ({"CERT": "{d}/signer.key"}, "CERT", ["signer.key", "holds no certificate"]),
        ({"CERT": "{d}/not-a-cert.der"}, "CERT", ["not-a-cert.der", "not a PEM or DER"]),
        ({"CERT": "{d}/signer-no-repudiation.pem"}, "CERT", ["nonRepudiation"]),
        ({"CHAIN": ["{d}/missing-chain.pem"]}, "CHAIN", ["missing-chain.pem"]),
        ({"KEY": "{d}/signer-encrypted.key"}, "KEY_PASSWORD", ["not set", "encrypted"]),
        (
            {"KEY": "{d}/signer-encrypted.key", "KEY_PASSWORD": "wrong"},
            "KEY_PASSWORD",
            ["does not decrypt"],
        ),
        ({"KEY_PASSWORD": "superfluous"}, "KEY_PASSWORD", ["not encrypted"]),
    ],
)
def test_a_misconfigured_signer_is_an_error_naming_the_variable(
    deployment: Any, pki: Pki, changes: dict[str, Any], variable: str, words: list[str]
) -> None:
    d = pki.ca.parent
    for suffix, value in changes.items():
        value = [v.format(d=d) for v in value] if isinstance(value, list) else value.format(d=d)
        setattr(deployment, f"MODELGATE_DOSSIER_SIGNING_{suffix}", value)

    with pytest.raises(ImproperlyConfigured) as raised:
        signing.signer_from_settings()

    name = f"MODELGATE_DOSSIER_SIGNING_{variable}"
    assert isinstance(raised.value, signing.SigningConfigurationError)
    assert raised.value.variable == name
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    for word in words:
        assert word in message


def test_an_encrypted_key_with_its_password_signs(deployment: Any, pki: Pki, pdf: bytes) -> None:
    deployment.MODELGATE_DOSSIER_SIGNING_KEY = str(pki.encrypted_signer_key)
    deployment.MODELGATE_DOSSIER_SIGNING_KEY_PASSWORD = KEY_PASSWORD

    signer = signing.signer_from_settings()

    assert signer is not None
    report = signing.validate(signing.sign(pdf, signer), signing.trust_roots_from_settings())
    assert report.bottom_line, report.reason


def test_unreadable_trust_roots_are_an_error_naming_the_variable(deployment: Any) -> None:
    deployment.MODELGATE_DOSSIER_TRUST_ROOTS = ["/nonexistent/roots.pem"]

    with pytest.raises(ImproperlyConfigured, match=r"^MODELGATE_DOSSIER_TRUST_ROOTS: .*roots\.pem"):
        signing.trust_roots_from_settings()


# --- Signing and validation with pyHanko -------------------------------------------------------


def test_a_signed_pdf_validates_against_the_deployments_ca(
    deployment: Any, pdf: bytes, signed: bytes
) -> None:
    report = signing.validate(signed, signing.trust_roots_from_settings())

    assert report.signed
    assert report.intact
    assert report.valid
    assert report.trusted
    assert report.bottom_line
    assert report.reason is None
    assert report.signer_subject == SIGNER_SUBJECT
    assert report.signing_time is not None
    assert abs(dt.datetime.now(dt.UTC) - report.signing_time) < dt.timedelta(minutes=5)
    # Incremental: the unsigned document is a prefix, and its digest is reported.
    assert signed.startswith(pdf)
    assert report.original_sha256 == hashlib.sha256(pdf).hexdigest()
    start, first, second_start, second = byte_range(signed)
    assert (start, second_start + second) == (0, len(signed))
    signed_over = signed[:first] + signed[second_start:]
    assert report.signed_sha256 == hashlib.sha256(signed_over).hexdigest()
    assert "ModelGate dossier signer" in report.details
    with pytest.raises(FrozenInstanceError):
        report.bottom_line = False  # type: ignore[misc]


def test_two_signings_of_the_same_pdf_share_the_original_digest(
    pdf: bytes, signed: bytes, pki: Pki, roots: list[signing.Certificate]
) -> None:
    with override_settings(**_deployment(pki)):
        again = signing.sign(pdf, signing.signer_from_settings())  # type: ignore[arg-type]

    first, second = signing.validate(signed, roots), signing.validate(again, roots)

    assert first.bottom_line and second.bottom_line
    assert first.original_sha256 == second.original_sha256 == hashlib.sha256(pdf).hexdigest()


def test_a_ca_that_did_not_issue_the_signer_does_not_trust_it(signed: bytes, pki: Pki) -> None:
    report = signing.validate(signed, signing.load_certificates(str(pki.stranger_ca)))

    assert (report.signed, report.intact, report.valid) == (True, True, True)
    assert not report.trusted
    assert not report.bottom_line
    assert "trust root" in (report.reason or "")
    assert report.signer_subject == SIGNER_SUBJECT


def test_without_trust_roots_nothing_is_trusted(signed: bytes) -> None:
    # An empty list must not fall back to the operating system's trust store.
    report = signing.validate(signed, [])

    assert report.intact and report.valid
    assert not report.trusted and not report.bottom_line
    assert "no trust roots" in (report.reason or "")


def tampered(signed: bytes) -> bytes:
    """One byte of the page's visible text changed, inside the first signed range."""
    at = signed.index(MARKER) + len(MARKER) - 1
    assert at < byte_range(signed)[1]
    return signed[:at] + b"X" + signed[at + 1 :]


def test_one_changed_byte_in_the_signed_range_fails(
    signed: bytes, roots: list[signing.Certificate]
) -> None:
    report = signing.validate(tampered(signed), roots)

    assert report.signed
    assert not report.intact
    assert not report.bottom_line
    assert "changed after signing" in (report.reason or "")
    # `valid` alone would have said yes: it covers the CMS signed attributes only.
    assert report.valid
    assert report.signed_sha256 != signing.validate(signed, roots).signed_sha256


def test_an_update_appended_after_the_signature_fails(
    signed: bytes, roots: list[signing.Certificate]
) -> None:
    writer = pypdf.PdfWriter(io.BytesIO(signed), incremental=True)
    writer.add_metadata({"/Title": "edited after signing"})
    out = io.BytesIO()
    writer.write(out)

    report = signing.validate(out.getvalue(), roots)

    # pyHanko's own bottom line accepts such an update; a dossier's does not.
    assert report.intact and report.valid and report.trusted
    assert not report.bottom_line
    assert "does not cover the whole file" in (report.reason or "")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"%PDF-1.7\nnot really a pdf\n", id="garbage"),
    ],
)
def test_an_unreadable_file_gives_a_reason_not_an_exception(
    signed: bytes, roots: list[signing.Certificate], damage: Any
) -> None:
    report = signing.validate(damage(signed), roots)

    assert not report.signed
    assert not report.bottom_line
    assert (report.reason or "").startswith("not a readable PDF: ")


def test_an_unsigned_pdf_is_reported_unsigned(pdf: bytes, roots: list[signing.Certificate]) -> None:
    report = signing.validate(pdf, roots)

    assert not report.signed
    assert not report.bottom_line
    assert report.reason == "the PDF carries no signature"


def test_sign_and_validate_work_inside_a_running_event_loop(
    pdf: bytes, signed: bytes, pki: Pki, roots: list[signing.Certificate]
) -> None:
    # pyHanko calls asyncio.run; inside a running loop (an ASGI view, a browser-driving test
    # session) the work moves to a worker thread instead of failing.
    with override_settings(**_deployment(pki)):
        signer = signing.signer_from_settings()

    async def inside_a_loop() -> tuple[signing.SignatureReport, signing.SignatureReport]:
        again = signing.sign(pdf, signer)  # type: ignore[arg-type]
        return signing.validate(signed, roots), signing.validate(again, roots)

    # A thread of its own: this test session may already run a loop here (Playwright's).
    with ThreadPoolExecutor(max_workers=1) as thread:
        first, second = thread.submit(asyncio.run, inside_a_loop()).result()
    assert first.bottom_line and second.bottom_line


# --- The same files checked by poppler's pdfsig against an NSS database -------------------------


@pytest.fixture
def pdfsig(tmp_path: Path, pki: Pki) -> Iterator[Any]:
    tools = {name: shutil.which(name) for name in ("pdfsig", "certutil")}
    missing = sorted(name for name, path in tools.items() if path is None)
    if missing:
        reason = (
            f"{' and '.join(missing)} not installed (apt-get install -y --no-install-recommends "
            "poppler-utils libnss3-tools; .ci/run does it)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs them: a skip there would hide the check
        pytest.skip(reason)
    nss = f"sql:{tmp_path / 'nss'}"
    (tmp_path / "nss").mkdir()
    for args in (
        ["-N", "--empty-password", "-d", nss],
        ["-A", "-t", "CT,C,C", "-n", "testca", "-i", str(pki.ca), "-d", nss],
    ):
        subprocess.run([tools["certutil"], *args], check=True, capture_output=True, timeout=30)  # noqa: S603 - fixed arguments, no shell

    def run(data: bytes) -> str:
        path = tmp_path / "checked.pdf"
        path.write_bytes(data)
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [tools["pdfsig"], "-nssdir", nss, str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        # pdfsig exits 0 even on a digest mismatch: only its output tells.
        assert done.returncode == 0, done.stderr
        return done.stdout

    yield run


def test_pdfsig_finds_the_signature_valid_and_trusted(pdfsig: Any, signed: bytes) -> None:
    out = pdfsig(signed)

    assert "Signature Field Name: ModelGateDossier" in out
    assert "Signer full Distinguished Name: CN=ModelGate dossier signer,O=ModelGate Test" in out
    assert "Total document signed" in out
    assert "Signature is Valid." in out
    assert "Certificate is Trusted." in out


def test_pdfsig_finds_a_digest_mismatch_after_one_changed_byte(pdfsig: Any, signed: bytes) -> None:
    out = pdfsig(tampered(signed))

    assert "Digest Mismatch." in out
    assert "Signature is Valid." not in out
