"""Helpers for browser tests: console errors (CSP violations appear there), login, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

__all__ = ["expect", "log_in", "screenshot", "watch_console"]

DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"


def watch_console(page: Any) -> list[str]:
    """Every console error and uncaught page error of ``page`` (a CSP violation is a console error)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def log_in(page: Any, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/admin")
    assert page.url.startswith(f"{base_url}/admin/login")
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base_url}/admin")


async def screenshot(page: Any, name: str) -> None:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(DOCS_IMG / name), full_page=True)
