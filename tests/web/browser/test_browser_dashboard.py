"""The operator dashboard in headless Chromium: login (refused and granted, audited), the overview with its
charts, the call list and its search, one call's page, the outbox's re-queue; no console error under the CSP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from browser_pages import expect, log_in, screenshot, watch_console
from telephony_support import voice_rig

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn, utcnow
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.tickets.case_builder import idempotency_key_for


async def _seed(stores: Any) -> None:
    now = utcnow().replace(microsecond=0)
    for index, (outcome, number) in enumerate(
        [(CallOutcome.RESOLVED, "+14155550142"), (CallOutcome.ESCALATED, "+442071838750")]
    ):
        started = now - dt.timedelta(days=index, minutes=10)
        call_id = f"seeded{index}"
        await stores.calls.create_call(
            CallRecord(
                call_id=call_id,
                channel=CallChannel.MEDIA_STREAM,
                started_at=started,
                external_id=f"CA{index:032d}",
                from_number=number,
                ended_at=started + dt.timedelta(seconds=75),
                outcome=outcome,
                escalation_reason="handoff_request" if outcome is CallOutcome.ESCALATED else None,
                cost_usd=0.0123,
            )
        )
        at = started + dt.timedelta(seconds=1)
        lines = [
            (Speaker.ASSISTANT, "Hello, thanks for calling Acme Support. How can I help?", False),
            (Speaker.CALLER, "how do I reset my password", False),
            (Speaker.ASSISTANT, "Open the sign-in page and choose Forgot password.", True),
        ]
        for seq, (speaker, text, cut) in enumerate(lines):
            ended = at + dt.timedelta(seconds=2)
            await stores.calls.add_turn(call_id, Turn(speaker, text, at, ended, cut, seq=seq))
            at = ended + dt.timedelta(seconds=0.8)
    key = idempotency_key_for("seeded1")
    await stores.outbox.enqueue(OutboxEntry(idempotency_key=key, call_id="seeded1", payload={"subject": "x"}))
    await stores.outbox.mark_failed(key, "Kayako answered 422: requester is invalid", None)


async def test_dashboard_login_calls_call_page_and_outbox_requeue(
    tmp_path: Path, launch_browser: Any
) -> None:
    async with voice_rig(tmp_path) as rig:
        stores = rig.runtime.stores
        await _seed(stores)
        token = await stores.tokens.create("ops-alice")
        browser = await launch_browser()
        page = await browser.new_page()
        errors = watch_console(page)

        # A wrong token is refused, said so on the page, and audited.
        await page.goto(f"{rig.base_url}/admin/call-log")
        await page.get_by_label("Admin token").fill("not-a-token")
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("alert").filter(has_text="not valid").wait_for()
        errors.clear()  # the refused login's 401 is itself logged by Chromium as a failed resource

        await log_in(page, rig.base_url, token)
        cookie = next(c for c in await browser.cookies() if c["name"] == "kca_operator")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        assert await page.locator("figure.chart svg").count() == 4
        assert await page.locator("figure.chart rect.bar").count() >= 2
        await screenshot(page, "dashboard-overview.png")

        await page.get_by_role("link", name="Calls", exact=True).click()
        rows = page.locator("#call-rows tr")
        assert await rows.count() == 2
        assert "+•••••••0142" in await rows.nth(0).inner_text()  # the caller's number is masked
        assert "14155550142" not in await page.content()
        await page.get_by_label("Search").fill("0142")
        await expect(rows).to_have_count(1)
        await page.get_by_label("Search").fill("")
        await expect(rows).to_have_count(2)
        await screenshot(page, "dashboard-calls.png")

        await page.locator("#call-rows tr").nth(1).get_by_role("link").first.click()
        await page.get_by_role("heading", name="Call seeded1").wait_for()
        transcript = await page.locator("ol.transcript").inner_text()
        assert "how do I reset my password" in transcript
        assert "Cut off by the caller" in transcript
        assert "handoff_request" in await page.locator("section", has_text="Decisions").inner_text()
        assert "dead after 1 attempt" in await page.locator("section", has_text="Kayako case").inner_text()
        await screenshot(page, "dashboard-call.png")

        await page.get_by_role("link", name="Outbox", exact=True).click()
        await page.get_by_role("button", name="Re-queue the case of call seeded1").click()
        await page.get_by_role("status").filter(has_text="Re-queued").wait_for()
        entry = await stores.outbox.get(idempotency_key_for("seeded1"))
        assert entry is not None and (entry.status != "dead" or entry.attempts > 1)  # taken up again
        await screenshot(page, "dashboard-outbox.png")

        # On a phone: nothing wider than the screen but the tables' own scroll boxes; keyboard first stop
        # is the skip link.
        await page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/admin", "/admin/call-log", "/admin/call-log/seeded1", "/admin/case-queue"):
            await page.goto(rig.base_url + path)
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        await page.keyboard.press("Tab")
        assert await page.evaluate("() => document.activeElement.textContent") == "Skip to content"
        await page.goto(rig.base_url + "/admin/call-log")
        await screenshot(page, "dashboard-phone.png")
        assert errors == [], errors

        events = await stores.audit.list(limit=100)
        actions = {(e.actor, e.action, e.target) for e in events}
        assert ("anonymous", "dashboard login", "denied") in actions
        assert ("ops-alice", "dashboard login", "granted") in actions
        assert ("ops-alice", "dashboard GET /admin/call-log/seeded1", "dashboard") in actions
        assert ("ops-alice", "requeue_case", idempotency_key_for("seeded1")) in actions


async def test_api_docs_render_under_the_csp(tmp_path: Path, launch_browser: Any) -> None:
    async with voice_rig(tmp_path) as rig:
        browser = await launch_browser()
        page = await browser.new_page()
        errors = watch_console(page)
        await page.goto(f"{rig.base_url}/docs")
        await page.get_by_text("/admin/calls").first.wait_for()
        assert errors == [], errors
