"""A throwaway certificate authority (the ``openssl`` binary) and a TLS-only ``redis-server``.

Everything is written under the directory given (a test's ``tmp_path``); keys are 2048-bit
RSA; certificates are valid for a day.
"""

from __future__ import annotations

import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.redis_server import RedisServer

KEY_PASSPHRASE = "client-key-passphrase-42"  # noqa: S105 (a throwaway test key's passphrase)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Pki:
    """Paths of one CA, a server certificate (``localhost`` only, no IP) and a client one."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    other_ca_cert: Path


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
             str(cert), "-days", "1", "-subj", f"/CN={name}")  # fmt: skip
    return key, cert


def _signed(directory: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    extfile = directory / f"{name}.ext"
    extfile.write_text(ext)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/CN={name}")  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
             "-CAcreateserial", "-out", str(cert), "-days", "1",
             "-extfile", str(extfile))  # fmt: skip
    return key, cert


def make_pki(directory: Path) -> Pki:
    """Create the CA, certificates and keys in ``directory``."""
    ca = _ca(directory, "test-ca")
    _, other = _ca(directory, "other-ca")
    server_key, server_cert = _signed(
        directory, "server", ca, "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    client_key, client_cert = _signed(directory, "client", ca, "extendedKeyUsage=clientAuth\n")
    encrypted = directory / "client-encrypted.key"
    _openssl("pkey", "-in", str(client_key), "-out", str(encrypted), "-aes256", "-passout",
             f"pass:{KEY_PASSPHRASE}")  # fmt: skip
    return Pki(ca[1], server_cert, server_key, client_cert, client_key, encrypted, other)


class TlsRedisServer(RedisServer):
    """``redis-server --port 0 --tls-port P``: TLS only; ``mutual`` asks for client
    certificates (``--tls-auth-clients yes``)."""

    def __init__(self, pki: Pki, *, mutual: bool = False, extra: list[str] | None = None) -> None:
        self.pki = pki
        self.mutual = mutual
        tls = [
            "--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key),
            "--tls-ca-cert-file", str(pki.ca_cert),
            "--tls-auth-clients", "yes" if mutual else "no",
        ]  # fmt: skip
        super().__init__(extra=[*tls, *(extra or [])])

    def url(self, host: str = "localhost") -> str:  # type: ignore[override]
        """``rediss://HOST:PORT/0``."""
        return f"rediss://{host}:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start with the plain port off and TLS on :attr:`port`; wait until a verified PING
        answers."""
        assert self.binary is not None
        args = [self.binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--logfile", str(self.dir / "redis.log"), *self.extra]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = self.admin()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited at start: {self.dir / 'redis.log'}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("TLS redis-server did not answer in time") from None
                    time.sleep(0.02)  # polling for start-up, not waiting for an outcome
        finally:
            client.close()

    def admin(self) -> redis.Redis:
        """A verified client with the test's own client certificate."""
        return redis.Redis(
            host="localhost", port=self.port, ssl=True, ssl_ca_certs=str(self.pki.ca_cert),
            ssl_certfile=str(self.pki.client_cert), ssl_keyfile=str(self.pki.client_key),
            ssl_cert_reqs=ssl.CERT_REQUIRED, socket_connect_timeout=0.5, decode_responses=True,
        )  # fmt: skip
