"""Help center: seeded articles, sections, categories, help-center search, article writes, persistence."""

from __future__ import annotations

from pathlib import Path

import httpx
from kayako_mock_support import Served

from kayako_call_assistant.kayako_mock.app import create_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background


async def test_kayako_mock_seeded_help_center_is_organised(served: Served) -> None:
    articles = (await served.http.get(f"{served.api}/articles", params={"limit": 200})).json()
    assert articles["total_count"] >= 100
    sections = (
        await served.http.get(f"{served.api}/sections", params={"limit": 200, "include": "locale_field"})
    ).json()
    categories = (
        await served.http.get(f"{served.api}/categories", params={"limit": 200, "include": "locale_field"})
    ).json()
    section_ids = {s["id"] for s in sections["data"]}
    category_ids = {c["id"] for c in categories["data"]}
    assert {a["section"]["id"] for a in articles["data"]} <= section_ids
    assert {s["category"]["id"] for s in sections["data"]} <= category_ids
    assert len(section_ids) >= 5
    titles = {s["titles"][0]["translation"]: s for s in sections["data"]}
    assert {"Signing in", "Gmail", "Facebook"} <= set(titles)
    assert sum(s["total_articles"] for s in sections["data"]) == articles["total_count"]
    account = titles["Signing in"]
    in_account = (
        await served.http.get(
            f"{served.api}/articles", params={"section_id": account["id"], "include": "locale_field"}
        )
    ).json()
    assert in_account["total_count"] == 3
    reset = next(
        a for a in in_account["data"] if a["titles"][0]["translation"] == "How do I reset my password?"
    )
    assert "<h2>" in reset["contents"][0]["translation"]
    assert "<ol>" in reset["contents"][0]["translation"]
    assert reset["status"] == "PUBLISHED"
    only_gmail = (
        await served.http.get(
            f"{served.api}/sections", params={"category_ids": titles["Gmail"]["category"]["id"]}
        )
    ).json()
    assert titles["Gmail"]["id"] in {s["id"] for s in only_gmail["data"]}
    assert len(only_gmail["data"]) < len(sections["data"])


async def test_kayako_mock_helpcenter_search(served: Served) -> None:
    found = await served.http.get(
        f"{served.api}/helpcenter/search",
        params={"query": "delete my Facebook account", "in": "ARTICLES", "locale": "en-us"},
    )
    body = found.json()
    assert body["resource"] == "search"
    best = body["data"][0]
    assert best["title"] == "How do I delete my Facebook account?"
    assert best["original"]["resource_type"] == "article"
    assert best["link"].startswith(served.url)
    assert set(best) >= {"uuid", "title", "contents", "link", "original"}
    short = await served.http.get(f"{served.api}/helpcenter/search", params={"query": "ab"})
    assert short.status_code == 400
    assert short.json()["errors"][0]["parameter"] == "query"


async def test_kayako_mock_article_writes_and_drafts(served: Served, agent: dict[str, str]) -> None:
    section = (await served.http.get(f"{served.api}/sections", params={"limit": 1})).json()["data"][0]
    missing = await served.http.post(f"{served.api}/articles", json={"titles": "x"}, headers=agent)
    assert {e["parameter"] for e in missing.json()["errors"]} == {"contents", "section_id"}
    created = await served.http.post(
        f"{served.api}/articles",
        json={
            "titles": [{"locale": "en-us", "translation": "Draft about webhooks"}],
            "contents": [{"locale": "en-us", "translation": "<p>Soon.</p>"}],
            "section_id": str(section["id"]),
        },
        headers=agent,
        params={"include": "locale_field"},
    )
    assert created.status_code == 201
    article = created.json()["data"]
    assert article["status"] == "DRAFT"
    assert article["titles"][0]["translation"] == "Draft about webhooks"
    # Anonymous readers see published articles only.
    assert (await served.http.get(f"{served.api}/articles/{article['id']}")).status_code == 404
    assert (await served.http.get(f"{served.api}/articles/{article['id']}", headers=agent)).status_code == 200
    published = await served.http.put(
        f"{served.api}/articles/{article['id']}", json={"status": "PUBLISHED"}, headers=agent
    )
    assert published.json()["data"]["published_at"]
    found = (await served.http.get(f"{served.api}/helpcenter/search", params={"query": "webhooks"})).json()
    assert [r["original"]["id"] for r in found["data"]] == [article["id"]]
    assert (
        await served.http.delete(f"{served.api}/articles/{article['id']}", headers=agent)
    ).status_code == 200
    assert (await served.http.get(f"{served.api}/articles/{article['id']}", headers=agent)).status_code == 404
    locales = (await served.http.get(f"{served.api}/locales")).json()["data"]
    assert locales[0]["locale"] == "en-us"


async def test_kayako_mock_file_database_survives_a_restart(tmp_path: Path) -> None:
    config = MockConfig(database=str(tmp_path / "mock.sqlite3"), help_center="stackfaq")
    async with serve_in_background(create_app(config)) as url, httpx.AsyncClient() as http:
        created = await http.post(
            f"{url}/api/v1/users", json={"full_name": "Kept", "role_id": 4, "email": "kept@example.com"},
            auth=("agent@example.com", "mock-password"),
        )  # fmt: skip
        assert created.status_code == 201
    async with serve_in_background(create_app(config)) as url, httpx.AsyncClient() as http:
        found = await http.get(
            f"{url}/api/v1/identities/emails", params={"email": "kept@example.com"},
            auth=("agent@example.com", "mock-password"),
        )  # fmt: skip
        assert found.json()["total_count"] == 1
        articles = (await http.get(f"{url}/api/v1/articles")).json()
        assert articles["total_count"] == 46 + 125  # seeded once, not again on restart


async def test_kayako_mock_without_seed_is_empty() -> None:
    async with serve_in_background(create_app(MockConfig(seed=False))) as url, httpx.AsyncClient() as http:
        articles = await http.get(f"{url}/api/v1/articles")
        assert articles.json()["total_count"] == 0
        login = await http.get(f"{url}/api/v1/me", auth=("agent@example.com", "mock-password"))
        assert login.status_code == 401


async def test_kayako_mock_default_help_center_is_the_acme_home_demo() -> None:
    async with serve_in_background(create_app(MockConfig())) as url, httpx.AsyncClient() as http:
        articles = (await http.get(f"{url}/api/v1/articles", params={"limit": 200})).json()
        categories = (await http.get(f"{url}/api/v1/categories", params={"include": "locale_field"})).json()
        found = await http.get(
            f"{url}/api/v1/helpcenter/search",
            params={"query": "track my order", "in": "ARTICLES", "locale": "en-us"},
        )
    assert articles["total_count"] == 46
    assert len(categories["data"]) == 6
    assert found.json()["data"][0]["title"] == "How do I track my order?"
