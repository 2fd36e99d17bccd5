"""A real SMTP server (aiosmtpd) for the email receiver's tests.

Usage: smtp_server.py HOST PORT MODE AUTH OUTDIR
  MODE: plain | starttls | implicit   (implicit = TLS from the first byte, as on port 465)
  AUTH: none | plain | login          (required mechanism; credentials user "alert" / "s3cret")
Generates a throw-away CA and a server certificate for localhost/127.0.0.x in OUTDIR
(ca.pem), prints "READY" once listening, and appends one JSON line per received message
to OUTDIR/messages.jsonl: envelope, whether TLS was on, who authenticated, the headers
and every MIME part decoded by Python's email package. Runs until stdin closes.
"""

import datetime
import email
import email.policy
import ipaddress
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = b"alert", b"s3cret"


def make_certs(outdir, host):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lookout test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(os.path.join(outdir, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(os.path.join(outdir, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(os.path.join(outdir, "server.key"), "wb") as f:
        f.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(outdir, "server.pem"), os.path.join(outdir, "server.key"))
    return ctx


class Recorder:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append(
                {
                    "content_type": part.get_content_type(),
                    "charset": part.get_content_charset(),
                    "body": part.get_content(),
                }
            )
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            # STARTTLS sets session.ssl; implicit TLS shows on the transport.
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated_as": login,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD
    # auth_data is kept on the session, so the recorder can report who logged in.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main():
    # Expected failures (refused certificates, bad passwords) are the point of some tests:
    # keep aiosmtpd's tracebacks and warnings out of the test output.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    host, port, mode, auth, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    ctx = make_certs(outdir, host)
    kwargs = {"hostname": host, "port": port, "server_hostname": "localhost"}
    if mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    elif mode == "implicit":
        kwargs.update(ssl_context=ctx)
    if auth != "none":
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=(mode == "starttls"))
        # Offer only the mechanism under test, so the client must use it.
        kwargs["auth_exclude_mechanism"] = ["LOGIN"] if auth == "plain" else ["PLAIN"]
    controller = Controller(Recorder(os.path.join(outdir, "messages.jsonl")), **kwargs)
    controller.start()
    print("READY", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
