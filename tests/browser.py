"""Headless Chromium (Debian's), driven over the DevTools protocol with aiohttp's websocket client: open a page,
read what a person would see in it (frames included), take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp


class Chromium:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.http: aiohttp.ClientSession | None = None

    @staticmethod
    def find() -> str | None:
        """Why the browser tests cannot run here, or None."""
        return None if shutil.which("chromium") else "Debian's chromium is not installed (make chromium)"

    async def start(self) -> None:
        self.process = await asyncio.to_thread(self._launch)
        assert self.process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = (await asyncio.to_thread(self.process.stderr.readline)).decode(errors="replace")
            found = re.search(r"DevTools listening on ws://([\d.:]+)/", line)
            if found:
                self.endpoint = f"http://{found.group(1)}"
                break
        else:
            raise RuntimeError("chromium did not start")
        self.http = aiohttp.ClientSession()

    def _launch(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(shutil.which("chromium")), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={self.folder}",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def open(self, url: str, width: int = 1280, height: int = 900) -> Page:
        assert self.http is not None
        async with self.http.put(f"{self.endpoint}/json/new?about:blank") as answer:
            target = await answer.json()
        page = Page(await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0))
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=width < 600)
        await page.call("Page.navigate", url=url)  # here, not in /json/new: an HTTP request drops the fragment
        return page

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.problems: list[str] = []  # the page's errors and console warnings, for a failing test to show

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive(timeout=30)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            if message.get("method") == "Runtime.exceptionThrown":
                self.problems.append(json.dumps(message["params"]["exceptionDetails"])[:500])
            elif message.get("method") == "Runtime.consoleAPICalled":
                self.problems.append(" ".join(str(a.get("value", a.get("description", "")))
                                              for a in message["params"]["args"])[:500])

    async def text(self) -> str:
        """The text of the page and of each of its frames, as a person reads it."""
        tree = (await self.call("Page.getFrameTree"))["frameTree"]
        frames = [tree["frame"]["id"]] + [child["frame"]["id"] for child in tree.get("childFrames", [])]
        texts = []
        for frame in frames:
            world = await self.call("Page.createIsolatedWorld", frameId=frame, worldName="reader")
            found = await self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                                    contextId=world["executionContextId"], returnByValue=True)
            texts.append(str(found.get("result", {}).get("value", "")))
        return "\n".join(texts)

    async def until(self, needle: str, timeout: float = 15.0) -> str:
        """The page's text once it shows `needle`."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.text()
            if needle in text:
                return text
            await asyncio.sleep(0.1)
        raise AssertionError(f"the page never showed {needle!r}; it showed:\n{text}\n"
                             "its console:\n" + "\n".join(self.problems))

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.call("Page.close")
        await self.ws.close()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
