"""A throwaway certificate authority for TLS tests, made with the openssl command line."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path  # names localhost and 127.0.0.1
    server_key: Path
    other_host_cert: Path  # names only other-host.example, signed by the same CA
    other_host_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(directory: Path, name: str, subject: str, san: str) -> tuple[Path, Path]:
    key, csr, cert, ext = (
        directory / f"{name}.{suffix}" for suffix in ("key", "csr", "crt", "cnf")
    )
    ext.write_text(f"subjectAltName={san}\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.name, "-out", csr.name,
             "-subj", subject, cwd=directory)  # fmt: skip
    _openssl("x509", "-req", "-in", csr.name, "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", cert.name, "-days", "2", "-extfile", ext.name,
             cwd=directory)  # fmt: skip
    return cert, key


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "2", "-subj", "/CN=keyops test CA", cwd=directory)  # fmt: skip
    server = _signed(directory, "server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    other = _signed(directory, "other", "/CN=other-host.example", "DNS:other-host.example")
    client = _signed(directory, "client", "/CN=keyops-operator", "DNS:keyops-operator")
    return TlsFiles(directory / "ca.crt", *server, *other, *client)


def tls_server_args(
    files: TlsFiles, port: int, *, require_client_cert: bool, other_host: bool = False
) -> list[str]:
    cert, key = (
        (files.other_host_cert, files.other_host_key)
        if other_host
        else (files.server_cert, files.server_key)
    )
    return [
        "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(files.ca_cert),
        "--tls-auth-clients", "yes" if require_client_cert else "no",
    ]  # fmt: skip
