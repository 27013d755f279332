"""A throw-away Synapse homeserver on 127.0.0.1 for the demo and the test suite.

Synapse (the `matrix-synapse` package, a test/demo dependency) runs as a subprocess with
SQLite in a scratch directory. Users are registered through the shared-secret admin API,
which answers with an access token at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER_NAME = "localhost"

# Relaxed limits so tests and the demo are never throttled; `default_limits=True` keeps
# Synapse's own defaults for the tests and benchmarks that are about rate limits.
_RELAXED = {"per_second": 10000, "burst_count": 10000}
_RELAXED_LIMITS: dict[str, Any] = {
    "rc_message": _RELAXED,
    "rc_registration": _RELAXED,
    "rc_login": {"address": _RELAXED, "account": _RELAXED, "failed_attempts": _RELAXED},
    "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
    "rc_joins_per_room": _RELAXED,
    "rc_invites": {"per_room": _RELAXED, "per_user": _RELAXED, "per_issuer": _RELAXED},
    "rc_room_creation": _RELAXED,
    "rc_admin_redaction": _RELAXED,
    "rc_3pid_validation": _RELAXED,
    "rc_presence": {"per_user": _RELAXED},
    "rc_delayed_event_mgmt": _RELAXED,
    "rc_reports": _RELAXED,
}


@dataclass(frozen=True)
class RegisteredUser:
    """A user registered on the dev homeserver, with a fresh access token."""

    user_id: str
    password: str
    access_token: str
    device_id: str


def free_port(preferred: int = 0) -> int:
    """`preferred` when nothing listens there on loopback, else any free TCP port the kernel gives."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Homeserver:
    """Start, stop and register users on a local Synapse."""

    def __init__(self, workdir: Path, *, port: int | None = None, default_limits: bool = False,
                 relax: tuple[str, ...] = ()) -> None:
        """`default_limits` keeps Synapse's rate limits, except the `relax` ones (e.g. "rc_registration")."""
        self.workdir = workdir
        self.port = port or free_port()
        self.default_limits = default_limits
        self.relax = relax
        self.shared_secret = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.key_id = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server_name(self) -> str:
        return SERVER_NAME

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{SERVER_NAME}"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key_path = self.workdir / "signing.key"
        if not key_path.exists():
            seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
            key_path.write_text(f"ed25519 a_{secrets.token_hex(4)} {seed}\n")
        self.key_id = "ed25519:" + key_path.read_text().split()[1]
        log_config = self.workdir / "log.yaml"
        log_config.write_text(
            json.dumps(
                {
                    "version": 1,
                    "formatters": {"f": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
                    "handlers": {
                        "file": {
                            "class": "logging.FileHandler",
                            "formatter": "f",
                            "filename": str(self.workdir / "homeserver.log"),
                        }
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "disable_existing_loggers": False,
                }
            )
        )
        config: dict[str, Any] = {
            "server_name": SERVER_NAME,
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # openid: /_matrix/federation/v1/openid/userinfo, where the board checks a widget's token
                    # keys: /_matrix/key/v2/server, by which `start` knows its own server from another on the port
                    "resources": [{"names": ["client", "openid", "keys"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.workdir / "homeserver.db")}},
            "log_config": str(log_config),
            "media_store_path": str(self.workdir / "media"),
            "registration_shared_secret": self.shared_secret,
            "report_stats": False,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "signing_key_path": str(key_path),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "bcrypt_rounds": 4,
            "presence": {"enabled": False},
            "enable_registration": False,
            "ip_range_whitelist": ["127.0.0.1/32"],
            "url_preview_enabled": False,
            "enable_metrics": False,
        }
        if not self.default_limits:
            config.update(_RELAXED_LIMITS)
        config.update({key: _RELAXED_LIMITS[key] for key in self.relax})
        path = self.workdir / "homeserver.yaml"
        # JSON is valid YAML; it keeps us free of a YAML writer.
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self, timeout: float = 60.0) -> None:
        """Start Synapse and wait until it answers `/_matrix/client/versions`."""
        config_path = self._write_config()
        log = open(self.workdir / "stderr.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers_as_itself():
                return
            try:
                code = self.process.wait(0.1)  # an exit means Synapse failed to start
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"Synapse exited with {code}; see {self.workdir / 'stderr.log'}")
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {timeout:.0f} s")

    def _answers_as_itself(self) -> bool:
        """Whether this Synapse answers on its port, rather than nothing or another server started there first."""
        try:
            with urllib.request.urlopen(f"{self.url}/_matrix/key/v2/server", timeout=1) as answer:
                keys = json.load(answer).get("verify_keys", {})
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return False
        return self.key_id in keys

    async def start_async(self, timeout: float = 60.0) -> None:
        """`start` for async callers: the event loop keeps running while Synapse boots."""
        await asyncio.to_thread(self.start, timeout)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop Synapse with SIGTERM (SIGKILL if it does not stop in time)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 token: str | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read() or b"{}")
            return result

    def register(self, localpart: str, password: str | None = None, *, admin: bool = False) -> RegisteredUser:
        """Register a user through the shared-secret admin API."""
        password = password or secrets.token_hex(8)
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        parts = (nonce, localpart, password, "admin" if admin else "notadmin")
        digest = hmac.new(self.shared_secret.encode(), b"\x00".join(p.encode() for p in parts),
                          hashlib.sha1).hexdigest()
        answer = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": digest},
        )
        return RegisteredUser(answer["user_id"], password, answer["access_token"], answer["device_id"])

    def exempt_from_rate_limits(self, admin_token: str, user_id: str) -> None:
        """The admin call a deployment uses to let the bot send without throttling."""
        self._request(
            "POST",
            f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            token=admin_token,
        )


@contextmanager
def scratch_homeserver() -> Iterator[tuple[Path, Homeserver]]:
    """A temporary folder and a Synapse running in it, stopped and removed afterwards (soaks, benchmarks)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        hs = Homeserver(tmp / "synapse")
        hs.start()
        try:
            yield tmp, hs
        finally:
            hs.stop()


def register_many(hs: Homeserver, prefix: str, count: int) -> list[RegisteredUser]:
    """`count` users with unique names starting with `prefix`."""
    return [hs.register(f"{prefix}{i}x{secrets.token_hex(2)}") for i in range(count)]


def one_forum(hs: Homeserver, admin: RegisteredUser, bot: RegisteredUser, holders: list[RegisteredUser],
              database: Path, **forum: Any) -> dict[str, Any]:
    """Configuration for the benchmarks and soaks: one forum whose functions are held one each by
    `holders`; the first convenes and chairs. Plain rooms, no direct rooms opened at start."""
    return {
        "bot": {"admins": [admin.user_id]},
        "matrix": {"homeserver": hs.url, "user_id": bot.user_id, "open_direct_rooms": False, "encryption": False},
        "database": {"url": f"sqlite+aiosqlite:///{database}"},
        "organisation": [{"id": "org", "name": "Organisation"}],
        "function": [{"id": f"f{i}", "organisation": "org", "name": f"Funktion {i}", "holders": [h.user_id],
                      "may_convene": i == 0} for i, h in enumerate(holders)],
        "forum": [{"id": "forum", "name": "Forum", "level": "samordnande", "room": f"#forum:{hs.server_name}",
                   "chair": "f0", **forum}],
    }
