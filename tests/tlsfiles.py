"""A test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with `key_password`
    key_password: str = "client-key-pass"


def make_tls_files(folder: Path) -> TlsFiles:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (Debian package openssl)")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=newsflow test CA")
    for name, subject, extra in (("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1"),
                                 ("client", "/CN=newsflow-test-client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        (folder / f"{name}.ext").write_text(extra + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem",
                     folder / "client-enc.key")
    openssl("pkey", "-in", "client.key", "-out", "client-enc.key", "-aes256", "-passout", f"pass:{files.key_password}")
    return files
