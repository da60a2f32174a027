"""`kca serve` on its embedded defaults, as `make run` starts it, with the embedded Kayako mock and fake Twilio on
ports chosen by the system (`KCA_KAYAKO_MOCK_PORT=0`, `KCA_TWILIO_FAKE_PORT=0`): the assistant reaches the
mock on the port it really got, so the help center is loaded and every readiness check passes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_the_embedded_mock_on_any_free_port_is_ready(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "KCA_ENVIRONMENT": "development",
        "KCA_PORT": str(port),
        "KCA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "KCA_DATA_DIR": str(tmp_path),
        "KCA_KAYAKO_BASE_URL": "",
        "KCA_KAYAKO_MOCK_PORT": "0",
        "KCA_TWILIO_FAKE_PORT": "0",
        "KCA_LOG_LEVEL": "WARNING",
    }
    kca = str(Path(sys.executable).parent / "kca")
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen([kca, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        ready: httpx.Response | None = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", params={"strict": "1"}, timeout=10)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert ready is not None, (tmp_path / "serve.log").read_text()[-2000:]
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["kayako"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=60)
