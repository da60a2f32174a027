"""Strict mode: the strictest reading of the API reference, which the product's calls must survive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from kayako_mock_support import Served

from kayako_call_assistant.kayako_mock.app import create_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background


@pytest.fixture
async def strict() -> AsyncIterator[Served]:
    async with (
        serve_in_background(create_app(MockConfig(strict=True))) as url,
        httpx.AsyncClient(timeout=10) as http,
    ):
        yield Served(url, http)


REQUESTER: dict[str, int] = {}


def _case_body(**extra: Any) -> dict[str, Any]:
    body = {"subject": "Printer", "contents": "It jams.", "channel": "MAIL", **extra}
    return {"requester_id": REQUESTER["id"], **body}


async def _requester(served: Served, agent: dict[str, str]) -> None:
    users = (await served.http.get(f"{served.api}/users", headers=agent)).json()["data"]
    REQUESTER["id"] = int(users[0]["id"])


async def _mail_channel(served: Served, agent: dict[str, str]) -> int:
    channels = (await served.http.get(f"{served.api}/cases/channels", headers=agent)).json()["data"]
    return int(next(c["id"] for c in channels if c["type"] == "MAIL"))


async def test_strict_mock_requires_channel_id_on_non_note_cases(strict: Served) -> None:
    agent = await strict.session()
    await _requester(strict, agent)
    missing = await strict.http.post(f"{strict.api}/cases", json=_case_body(), headers=agent)
    assert missing.status_code == 400
    error = missing.json()["errors"][0]
    assert (error["code"], error["parameter"]) == ("FIELD_REQUIRED", "channel_id")

    note_channel = next(
        c["id"]
        for c in (await strict.http.get(f"{strict.api}/cases/channels", headers=agent)).json()["data"]
        if c["type"] == "NOTE"
    )
    wrong_type = await strict.http.post(
        f"{strict.api}/cases", json=_case_body(channel_id=note_channel), headers=agent
    )
    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"][0]["code"] == "FIELD_INVALID"

    mail = await _mail_channel(strict, agent)
    created = await strict.http.post(
        f"{strict.api}/cases", json=_case_body(channel_id=str(mail), legacy_id="kca-abc"), headers=agent
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["legacy_id"] == "kca-abc"

    note = await strict.http.post(
        f"{strict.api}/cases", json=_case_body(channel="NOTE", subject="Internal"), headers=agent
    )
    assert note.status_code == 201, note.text


async def test_lenient_mock_still_accepts_cases_without_channel_id(
    served: Served, agent: dict[str, str]
) -> None:
    await _requester(served, agent)
    created = await served.http.post(f"{served.api}/cases", json=_case_body(), headers=agent)
    assert created.status_code == 201, created.text


async def test_strict_mock_validates_identities(strict: Served) -> None:
    agent = await strict.session()
    roles = (await strict.http.get(f"{strict.api}/roles", headers=agent)).json()["data"]
    customer = next(r["id"] for r in roles if r["type"] == "CUSTOMER")
    for body, parameter in (
        ({"phone": "anonymous"}, "phone"),
        ({"phone": "4155550104"}, "phone"),  # not E.164: the lenient mock would guess +1
        ({"email": "someone@localhost"}, "email"),
    ):
        answer = await strict.http.post(
            f"{strict.api}/users", json={"full_name": "X", "role_id": customer, **body}, headers=agent
        )
        assert answer.status_code == 400, body
        error = answer.json()["errors"][0]
        assert (error["code"], error["parameter"]) == ("FIELD_INVALID", parameter)
    good = await strict.http.post(
        f"{strict.api}/users",
        json={"full_name": "Y", "role_id": customer, "phone": "+14155550199", "email": "y@example.org"},
        headers=agent,
    )
    assert good.status_code == 201, good.text
    bad_number = await strict.http.post(
        f"{strict.api}/identities/phones",
        json={"user_id": good.json()["data"]["id"], "number": "restricted"},
        headers=agent,
    )
    assert bad_number.status_code == 400
    assert bad_number.json()["errors"][0]["parameter"] == "number"


async def test_strict_mock_ignores_the_tag_filter_but_honours_legacy_ids(strict: Served) -> None:
    agent = await strict.session()
    await _requester(strict, agent)
    mail = await _mail_channel(strict, agent)
    for marker in ("one", "two"):
        created = await strict.http.post(
            f"{strict.api}/cases",
            json=_case_body(channel_id=mail, tags=f"tag-{marker}", legacy_id=f"legacy-{marker}"),
            headers=agent,
        )
        assert created.status_code == 201
    everything = (await strict.http.get(f"{strict.api}/cases", headers=agent)).json()["total_count"]
    by_tag = await strict.http.get(f"{strict.api}/cases", params={"tags": "tag-one"}, headers=agent)
    assert by_tag.json()["total_count"] == everything  # ignored, as a real instance may
    by_legacy = await strict.http.get(
        f"{strict.api}/cases", params={"legacy_ids": "legacy-two"}, headers=agent
    )
    assert [c["legacy_id"] for c in by_legacy.json()["data"]] == ["legacy-two"]


def test_kca_kayako_mock_has_a_strict_switch() -> None:
    from typer.testing import CliRunner

    from kayako_call_assistant.cli.main import app

    result = CliRunner().invoke(app, ["kayako-mock", "--help"])
    assert result.exit_code == 0 and "--strict" in result.output
