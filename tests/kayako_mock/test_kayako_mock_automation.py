"""Outgoing automation: a tiny receiver on a real port gets the mock's trigger calls."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kayako_mock_support import Served

from kayako_call_assistant.servers import serve_in_background


def _receiver(received: list[tuple[dict[str, Any], str]], status: int = 200) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        received.append((await request.json(), request.headers.get("authorization", "")))
        return JSONResponse({"ok": status < 300}, status_code=status)

    return app


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the automation call did not arrive")


async def test_kayako_mock_automation_reports_status_and_article_changes(
    served: Served, agent: dict[str, str]
) -> None:
    received: list[tuple[dict[str, Any], str]] = []
    async with serve_in_background(_receiver(received)) as hook_url:
        set_up = await served.http.put(
            f"{served.url}/_mock/automation",
            json={"url": f"{hook_url}/hook", "auth_username": "kayako", "auth_password": "hook-secret"},
        )
        assert set_up.status_code == 200
        case = (await served.http.get(f"{served.api}/cases", headers=agent)).json()["data"][0]
        await served.http.put(f"{served.api}/cases/{case['id']}", json={"status_id": 4}, headers=agent)
        await _until(lambda: len(received) == 1)
        event, authorization = received[0]
        assert event["event"] == "case.status_changed"
        assert event["case_id"] == case["id"]
        assert event["status"] == "Completed"
        assert event["id"]
        assert authorization == "Basic " + base64.b64encode(b"kayako:hook-secret").decode()

        # A change that keeps the status sends nothing.
        await served.http.put(f"{served.api}/cases/{case['id']}", json={"subject": "Renamed"}, headers=agent)
        article = (await served.http.get(f"{served.api}/articles", params={"limit": 1})).json()["data"][0]
        updated = await served.http.put(
            f"{served.api}/articles/{article['id']}",
            json={"titles": [{"locale": "en-us", "translation": "New title"}]},
            headers=agent,
        )
        assert updated.status_code == 200
        await _until(lambda: len(received) == 2)
        assert received[1][0]["event"] == "article.updated"
        assert received[1][0]["article_id"] == article["id"]
        assert received[1][0]["id"] != event["id"]


async def test_kayako_mock_failing_receiver_never_fails_the_request(
    served: Served, agent: dict[str, str]
) -> None:
    received: list[tuple[dict[str, Any], str]] = []
    async with serve_in_background(_receiver(received, status=500)) as hook_url:
        await served.http.put(f"{served.url}/_mock/automation", json={"url": f"{hook_url}/hook"})
        section = (await served.http.get(f"{served.api}/sections", params={"limit": 1})).json()["data"][0]
        created = await served.http.post(
            f"{served.api}/articles",
            json={
                "titles": "Fresh article",
                "contents": "<p>Body</p>",
                "section_id": section["id"],
                "status": "PUBLISHED",
            },
            headers=agent,
        )
        assert created.status_code == 201
        await _until(lambda: len(received) == 1)
        assert received[0][0]["event"] == "article.created"
    for _ in range(100):
        stats = (await served.http.get(f"{served.url}/_mock/stats")).json()
        if stats["automation"]["failed"] == 1:
            break
        await asyncio.sleep(0.02)
    assert stats["automation"] == {"sent": 0, "failed": 1}
