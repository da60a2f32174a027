"""Cases, users, identities, posts, pagination, include/flat and validation, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

from kayako_mock_support import Served

JANE_EMAIL = "jane.doe@example.com"


async def _jane(served: Served, agent: dict[str, str]) -> dict[str, Any]:
    found = await served.http.get(
        f"{served.api}/identities/emails", params={"email": JANE_EMAIL, "include": "user"}, headers=agent
    )
    user: dict[str, Any] = found.json()["data"][0]["user"]
    return user


async def test_kayako_mock_seed_has_configuration_people_and_a_case(
    served: Served, agent: dict[str, str]
) -> None:
    statuses = (await served.http.get(f"{served.api}/cases/statuses", headers=agent)).json()["data"]
    assert [(s["id"], s["label"], s["type"]) for s in statuses][:2] == [
        (1, "New", "NEW"),
        (2, "Open", "OPEN"),
    ]
    priorities = (await served.http.get(f"{served.api}/cases/priorities", headers=agent)).json()["data"]
    assert [(p["label"], p["level"]) for p in priorities] == [
        ("Low", 1),
        ("Normal", 2),
        ("High", 3),
        ("Urgent", 4),
    ]
    types = (await served.http.get(f"{served.api}/cases/types", headers=agent)).json()["data"]
    assert [t["label"] for t in types] == ["Question", "Task", "Problem", "Incident"]
    channels = (await served.http.get(f"{served.api}/cases/channels", headers=agent)).json()["data"]
    assert {"MAIL", "NOTE"} <= {c["type"] for c in channels}
    assert all(c["uuid"] for c in channels)
    jane = await _jane(served, agent)
    assert jane["full_name"] == "Jane Doe"
    cases = (
        await served.http.get(
            f"{served.api}/users/{jane['id']}/cases", params={"include": "case_status"}, headers=agent
        )
    ).json()
    assert [(c["subject"], c["status"]["label"]) for c in cases["data"]] == [
        ("Cannot sync my calendar", "Open")
    ]
    assert cases["data"][0]["id"] >= 80000100000


async def test_kayako_mock_pagination_links_and_cap(served: Served) -> None:
    first = await served.http.get(f"{served.api}/articles.json")
    body = first.json()
    assert body["offset"] == 0
    assert body["limit"] == 10
    assert len(body["data"]) == 10
    assert body["total_count"] >= 100
    assert "previous_url" not in body
    assert body["next_url"].startswith(served.api + "/articles?")
    assert first.headers["Link"] == f'<{body["next_url"]}>; rel="next"'
    second = (await served.http.get(body["next_url"])).json()
    assert second["offset"] == 10
    assert {a["id"] for a in second["data"]}.isdisjoint({a["id"] for a in body["data"]})
    assert "previous_url" in second
    capped = (await served.http.get(f"{served.api}/articles", params={"limit": 1000})).json()
    assert capped["limit"] == 200
    assert len(capped["data"]) == capped["total_count"]
    assert "next_url" not in capped
    bad = await served.http.get(f"{served.api}/articles", params={"offset": "x"})
    assert bad.status_code == 400


async def test_kayako_mock_include_and_flat_sideloading(served: Served) -> None:
    collapsed = (await served.http.get(f"{served.api}/articles", params={"limit": 1})).json()["data"][0]
    assert collapsed["titles"] == [{"id": collapsed["titles"][0]["id"], "resource_type": "locale_field"}]
    field = (await served.http.get(f"{served.api}/locale/fields/{collapsed['titles'][0]['id']}")).json()[
        "data"
    ]
    assert field["locale"] == "en-us"
    assert field["translation"]

    expanded = (
        await served.http.get(f"{served.api}/articles", params={"limit": 1, "include": "locale_field"})
    ).json()
    assert expanded["data"][0]["titles"][0]["translation"] == field["translation"]

    flat = await served.http.get(
        f"{served.api}/articles", params={"limit": 1, "include": "*"}, headers={"X-Options": "flat"}
    )
    body = flat.json()
    ref = body["data"][0]["titles"][0]
    assert ref == {"id": ref["id"], "resource_type": "locale_field"}
    assert body["resources"]["locale_field"][str(ref["id"])]["translation"] == field["translation"]
    assert str(body["data"][0]["section"]["id"]) in body["resources"]["section"]


async def test_kayako_mock_create_case_accepts_kayako_shapes(served: Served, agent: dict[str, str]) -> None:
    jane = await _jane(served, agent)
    created = await served.http.post(
        f"{served.api}/cases",
        params={"fields": "+tags", "include": "user"},
        json={
            "subject": "Printer is on fire",
            "contents": "<p>Flames everywhere.</p>",
            "channel": "MAIL",
            "requester_id": str(jane["id"]),
            "priority_id": "3",
            "type_id": 3,
            "tags": "phone,urgent",
            "channel_options": json.dumps({"html": True}),
        },
        headers=agent,
    )
    assert created.status_code == 201, created.text
    case = created.json()["data"]
    assert [t["name"] for t in case["tags"]] == ["phone", "urgent"]
    assert case["requester"]["full_name"] == "Jane Doe"
    assert case["priority"] == {"id": 3, "resource_type": "case_priority"}
    assert case["source_channel"]["resource_type"] == "channel"
    posts = (await served.http.get(f"{served.api}/cases/{case['id']}/posts", headers=agent)).json()["data"]
    assert [p["contents"] for p in posts] == ["Flames everywhere."]

    by_tag = (await served.http.get(f"{served.api}/cases", params={"tags": "urgent"}, headers=agent)).json()
    assert [c["id"] for c in by_tag["data"]] == [case["id"]]
    assert "tags" not in by_tag["data"][0]
    by_phone = await served.http.get(
        f"{served.api}/cases",
        params={"identity_type": "PHONE", "identity_value": "+1 415 555 0100", "status": "NEW,OPEN"},
        headers=agent,
    )
    assert by_phone.json()["data"][0]["id"] == case["id"]
    assert by_phone.json()["total_count"] == 2


async def test_kayako_mock_case_validation_never_writes(served: Served, agent: dict[str, str]) -> None:
    before = (await served.http.get(f"{served.api}/cases", headers=agent)).json()["total_count"]
    missing = await served.http.post(f"{served.api}/cases", json={"subject": "only a subject"}, headers=agent)
    assert missing.status_code == 400
    errors = missing.json()["errors"]
    assert {(e["code"], e["parameter"]) for e in errors} == {
        ("FIELD_REQUIRED", "contents"),
        ("FIELD_REQUIRED", "channel"),
        ("FIELD_REQUIRED", "requester_id"),
    }
    unknown = await served.http.post(
        f"{served.api}/cases",
        json={"subject": "s", "contents": "c", "channel": "MAIL", "requester_id": 12345, "status_id": 99},
        headers=agent,
    )
    assert {(e["code"], e["parameter"]) for e in unknown.json()["errors"]} == {
        ("FIELD_INVALID", "requester_id"),
        ("FIELD_INVALID", "status_id"),
    }
    after = (await served.http.get(f"{served.api}/cases", headers=agent)).json()["total_count"]
    assert after == before


async def test_kayako_mock_reply_note_posts_and_cursor(served: Served, agent: dict[str, str]) -> None:
    jane = await _jane(served, agent)
    case = (await served.http.get(f"{served.api}/users/{jane['id']}/cases", headers=agent)).json()["data"][0]
    url = f"{served.api}/cases/{case['id']}"
    reply = await served.http.post(
        f"{url}/reply",
        json={"contents": "We reset your sync token.", "client_id": "abc", "status_id": 3},
        headers=agent,
    )
    assert reply.status_code == 201
    assert reply.json()["resource"] == "case_reply"
    post_ref = reply.json()["data"]["posts"][0]
    note = await served.http.post(
        f"{url}/reply",
        json={"contents": "<p>Caller was polite.</p>", "channel": "NOTE", "channel_options": {"html": True}},
        headers=agent,
    )
    assert note.status_code == 201
    notes = (await served.http.get(f"{url}/notes", headers=agent)).json()["data"]
    assert [n["body_text"] for n in notes] == ["Caller was polite."]
    updated = (await served.http.get(url, headers=agent, params={"include": "case_status"})).json()["data"]
    assert updated["status"]["label"] == "Pending"

    posts = (await served.http.get(f"{url}/posts", headers=agent, params={"include": "note"})).json()
    assert posts["total_count"] == 4
    newest = posts["data"][0]
    assert newest["original"]["resource_type"] == "note"
    assert newest["original"]["body_html"] == "<p>Caller was polite.</p>"
    assert posts["data"][1]["id"] == post_ref["id"]
    assert posts["data"][1]["client_id"] == "abc"

    page = (await served.http.get(f"{url}/posts", headers=agent, params={"limit": 2})).json()
    assert "after_id" not in page["next_url"]
    cursor = (
        await served.http.get(
            f"{url}/posts", headers=agent, params={"limit": 2, "after_id": page["data"][-1]["id"]}
        )
    ).json()
    assert [p["id"] for p in cursor["data"]] == [p["id"] for p in posts["data"][2:4]]
    assert "next_url" not in cursor
    assert "before_id" in cursor["previous_url"]
    back = (await served.http.get(cursor["previous_url"], headers=agent)).json()
    assert [p["id"] for p in back["data"]] == [p["id"] for p in page["data"]]


async def test_kayako_mock_case_tags_endpoints(served: Served, agent: dict[str, str]) -> None:
    cases = (await served.http.get(f"{served.api}/cases", headers=agent)).json()["data"]
    url = f"{served.api}/cases/{cases[0]['id']}/tags"
    await served.http.put(url, json={"tags": "a,b"}, headers=agent)
    added = await served.http.post(url, json={"tags": ["c", "a"]}, headers=agent)
    assert [t["name"] for t in added.json()["data"]] == ["a", "b", "c"]
    removed = await served.http.request("DELETE", url, json={"tags": "b"}, headers=agent)
    assert [t["name"] for t in removed.json()["data"]] == ["a", "c"]
    shown = (await served.http.get(url, headers=agent)).json()
    assert shown["resource"] == "tag"
    assert [t["name"] for t in shown["data"]] == ["a", "c"]


async def test_kayako_mock_users_identities_and_duplicates(served: Served, agent: dict[str, str]) -> None:
    created = await served.http.post(
        f"{served.api}/users",
        json={
            "full_name": "Sam Caller",
            "role_id": "4",
            "email": "Sam@Example.com",
            "phone": "(415) 555-0199",
        },
        params={"include": "identity_email,identity_phone,role"},
        headers=agent,
    )
    assert created.status_code == 201, created.text
    user = created.json()["data"]
    assert user["emails"][0]["email"] == "sam@example.com"
    assert user["emails"][0]["is_primary"] is True
    assert user["phones"][0]["number"] == "+14155550199"
    assert user["role"]["type"] == "CUSTOMER"

    duplicate = await served.http.post(
        f"{served.api}/users",
        json={"full_name": "Other Sam", "role_id": 4, "email": "sam@example.com"},
        headers=agent,
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"][0] == {
        "code": "FIELD_DUPLICATE",
        "message": duplicate.json()["errors"][0]["message"],
        "parameter": "email",
        "more_info": "https://developer.kayako.com/api/v1/reference/errors/FIELD_DUPLICATE",
    }
    missing = await served.http.post(f"{served.api}/users", json={}, headers=agent)
    assert {e["parameter"] for e in missing.json()["errors"]} == {"full_name", "role_id"}

    phones = (
        await served.http.get(
            f"{served.api}/identities/phones", params={"number": "+1 415 555 0199"}, headers=agent
        )
    ).json()
    assert [p["user"]["id"] for p in phones["data"]] == [user["id"]]
    added = await served.http.post(
        f"{served.api}/identities/emails",
        json={"user_id": user["id"], "email": "sam.work@example.com"},
        headers=agent,
    )
    assert added.status_code == 201
    assert added.json()["data"]["is_primary"] is False
    listed = (
        await served.http.get(
            f"{served.api}/identities/emails", params={"user_id": user["id"]}, headers=agent
        )
    ).json()
    assert sorted(e["email"] for e in listed["data"]) == ["sam.work@example.com", "sam@example.com"]
    deleted = await served.http.delete(
        f"{served.api}/identities/emails/{added.json()['data']['id']}", headers=agent
    )
    assert deleted.json() == {"status": 200}

    renamed = await served.http.put(
        f"{served.api}/users/{user['id']}", json={"full_name": "Samuel Caller"}, headers=agent
    )
    assert renamed.json()["data"]["full_name"] == "Samuel Caller"
    customers = (
        await served.http.get(f"{served.api}/users", params={"role": "CUSTOMER", "limit": 50}, headers=agent)
    ).json()
    assert customers["data"][0]["id"] == user["id"]  # ordered by id, newest first
    assert all(u["role"]["id"] == 4 for u in customers["data"])


async def test_kayako_mock_search_finds_users_cases_and_articles(
    served: Served, agent: dict[str, str]
) -> None:
    by_phone = (
        await served.http.get(
            f"{served.api}/search", params={"query": "+14155550100", "resources": "USERS"}, headers=agent
        )
    ).json()
    assert by_phone["resource"] == "result"
    assert [(r["resource"], r["title"]) for r in by_phone["data"]] == [("user", "Jane Doe")]
    assert by_phone["data"][0]["data"]["id"] == by_phone["data"][0]["id"]
    by_email = (
        await served.http.get(f"{served.api}/search", params={"query": JANE_EMAIL}, headers=agent)
    ).json()
    assert by_email["data"][0]["title"] == "Jane Doe"
    cases = (
        await served.http.get(
            f"{served.api}/search", params={"query": "calendar sync", "resources": "CASES"}, headers=agent
        )
    ).json()
    assert cases["data"][0]["title"] == "Cannot sync my calendar"
    articles = (
        await served.http.get(
            f"{served.api}/search", params={"query": "reset password", "resources": "ARTICLES"}, headers=agent
        )
    ).json()
    assert articles["data"][0]["title"] == "How do I reset my password?"
    assert "<em>" in articles["data"][0]["snippet"]
    bad = await served.http.get(
        f"{served.api}/search", params={"query": "x", "resources": "TEAMS"}, headers=agent
    )
    assert bad.status_code == 400
