"""Exp 3a: a test CA and a signer certificate with `cryptography` (files in ./pki)."""
import datetime as dt, os
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

OUT = "/tmp/dossier-lab/pki"; os.makedirs(OUT, exist_ok=True)
now = dt.datetime.now(dt.timezone.utc)

def name(cn): return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ModelGate Test"),
                                x509.NameAttribute(NameOID.COMMON_NAME, cn)])

ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
ca = (x509.CertificateBuilder().subject_name(name("ModelGate Test CA")).issuer_name(name("ModelGate Test CA"))
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
      .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                   crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
      .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
      .sign(ca_key, hashes.SHA256()))

key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
cert = (x509.CertificateBuilder().subject_name(name("ModelGate dossier signer")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))

pem = serialization.Encoding.PEM
open(f"{OUT}/ca.pem", "wb").write(ca.public_bytes(pem))
open(f"{OUT}/signer.pem", "wb").write(cert.public_bytes(pem))
open(f"{OUT}/signer.key", "wb").write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
print("wrote", sorted(os.listdir(OUT)))
