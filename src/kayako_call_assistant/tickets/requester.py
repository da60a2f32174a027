"""The case's requester: the Kayako user the caller already is, or a new one with every identity given."""

from __future__ import annotations

import re

import structlog

from ..domain import ContactDetails, Person
from ..ports import HelpDesk

log = structlog.get_logger(__name__)

# E.164: "+", a non-zero country digit, 8 to 15 digits in all. Separators people and carriers write
# ("+1 (415) 555-0104") are removed first; anything else ("anonymous", "restricted", "unavailable",
# "unknown", "266696687", "") is not a number Kayako will accept as a phone identity.
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_SEPARATORS = re.compile(r"[\s().\-]")


def e164_or_none(raw: str | None) -> str | None:
    """``raw`` as an E.164 number, or None when it is not one (a withheld or malformed caller ID).

    A caller ID that is not a number is no caller ID: filing it as a phone identity only gets the case
    refused (Kayako answers FIELD_INVALID), and reading it back to the caller makes no sense.
    """
    if raw is None:
        return None
    number = _SEPARATORS.sub("", raw.strip())
    return number if _E164.fullmatch(number) else None


def usable_contact(contact: ContactDetails) -> tuple[ContactDetails, list[str]]:
    """``contact`` without identities Kayako cannot accept, and a sentence per identity dropped."""
    notes: list[str] = []
    phone = contact.phone
    if phone and e164_or_none(phone) is None:
        notes.append(f"The phone number {phone!r} is not an E.164 number; filed without it.")
        phone = None
    elif phone:
        phone = e164_or_none(phone)
    email = (contact.email or "").strip() or None
    return ContactDetails(name=contact.name, email=email, phone=phone), notes


async def find_or_create_requester(
    helpdesk: HelpDesk, contact: ContactDetails, *, anonymous_email: str | None = None
) -> Person:
    """Find the caller by email, then by phone; else create them with both identities.

    A caller who left neither (no caller ID, silent before giving details) is filed under the customer with
    ``anonymous_email``: a case needs a requester, and only an identity lets a lost create be found again.
    A phone that is not E.164 is ignored (see ``e164_or_none``).
    """
    contact, dropped = usable_contact(contact)
    for note in dropped:
        log.warning("requester.identity_dropped", reason=note)
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
