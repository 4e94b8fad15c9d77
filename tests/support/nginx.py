"""Debian's nginx running deploy/nginx/intelshare.conf on loopback, for tests and CI.

``render()`` swaps the deployment values of the file (upstream ``web:8000``,
ports 80 and 443, the certificate and static paths) for loopback ones and wraps
it in a main configuration whose pid, logs and temporary files live under a
directory the caller owns, as the nginx image's own nginx.conf wraps it in
docker-compose. ``NginxServer`` runs it in the foreground and stops it by pid.

``python -m tests.support.nginx`` validates the file with ``nginx -t`` (.ci/run).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from intelshare.localca import LocalCertificate, make_local_ca

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "intelshare.conf"


def nginx_binary() -> str | None:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _replace_once(text: str, old: str, new: str) -> str:
    # Every deployment value must be found exactly once: a renamed value in the
    # file fails here rather than leaving a test listening on port 443.
    count = text.count(old)
    if count != 1:
        raise AssertionError(f"{CONF.name}: expected {old!r} once, found it {count} times")
    return text.replace(old, new)


@dataclass
class NginxServer:
    workdir: Path
    upstream: str
    cert: LocalCertificate
    static_root: Path
    read_timeout: str | None = None
    http_port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def render(self) -> Path:
        site = CONF.read_text()
        for old, new in (
            ("set $intelshare_web web:8000;", f"set $intelshare_web {self.upstream};"),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen 443 ssl;", f"listen 127.0.0.1:{self.https_port} ssl;"),
            ("/etc/nginx/certs/fullchain.pem;", f"{self.cert.fullchain};"),
            ("/etc/nginx/certs/privkey.pem;", f"{self.cert.privkey};"),
            ("alias /srv/intelshare/static/;", f"alias {self.static_root}/;"),
        ):
            site = _replace_once(site, old, new)
        if self.read_timeout:
            site = _replace_once(
                site, "proxy_read_timeout 60s;", f"proxy_read_timeout {self.read_timeout};"
            )
        w = self.workdir
        (w / "tmp").mkdir(parents=True, exist_ok=True)
        (w / "intelshare.conf").write_text(site)
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        temp = "\n".join(
            f"    {kind}_temp_path {w}/tmp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        main = w / "nginx.conf"
        main.write_text(f"""\
# Workers run as the test's user: they read the static and temporary files under {w}.
user {user} {group};
worker_processes 1;
daemon off;
pid {w}/nginx.pid;
error_log {w}/error.log notice;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {w}/access.log;
{temp}
    include {w}/intelshare.conf;
}}
""")
        return main

    def _argv(self, *extra: str) -> list[str]:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("Debian's nginx is not installed (apt-get install nginx)")
        return [
            binary,
            "-p",
            str(self.workdir),
            "-e",
            str(self.error_log),
            "-c",
            str(self.workdir / "nginx.conf"),
            *extra,
        ]

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the rendered configuration."""
        self.render()
        return subprocess.run(
            self._argv("-t"), capture_output=True, text=True, timeout=60, check=False
        )

    def start(self) -> None:
        self.render()
        log = (self.workdir / "nginx.out").open("wb")
        self.popen = subprocess.Popen(
            self._argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log_tail()}")
            if all(_listening(port) for port in (self.http_port, self.https_port)):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen:\n{self.log_tail()}")

    def stop(self) -> None:
        popen, self.popen = self.popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)  # fast shutdown of the master and its worker
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in (self.workdir / "nginx.out", self.error_log):
            if path.exists():
                parts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(parts)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def main() -> int:
    """Render the file for a loopback upstream with a throwaway certificate; ``nginx -t``."""
    if nginx_binary() is None:
        print("nginx is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="intelshare-nginx-") as tmp:
        workdir = Path(tmp)
        cert = make_local_ca(workdir / "certs", ["localhost", "127.0.0.1"])
        (workdir / "static").mkdir()
        result = NginxServer(workdir, "127.0.0.1:8000", cert, workdir / "static").check()
        sys.stderr.write(result.stdout + result.stderr)
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
