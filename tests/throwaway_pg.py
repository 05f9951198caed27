"""A throwaway PostgreSQL cluster that checks passwords, as Lakebase does: TCP logins need the role's password
(scram-sha-256) over TLS (a self-signed certificate, enough for sslmode=require); the test itself administers it over
a Unix socket. It listens on port 5432 of a spare loopback address (127.0.0.2, …), so clients use Lakebase's port.

Made with initdb + pg_ctl (about a second), run as the `postgres` user when the tests run as root (PostgreSQL refuses
to run as root). Nothing of the machine's own PostgreSQL is touched."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg


def _bin(name: str) -> str:
    found = shutil.which(name) or next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))),
                                       None)
    if found is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install postgresql)")
    return found


def spare_loopback(port: int = 5432) -> str:
    """A loopback address whose port is free (the machine's own PostgreSQL holds 127.0.0.1:5432)."""
    for last in range(2, 64):
        address = f"127.0.0.{last}"
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind((address, port))
            return address
    raise RuntimeError(f"no loopback address has port {port} free")


@dataclass
class Cluster:
    host: str
    port: int
    socket_dir: str

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection over the Unix socket (trusted), in autocommit."""
        return psycopg.connect(host=self.socket_dir, port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def set_password(self, role: str, password: str) -> None:
        with self.admin() as conn:
            conn.execute(f'ALTER ROLE "{role}" PASSWORD {_literal(password)}'.encode())


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@contextlib.contextmanager
def throwaway_cluster(certificate: tuple[str, str]) -> Iterator[Cluster]:
    """A running cluster; stopped and deleted afterwards. certificate: (cert file, key file) for its TLS."""
    root = Path(tempfile.mkdtemp(prefix="cvx-pg-"))
    as_postgres = os.geteuid() == 0
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    cert, key = root / "server.crt", root / "server.key"
    shutil.copyfile(certificate[0], cert)
    shutil.copyfile(certificate[1], key)
    key.chmod(0o600)
    if as_postgres:
        pg = pwd.getpwnam("postgres")
        for path in (root, sockets, cert, key):
            os.chown(path, pg.pw_uid, pg.pw_gid)
    host = spare_loopback()

    def run(*args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if as_postgres else list(args)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    run(_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
        "--no-sync", "-E", "UTF8")
    options = (f"-c listen_addresses={host} -c port=5432 -c unix_socket_directories={sockets} -c ssl=on "
               f"-c ssl_cert_file={cert} -c ssl_key_file={key} -c fsync=off -c max_connections=60")
    run(_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start")
    try:
        yield Cluster(host=host, port=5432, socket_dir=str(sockets))
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            run(_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
