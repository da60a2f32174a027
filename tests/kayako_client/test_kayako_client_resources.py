"""Users, identities, cases, posts, search and the help center through the client, against the mock."""

from __future__ import annotations

from kayako_client_support import JANE_EMAIL, JANE_PHONE

from kayako_call_assistant.domain import CaseDraft, ContactDetails
from kayako_call_assistant.kayako import KayakoApi, KayakoHelpDesk, KayakoNotFound
from kayako_call_assistant.kayako.pagination import paginate
from kayako_call_assistant.kayako.resources import ref_id
from kayako_call_assistant.ports import HelpDesk
from kayako_call_assistant.tickets.requester import find_or_create_requester


async def test_kayako_helpdesk_implements_the_port(api: KayakoApi) -> None:
    assert isinstance(KayakoHelpDesk(api), HelpDesk)


async def test_kayako_finds_jane_by_email_and_by_phone(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    by_email = await helpdesk.find_person(email="Jane.Doe@Example.com")
    by_phone = await helpdesk.find_person(phone=JANE_PHONE)
    assert by_email is not None
    assert by_phone is not None
    assert by_email.id == by_phone.id
    assert by_email.full_name == "Jane Doe"
    assert JANE_EMAIL in by_email.emails
    assert await helpdesk.find_person(email="nobody-here@example.com") is None
    assert await helpdesk.find_person(phone="+14155559999") is None


async def test_kayako_open_cases_exclude_completed_and_closed(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    jane = await helpdesk.find_person(email=JANE_EMAIL)
    assert jane is not None
    open_cases = await helpdesk.open_cases(jane.id)
    assert open_cases
    assert all(c.status not in {"Completed", "Closed"} for c in open_cases)

    await api.update_case(open_cases[0].id, status="Closed")
    still_open = await helpdesk.open_cases(jane.id)
    assert open_cases[0].id not in [c.id for c in still_open]
    closed = await helpdesk.get_case(open_cases[0].id)
    assert closed is not None
    assert closed.status == "Closed"
    assert closed.requester_id == jane.id  # whose case it is: status is told only to its requester
    assert all(c.requester_id == jane.id for c in open_cases)


async def test_kayako_case_for_a_found_requester(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api, case_channel="NOTE")
    contact = ContactDetails(name="Jane Doe", email=JANE_EMAIL)
    requester = await find_or_create_requester(helpdesk, contact)
    draft = CaseDraft(
        "call-found-1", "Cannot log in", "<p>Transcript</p>", contact, ["phone"], "High", "Question"
    )
    case = await helpdesk.create_case(draft, requester.id)
    assert case.subject == "Cannot log in"
    assert case.status
    stored = await api.get_case(case.id)
    assert {"phone", "kca-"} <= {t if not t.startswith("kca-") else "kca-" for t in stored.tag_names}
    assert stored.priority is not None
    assert (await api.status_of(stored)) is not None
    assert case.id in [c.id for c in await helpdesk.open_cases(requester.id)]


async def test_kayako_case_for_a_created_requester_with_both_identities(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    contact = ContactDetails(name="Raj Patel", email="raj.patel@example.com", phone="+442071838799")
    requester = await find_or_create_requester(helpdesk, contact)
    assert requester.full_name == "Raj Patel"
    assert "raj.patel@example.com" in requester.emails
    assert any(p.endswith("2071838799") for p in requester.phones)
    again = await find_or_create_requester(helpdesk, contact)
    assert again.id == requester.id

    phones = await api.phone_identities(requester.id)
    emails = await api.email_identities(requester.id)
    assert [p.number for p in phones] == ["+442071838799"]
    assert [e.email for e in emails] == ["raj.patel@example.com"]

    draft = CaseDraft("call-new-1", "Refund", "<p>Wants a refund</p>", contact)
    case = await helpdesk.create_case(draft, requester.id)
    user_case_ids = [c.id for c in await api.user_cases(requester.id)]
    assert user_case_ids == [case.id]


async def test_kayako_phone_only_requester(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    person = await helpdesk.create_person(ContactDetails(phone="+14155550142"))
    assert person.phones
    found = await helpdesk.find_person(phone="+1 415 555 0142")
    assert found is not None
    assert found.id == person.id


async def test_kayako_notes_and_replies_appear_in_posts(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    jane = await helpdesk.find_person(email=JANE_EMAIL)
    assert jane is not None
    case_id = (await helpdesk.open_cases(jane.id))[0].id
    await helpdesk.add_note(case_id, "<p>Internal: caller verified</p>")
    post_id = await api.reply(case_id, "<p>We are on it.</p>")
    assert post_id is not None
    posts = await api.posts(case_id)
    contents = [p.contents for p in posts]
    assert any("caller verified" in c for c in contents)
    assert any("We are on it." in c for c in contents)
    assert posts[0].id >= posts[-1].id  # newest first


async def test_kayako_missing_case_is_none_and_not_found(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    assert await helpdesk.get_case(987654321) is None
    try:
        await api.get_case(987654321)
    except KayakoNotFound as error:
        assert error.status == 404
    else:
        raise AssertionError("a missing case must raise KayakoNotFound")


async def test_kayako_agent_search_finds_users_and_cases(api: KayakoApi) -> None:
    users = await api.search("Jane Doe", resources="USERS")
    assert any("Jane" in r.title for r in users)
    me = await api.me()
    assert me.id


async def test_kayako_lookups_read_ids_from_the_instance(api: KayakoApi) -> None:
    statuses = {s.label: s for s in await api.statuses()}
    assert await api.status_id("open") == statuses["Open"].id
    priorities = await api.priorities()
    assert await api.priority_id("High") in [p.id for p in priorities]
    assert await api.type_id("Question") in [t.id for t in await api.case_types()]
    assert await api.role_id("CUSTOMER")
    assert {"MAIL", "NOTE"} <= {c.type for c in await api.channels()}

    jane = await api.find_user_by_email(JANE_EMAIL)
    assert jane is not None
    case = (await api.open_cases(jane.id))[0]
    updated = await api.update_case(case.id, priority="Urgent", status="Pending")
    stored = await api.get_case(case.id)
    assert ref_id(updated.priority) == ref_id(stored.priority) == await api.priority_id("Urgent")
    status = await api.status_of(stored)
    assert status is not None
    assert status.label == "Pending"
    try:
        await api.priority_id("Apocalyptic")
    except KayakoNotFound as error:
        assert "Apocalyptic" in str(error)
    else:
        raise AssertionError("an unknown label must raise")


async def test_kayako_help_articles_resolved_for_the_locale(api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    articles = [a async for a in helpdesk.help_articles()]
    assert len(articles) >= 100
    assert len({a.id for a in articles}) == len(articles)
    assert all(a.title and a.body_html for a in articles)
    assert all(a.locale == "en-us" for a in articles)
    assert any("password" in a.title.lower() for a in articles)
    assert any(a.section for a in articles)
    assert any(a.category for a in articles)


async def test_kayako_pagination_walks_every_page(api: KayakoApi) -> None:
    small = [a["id"] async for a in paginate(api.client, "articles", page_size=7)]
    large = [a["id"] async for a in paginate(api.client, "articles", page_size=100)]
    assert len(small) >= 100
    assert sorted(small) == sorted(large)
    limited = [a["id"] async for a in paginate(api.client, "articles.json", page_size=7, max_items=10)]
    assert limited == small[:10]


async def test_kayako_helpcenter_search_finds_the_password_article(api: KayakoApi) -> None:
    hits = await api.helpcenter_search("reset my password")
    assert hits
    assert "password" in hits[0].title.lower()
    assert hits[0].article_id is not None
    article = await api.article(hits[0].article_id)
    assert "password" in (await api.text(article.titles)).lower()
