"""Asymmetric tokens for the JWKS tests: key pairs (python3-cryptography), tokens (python3-jwt)
and a JWKS server on 127.0.0.1 run by the test itself in a thread."""

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from conftest import free_port


class KeyPair:
    """A signing key with its public JWK (kid, alg)."""

    def __init__(self, alg, kid=None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg in ("ES256", "ES384"):
            curve = ec.SECP256R1() if alg == "ES256" else ec.SECP384R1()
            self.private = ec.generate_private_key(curve)
            jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        elif alg.startswith(("RS", "PS")):
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            raise ValueError(alg)
        jwk.update({"kid": self.kid, "alg": alg, "use": "sig"})
        self.jwk = jwk

    def sign(self, claims, kid=True, headers=None, alg=None):
        """A token for `claims` (a dict, or raw bytes signed as the payload)."""
        hdrs = dict(headers or {})
        if kid is True:
            hdrs["kid"] = self.kid
        elif kid:
            hdrs["kid"] = kid
        alg = alg or self.alg
        if isinstance(claims, bytes):
            return pyjwt.api_jws.encode(claims, self.private, algorithm=alg, headers=hdrs)
        return pyjwt.encode(claims, self.private, algorithm=alg, headers=hdrs)


def claims(sub=None, ttl=600, **extra):
    """Stack Auth-like access token claims."""
    now = int(time.time())
    c = {"sub": sub or str(uuid.uuid4()), "role": "authenticated", "iat": now, "exp": now + ttl}
    c.update(extra)
    return c


class JwksServer:
    """Serves `keys` as a JWK Set at /.well-known/jwks.json; `down` makes it answer 503;
    `hits` counts the fetches."""

    def __init__(self, keys=(), tls=False):
        self.keys = list(keys)
        self.tls = tls
        self.down = False
        self.hits = 0
        self.port = free_port()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits += 1
                if server.down or self.path != "/.well-known/jwks.json":
                    self.send_response(503 if server.down else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": [k.jwk for k in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if tls:
            self.httpd.socket = self_signed_context().wrap_socket(self.httpd.socket,
                                                                  server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/.well-known/jwks.json"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def jwks_conf(server, *extra):
    """Cluster settings: keys only from the JWKS URL (no HS secret)."""
    return ["serendb_data_api.jwt_secret = ''",
            f"serendb_data_api.jwks_url = '{server.url}'"] + list(extra)


def self_signed_context():
    """A TLS server context with a self-signed certificate for 127.0.0.1 (trusted by no one)."""
    import datetime
    import ipaddress
    import ssl
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        path = f.name
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    return ctx
