"""Real headless Chromium (Debian's, driven by Playwright for Python) against the assistant on real sockets.

Chromium is never downloaded: Playwright launches ``/usr/bin/chromium`` (``KCA_TEST_CHROMIUM`` overrides).
Without it these tests skip with the reason; under CI=true they fail instead.
`scripts/install-test-deps.sh` (or `apt-get install chromium`) installs it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("KCA_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# The phone-call rig (Kayako mock, fake Twilio, the assistant on a port) is shared with the telephony tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "telephony"))


def _need_chromium() -> None:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = (
            f"Chromium not found at {CHROMIUM} (apt-get install chromium, or scripts/install-test-deps.sh)"
        )
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install playwright; no browser download)"
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"browser tests are required under CI=true: {reason}")
    pytest.skip(reason)


def chromium_args(user_data_dir: Path, microphone_wav: Path | None = None) -> list[str]:
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={user_data_dir}",
    ]
    if microphone_wav is not None:
        args += [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}%noloop",
        ]
    return args


@pytest.fixture
async def launch_browser(tmp_path: Path) -> AsyncIterator[Any]:
    """``await launch_browser(microphone_wav=None)`` -> a Playwright browser context on Debian's Chromium."""
    _need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        contexts: list[Any] = []

        async def launch(microphone_wav: Path | None = None) -> Any:
            profile = tmp_path / f"chromium-profile-{len(contexts)}"
            # launch_persistent_context: a fresh --user-data-dir we choose, as the flags above require.
            context = await playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    a for a in chromium_args(profile, microphone_wav) if not a.startswith("--user-data-dir")
                ],
                viewport={"width": 1100, "height": 900},
            )
            contexts.append(context)
            return context

        try:
            yield launch
        finally:
            for context in contexts:
                await context.close()
