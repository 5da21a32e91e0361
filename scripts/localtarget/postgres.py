"""A throwaway PostgreSQL server on loopback, with password (SCRAM) authentication.

initdb refuses to run as root, so when we are root the server runs as the `postgres` OS user
(created by the distribution's postgresql package).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scripts.localtarget.private_files import write_private
from scripts.localtarget.procs import port_open, wait_until

SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    data_dir: str
    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    dbname: str = "postgres"

    def dsn(self, dbname: str | None = None, user: str | None = None, password: str | None = None) -> str:
        return (
            f"host={self.host} port={self.port} dbname={dbname or self.dbname} "
            f"user={user or self.user} password={password or self.password}"
        )


class PostgresNotInstalled(RuntimeError):
    pass


def find_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    raise PostgresNotInstalled(
        f"PostgreSQL server binary {name!r} not found; install it with `apt-get install -y postgresql`"
    )


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresNotInstalled(
            "running as root needs the 'postgres' OS user; `apt-get install -y postgresql` creates it"
        ) from exc
    return ["runuser", "-u", "postgres", "--"], pw.pw_uid, pw.pw_gid


def start(data_dir: Path, port: int, timeout: float = 60.0) -> PostgresServer:
    """initdb (first time) and start a server listening only on 127.0.0.1:port."""
    if port_open(port):
        raise RuntimeError(f"port {port} is already in use; choose another port for PostgreSQL")
    prefix, uid, gid = _as_server_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    pwfile = data_dir.parent / f"{data_dir.name}.pw"
    if uid is not None:
        os.chown(data_dir, uid, gid if gid is not None else -1)
    os.chmod(data_dir, 0o700)
    if prefix and subprocess.run([*prefix, "test", "-w", str(data_dir)], check=False).returncode != 0:
        raise RuntimeError(
            f"the 'postgres' OS user cannot reach {data_dir}: make its parent directories traversable "
            "(chmod o+x) or point PLATFORM_HOME at a directory outside a private (0700) one"
        )
    if not (data_dir / "PG_VERSION").exists():
        password = secrets.token_urlsafe(24)
        # Both files are 0600 from creation: initdb reads the second as the server user.
        write_private(pwfile, password)
        init_pw = write_private(data_dir.parent / f".{data_dir.name}.initpw", password, uid=uid, gid=gid)
        try:
            subprocess.run(
                [
                    *prefix,
                    find_bin("initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={init_pw}",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed: {exc.stderr.strip()}") from exc
        finally:
            init_pw.unlink(missing_ok=True)
    password = pwfile.read_text().strip()
    socket_dir = data_dir / "sock"
    socket_dir.mkdir(exist_ok=True)
    if uid is not None:
        os.chown(socket_dir, uid, gid if gid is not None else -1)
    log_file = data_dir / "server.log"
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir} -c fsync=off -c full_page_writes=off"
    try:
        subprocess.run(
            [
                *prefix,
                find_bin("pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(log_file),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            check=True,
            capture_output=True,
            text=True,
            start_new_session=True,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"PostgreSQL did not start: {exc.stderr.strip() or exc.stdout.strip()}; see {log_file}"
        ) from exc
    wait_until(lambda: port_open(port), timeout, f"PostgreSQL on 127.0.0.1:{port}")
    return PostgresServer(data_dir=str(data_dir), port=port, password=password)


def stop(data_dir: Path) -> None:
    prefix, _, _ = _as_server_user()
    if not (data_dir / "postmaster.pid").exists():
        return
    subprocess.run(
        [*prefix, find_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        check=False,
        capture_output=True,
        text=True,
    )
