"""The case's requester: the Kayako user the caller already is, or a new one with every identity given."""

from __future__ import annotations

import structlog

from ..domain import ContactDetails, Person
from ..ports import HelpDesk

log = structlog.get_logger(__name__)


async def find_or_create_requester(
    helpdesk: HelpDesk, contact: ContactDetails, *, anonymous_email: str | None = None
) -> Person:
    """Find the caller by email, then by phone; else create them with both identities.

    A caller who left neither (no caller ID, silent before giving details) is filed under the customer with
    ``anonymous_email``: a case needs a requester, and only an identity lets a lost create be found again.
    """
    if not contact.email and not contact.phone and anonymous_email:
        log.info("requester.anonymous", reason="no email or phone from the caller")
        contact = ContactDetails(name=contact.name or "Unknown caller", email=anonymous_email)
    if contact.email:
        person = await helpdesk.find_person(email=contact.email)
        if person is not None:
            log.info("requester.found", person_id=person.id, by="email")
            return person
    if contact.phone:
        person = await helpdesk.find_person(phone=contact.phone)
        if person is not None:
            log.info("requester.found", person_id=person.id, by="phone")
            return person
    person = await helpdesk.create_person(contact)
    log.info(
        "requester.created",
        person_id=person.id,
        with_email=bool(contact.email),
        with_phone=bool(contact.phone),
    )
    return person
