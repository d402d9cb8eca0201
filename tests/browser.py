"""A real headless chromium for tests: load a page, collect what went wrong, read the DOM.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
file descriptors 3 and 4, one JSON message per NUL-terminated line), so no
websocket client and no driver package is needed. :func:`render` loads a
``file://`` page, waits for its load event, and returns every console error,
uncaught exception and failed load (a missing or external asset shows as a
network error) along with what the test asks it to evaluate in the page.
Tests that need chromium skip with :data:`MISSING` when it is absent
(``make system-deps`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MISSING", "Page", "chromium", "render"]

MISSING = "chromium absent: apt-get install chromium (make system-deps)"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio")


def chromium() -> str | None:
    """The chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    """What a page did while it loaded, and what the test evaluated in it."""

    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class _Pipe:
    """The DevTools protocol over chromium's pipe."""

    def __init__(self, binary: str, profile: str) -> None:
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads commands, fd 4 writes replies
            write = os.dup(from_browser_w) if from_browser_w == 3 else from_browser_w
            os.dup2(to_browser_r, 3)
            os.dup2(write, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),  # kept open after wire() put the pipe there
            preexec_fn=wire,  # noqa: PLW1509 - two dup2 calls, nothing that takes a lock
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: object) -> int:
        self._id += 1
        message: dict[str, object] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._id

    def _next(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed its DevTools pipe")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    def call(
        self, method: str, session: str | None = None, timeout: float = 30, **params: object
    ) -> dict[str, Any]:
        """Send a command; keep the events that arrive meanwhile; return its result."""
        wanted = self.send(method, session, **params)
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        """Collect events until ``method`` arrives."""
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            self.events.append(message)
            if message.get("method") == method:
                return

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._out)
            os.close(self._in)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and failed loads among the page's events."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            found.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            found.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            found.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.loadingFailed":
            found.append(f"load failed: {params.get('errorText')} ({params.get('type')})")
    return found


def render(page: Path, evaluate: dict[str, str] | None = None, settle_s: float = 0.5) -> Page:
    """Load ``page`` in headless chromium; its errors and the value of each expression."""
    binary = chromium()
    if binary is None:
        raise RuntimeError(MISSING)
    with tempfile.TemporaryDirectory(prefix="anpr-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                pipe.call(f"{domain}.enable", session)
            pipe.call("Page.navigate", session, url=page.resolve().as_uri())
            pipe.wait_for("Page.loadEventFired")
            time.sleep(settle_s)  # late errors (timers, lazy loads) still count
            values = {
                name: pipe.call("Runtime.evaluate", session, expression=expr, returnByValue=True)[
                    "result"
                ].get("value")
                for name, expr in (evaluate or {}).items()
            }
            pipe.call("Runtime.evaluate", session, expression="0")  # drain pending events
        finally:
            pipe.close()
    return Page(_errors(pipe.events), values)
