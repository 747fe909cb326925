"""`graphsvc serve` in a child process on a free loopback port: for the real-server tests and the benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServeProcess", "start_serve"]


@dataclass
class ServeProcess:
    base: str
    """e.g. ``http://127.0.0.1:41237``"""
    process: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 60.0) -> int:
        """Stop it as Ctrl-C would (the audit log is flushed); returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


def start_serve(home: str | Path, *, env: dict[str, str] | None = None, timeout: float = 120.0) -> ServeProcess:
    """Start `graphsvc serve --home HOME` and wait until /health answers; its output goes to HOME/serve.log."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = home / "serve.log"
    # 0600 from the start: on a first run the log holds the printed first admin key.
    with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--home", str(home), "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    served = ServeProcess(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{served.base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return served
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            raise RuntimeError(f"graphsvc serve did not come up; its output:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
