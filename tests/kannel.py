"""A real Kannel on 127.0.0.1 for the SMS tests: bearerbox and smsbox from Debian's `kannel` package, with
`fakesmsc` (from `kannel-extras`) as the operator. fakesmsc plays the phones: it receives what the bot
texts, and injects the replies that people send.

`make test` installs the packages when they are missing; where they are not there, `Kannel.find()` says
why and the tests that need it are skipped.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pgserver import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
NUMBER = "+46700000001"  # the bot's number at the fake operator
UNREACHABLE = "+46709"  # the operator refuses numbers that start so (a delivery that fails)
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) text (.*)>$")


@dataclass(frozen=True)
class Texted:
    """One SMS as the fake operator received it."""

    sender: str
    to: str
    text: str


def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Kannel:
    """bearerbox + smsbox + fakesmsc; each port on loopback. `callback` is where the bot listens."""

    user, password = "samverkan", "kannel-test-password"

    def __init__(self, folder: Path, callback: str, secret: str) -> None:
        self.folder = folder
        self.admin, self.boxes, self.smsc, self.sendsms = (free_port() for _ in range(4))
        self.callback = callback
        self.secret = secret
        self.log = folder / "fakesmsc.log"
        self.with_id = True  # False: the get-url lacks id=%I, as a gateway set up by hand may
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @staticmethod
    def find() -> str | None:
        """None when Kannel can run here; else why not."""
        missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not Path(p).exists()]
        return f"Kannel not installed ({', '.join(missing)}; Debian's kannel and kannel-extras)" if missing else None

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    def config(self) -> str:
        incoming = (f"{self.callback}/sms/incoming?secret={self.secret}&from=%p&to=%P&text=%a"
                    + ("&id=%I" if self.with_id else ""))
        return f"""
group = core
admin-port = {self.admin}
admin-password = admin
admin-interface = 127.0.0.1
smsbox-port = {self.boxes}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{self.folder}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {self.smsc}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1
denied-prefix = "{UNREACHABLE}"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.boxes}
sendsms-port = {self.sendsms}
sendsms-interface = 127.0.0.1
log-file = "{self.folder}/smsbox.log"
log-level = 1
mo-recode = true
http-request-retry = 3

group = sendsms-user
username = {self.user}
password = {self.password}
max-messages = 1

group = sms-service
keyword = default
catch-all = true
get-url = "{incoming}"
max-messages = 0
"""

    def start(self) -> None:
        conf = self.folder / "kannel.conf"
        conf.write_text(self.config())
        self._procs["bearerbox"] = subprocess.Popen([BEARERBOX, "-v", "2", str(conf)], stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL)
        _wait_port(self.smsc)
        out = open(self.log, "wb")  # noqa: SIM115 - fakesmsc writes into it as long as it runs
        self._procs["fakesmsc"] = subprocess.Popen([FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc), "-i", "0"],
                                                   stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        self.start_smsbox()

    def start_smsbox(self) -> None:
        """The sendsms interface (the gateway as the bot sees it) is back."""
        self._procs["smsbox"] = subprocess.Popen([SMSBOX, "-v", "2", str(self.folder / "kannel.conf")],
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.sendsms)

    def stop_smsbox(self) -> None:
        """The gateway stops answering."""
        proc = self._procs.pop("smsbox")
        proc.kill()
        proc.wait(10)

    def received(self) -> list[Texted]:
        """Every SMS the fake operator has received so far, oldest first."""
        self._nudge()
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = _GOT.search(line)
            if match:
                found.append(Texted(*match.groups()))
        return found

    def to(self, number: str) -> list[str]:
        """The texts received for one number."""
        return [t.text for t in self.received() if t.to == number]

    def reply(self, sender: str, text: str, to: str = NUMBER) -> None:
        """A person sends an SMS to the bot's number."""
        self._write(f"{sender} {to} text {text}\n\n")  # the empty line makes fakesmsc look again

    def _nudge(self) -> None:
        """fakesmsc reads its input with fgets and looks at what the bearerbox sent between lines."""
        self._write("\n")

    def _write(self, line: str) -> None:
        stdin = self._procs["fakesmsc"].stdin
        assert stdin is not None
        stdin.write(line.encode())
        stdin.flush()

    def stop(self) -> None:
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
