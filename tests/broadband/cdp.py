"""Drive Debian's headless Chromium over the Chrome DevTools Protocol (a WebSocket), with the
``websockets`` package the project already has: lighter than Selenium + chromium-driver."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,1400",
]


def available() -> bool:
    return Path(CHROMIUM).exists()


class Page:
    """One browser tab: evaluate JavaScript, navigate, take screenshots."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._id = 0
        self.console: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        ident = self._id
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"].get("args", [])
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif message.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(message["params"]["exceptionDetails"]))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression[:80]}: {reply['exceptionDetails']}")
        return reply.get("result", {}).get("value")

    async def goto(self, url: str, timeout: float = 60) -> None:
        await self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.evaluate("document.readyState") == "complete":
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(url)

    async def wait_for(self, expression: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{expression} still false after {timeout} s; console: {self.console}")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))


def _devtools_port(profile: Path) -> int | None:
    """The port Chromium chose for ``--remote-debugging-port=0``: the first line of the
    ``DevToolsActivePort`` file it writes into its profile once it listens."""
    try:
        first = (profile / "DevToolsActivePort").read_text().splitlines()[0]
    except (FileNotFoundError, IndexError):
        return None
    return int(first) if first.strip().isdigit() else None


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Page]:
    """A fresh headless Chromium (own profile) with its DevTools endpoint on a port it picks
    (port 0: no race with other tests' servers for a port found free beforehand)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = None
            deadline = time.monotonic() + 60
            while port is None:
                assert proc.poll() is None, "chromium exited at start"
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                await asyncio.sleep(0.1)
                port = _devtools_port(Path(profile))
            targets: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                try:
                    targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                except httpx.HTTPError:
                    targets = []
                if any(t.get("type") == "page" for t in targets):
                    break
                await asyncio.sleep(0.2)
            page_target = next(t for t in targets if t.get("type") == "page")
            async with connect(page_target["webSocketDebuggerUrl"], max_size=None) as ws:
                page = Page(ws)
                await page.call("Runtime.enable")
                await page.call("Page.enable")
                yield page
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
