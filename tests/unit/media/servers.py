"""Local HTTP(S) servers on 127.0.0.1 for the fetcher tests: the only traffic the tests send."""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class ServerState:
    body: bytes
    stop: threading.Event = field(default_factory=threading.Event)
    paths: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass
class LocalServer:
    base: str  # e.g. http://127.0.0.1:41234
    port: int
    state: ServerState


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_GET(self):  # noqa: N802 (http.server's naming)
            state.paths.append(self.path)
            state.hosts.append(self.headers.get("Host", ""))
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            try:
                match parts:
                    case ["image.png"]:
                        self._send(200, state.body, "image/png")
                    case ["redirect"]:
                        self._redirect(parse_qs(url.query)["to"][0])
                    case ["chain", n] if int(n) > 0:
                        self._redirect(f"/chain/{int(n) - 1}")
                    case ["chain", _]:
                        self._send(200, state.body, "image/png")
                    case ["big-declared"]:
                        self._send(200, b"x" * 5000, "image/png")
                    case ["big-streamed"]:
                        self._stream(chunks=100, chunk=b"x" * 1000, delay=0)
                    case ["drip"]:
                        self._stream(chunks=10_000, chunk=b"x", delay=0.05)
                    case ["stall"]:
                        state.stop.wait(10)
                    case ["missing"]:
                        self._send(404, b"no", "text/plain")
                    case _:
                        self._send(400, b"unknown route", "text/plain")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the fetcher hung up on purpose

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _stream(self, *, chunks: int, chunk: bytes, delay: float) -> None:
            # HTTP/1.0 without Content-Length: the body runs until the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for _ in range(chunks):
                if state.stop.wait(delay) if delay else state.stop.is_set():
                    return
                self.wfile.write(chunk)
                self.wfile.flush()

    return Handler


@contextmanager
def serve(body: bytes, *, tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    state = ServerState(body=body)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    server.block_on_close = False
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield LocalServer(f"{'https' if tls else 'http'}://127.0.0.1:{port}", port, state)
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()


def self_signed(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only this certificate) for `hostname`,
    with the name as its only subject alternative name — no IP address."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain takes file paths only.
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(key_path, "wb") as f:
            f.write(key_pem)
        server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client
