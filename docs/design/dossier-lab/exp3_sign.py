"""Exp 3b: sign (PAdES B-B, offline) the attached PDF incrementally; validate; tamper; validate."""
import hashlib, io, sys
from pyhanko.sign import signers, fields
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext

P = "/tmp/dossier-lab/pki/"


def sign(pdf: bytes) -> bytes:
    signer = signers.SimpleSigner.load(P + "signer.key", P + "signer.pem", ca_chain_files=(P + "ca.pem",))
    meta = signers.PdfSignatureMetadata(
        field_name="ModelGateDossier", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason="ModelGate audit dossier", location="ModelGate",
        signer_key_usage={"digital_signature", "non_repudiation"})
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = signers.sign_pdf(w, meta, signer=signer)   # no timestamper: PAdES B-B, no network
    return out.getvalue()


def validate(pdf: bytes):
    vc = ValidationContext(trust_roots=[load_cert_from_pemder(P + "ca.pem")], allow_fetching=False)
    r = PdfFileReader(io.BytesIO(pdf), strict=False)
    sigs = r.embedded_signatures
    if not sigs:
        return "no signature"
    s = sigs[0]
    st = validate_pdf_signature(s, vc, key_usage_settings=None)
    return dict(intact=st.intact, valid=st.valid, trusted=st.trusted, bottom_line=st.bottom_line,
                coverage=str(st.coverage), modification_level=str(st.modification_level),
                md=st.md_algorithm, signing_time=str(st.signer_reported_dt),
                signed_digest=s.compute_digest().hex() if False else None), st


if __name__ == "__main__":
    base = open("exp2.pdf", "rb").read()
    signed = sign(base)
    open("signed.pdf", "wb").write(signed)
    print("unsigned", len(base), "signed", len(signed), "prefix kept:", signed[:len(base)] == base)
    res, st = validate(signed)
    print("VALID:", res)
    print(st.pretty_print_details()[:1500])
    # signed again: differs (signing time)
    print("resign identical?", sign(base) == signed)
    # tamper: one byte inside the signed range, in page content -> flip a digit in the first ByteRange part
    r = PdfFileReader(io.BytesIO(signed)); br = r.embedded_signatures[0].byte_range
    print("ByteRange", br)
    for label, pos in [("in-first-range", len(base) // 2), ("in-incremental-update", br[2] + 20)]:
        t = bytearray(signed); t[pos] ^= 0x01; t = bytes(t)
        open(f"tampered-{label}.pdf", "wb").write(t)
        try:
            res, st = validate(t)
            print("TAMPER", label, res)
        except Exception as e:
            print("TAMPER", label, "EXC", type(e).__name__, e)
