"""The sample help desk an empty mock starts with.

Help center: every StackFAQ thread (``data/stackfaq.json``, CC BY-SA 3.0, see ``data/README.md``) as one
published article, grouped into sections and categories by the product named in its title, plus a
"Your account" section of original articles. Configuration mirrors a new Kayako instance (statuses,
priorities, types, roles, channels); users and cases give a client something to find.
"""

from __future__ import annotations

import html
import json
import uuid
from importlib import resources
from typing import Any

import structlog

from .config import MockConfig
from .records import add_case, add_post, add_user, iso, locale_fields, slugify
from .store import Store

log = structlog.get_logger(__name__)

ROLES = [(1, "Administrator", "ADMIN"), (2, "Agent", "AGENT"), (3, "Collaborator", "COLLABORATOR"),
         (4, "Customer", "CUSTOMER"), (5, "Owner", "OWNER")]  # fmt: skip
STATUSES = [(1, "New", "NEW"), (2, "Open", "OPEN"), (3, "Pending", "PENDING"), (4, "Completed", "COMPLETED"),
            (5, "Closed", "CLOSED")]  # fmt: skip
PRIORITIES = [(1, "Low", 1), (2, "Normal", 2), (3, "High", 3), (4, "Urgent", 4)]
TYPES = [
    (1, "Question", "QUESTION"),
    (2, "Task", "TASK"),
    (3, "Problem", "PROBLEM"),
    (4, "Incident", "INCIDENT"),
]
CHANNELS = [(1, "MAIL"), (2, "NOTE"), (3, "MESSENGER"), (4, "HELPCENTER")]
ROLE_AGENT, ROLE_CUSTOMER = 2, 4
STATUS_NEW, STATUS_OPEN, STATUS_PENDING, STATUS_COMPLETED = 1, 2, 3, 4

# (section, category, title keywords); the first section whose keyword occurs in a title takes the thread.
SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("Gmail", "Email and calendar", ("gmail", "e-mail", "email", "mail")),
    ("Google Docs and Drive", "Documents and files", ("google doc", "docs", "drive", "spreadsheet")),
    ("Dropbox", "Documents and files", ("dropbox",)),
    ("Facebook", "Social networks", ("facebook",)),
    ("Twitter", "Social networks", ("twitter", "tweet")),
    ("YouTube and video", "Video", ("youtube", "vimeo", "video")),
    ("Trello", "Projects and code", ("trello",)),
    ("GitHub", "Projects and code", ("github", "commit")),
    ("Google search, Maps and Hangouts", "Search and maps", ("google", "hangouts", "maps")),
    ("Other web apps", "Other", ()),
]

ACCOUNT_SECTION, ACCOUNT_CATEGORY = "Your account", "Getting started"
ACCOUNT_ARTICLES: list[tuple[str, str]] = [
    (
        "How do I reset my password?",
        "<p>If you forgot your password or want a new one, you can reset it yourself in a minute.</p>"
        "<h2>Reset a forgotten password</h2><ol><li>Open the sign-in page and choose <b>Forgot password</b>."
        "</li><li>Enter the email address of your account and choose <b>Send reset link</b>.</li>"
        "<li>Open the email we send you (check your spam folder if it is not there within five minutes).</li>"
        "<li>Choose <b>Reset password</b>, type a new password twice and save it.</li></ol>"
        "<h2>If the link has expired</h2><p>Reset links work for 24 hours and only once. Request a new link "
        "and use the most recent email.</p><h2>Still locked out?</h2><p>After five wrong attempts your "
        "account is locked for 15 minutes. Wait, then try again, or contact support.</p>",
    ),
    (
        "How do I change the email address on my account?",
        "<p>You can change the email address you sign in with at any time.</p><h2>Change your email</h2>"
        "<ol><li>Sign in and open <b>Settings</b> → <b>Profile</b>.</li><li>Choose <b>Change email</b> and "
        "enter the new address.</li><li>Confirm with your current password.</li><li>Open the confirmation "
        "email sent to the new address and choose <b>Confirm</b>.</li></ol><p>Until you confirm, the old "
        "address keeps working. Invoices go to the new address from the next billing date.</p>",
    ),
    (
        "How do I turn on two-factor authentication?",
        "<p>Two-factor authentication asks for a code from your phone whenever you sign in on a new "
        "device.</p><h2>Turn it on</h2><ol><li>Open <b>Settings</b> → <b>Security</b>.</li><li>Choose "
        "<b>Enable two-factor authentication</b>.</li><li>Scan the QR code with an authenticator app.</li>"
        "<li>Enter the six-digit code the app shows and save your backup codes somewhere safe.</li></ol>"
        "<h2>Lost your phone?</h2><p>Sign in with one of your backup codes, then set up the new phone. "
        "Without backup codes, contact support to verify your identity.</p>",
    ),
    (
        "How do I update my billing details?",
        "<p>Account owners can change the card and the invoice address.</p><h2>Update your card</h2><ol>"
        "<li>Open <b>Settings</b> → <b>Billing</b>.</li><li>Choose <b>Payment method</b> → <b>Replace card"
        "</b>.</li><li>Enter the new card details and save.</li></ol><p>The next invoice is charged to the "
        "new card. If a payment failed, we retry it within 24 hours of the change.</p><h2>Change the invoice "
        "address or VAT number</h2><p>Edit them under <b>Billing</b> → <b>Invoice details</b>; they apply "
        "to future invoices.</p>",
    ),
    (
        "How do I cancel my subscription?",
        "<p>You can cancel whenever you like; you keep access until the end of the period you paid for.</p>"
        "<h2>Cancel</h2><ol><li>Open <b>Settings</b> → <b>Billing</b> → <b>Subscription</b>.</li><li>Choose "
        "<b>Cancel subscription</b> and tell us why (optional).</li><li>Confirm. You receive an email "
        "confirmation.</li></ol><p>Annual plans are refunded pro rata within 30 days of renewal. Your data "
        "is kept for 60 days after the subscription ends, so you can come back or export it.</p>",
    ),
    (
        "How do I export my data?",
        "<p>You can download everything in your account as a ZIP file of CSV and JSON files.</p><h2>Export"
        "</h2><ol><li>Open <b>Settings</b> → <b>Privacy</b> → <b>Export data</b>.</li><li>Choose what to "
        "include and select <b>Start export</b>.</li><li>When the export is ready we email you a download "
        "link; it works for seven days.</li></ol><p>Large accounts can take up to an hour.</p>",
    ),
    (
        "How do I invite a teammate?",
        "<p>Owners and admins can invite people to join the account.</p><h2>Send an invitation</h2><ol><li>"
        "Open <b>Settings</b> → <b>Team</b>.</li><li>Choose <b>Invite</b>, enter their email address and "
        "pick a role.</li><li>They get an email with a link that is valid for 7 days.</li></ol><p>Each "
        "invited person uses one seat of your plan once they accept.</p>",
    ),
    (
        "When can I contact support?",
        "<p>Our support team answers phone calls and email Monday to Friday, 8 am to 8 pm Eastern time, "
        "and Saturday 10 am to 4 pm.</p><h2>Fastest way to reach us</h2><p>Call the support line or open a "
        "request from the help center. Urgent outages are handled around the clock.</p><p>Have your account "
        "email ready: we use it to find your account.</p>",
    ),
]

CUSTOMERS: list[tuple[str, str, str]] = [
    ("Jane Doe", "jane.doe@example.com", "+14155550100"),
    ("John Smith", "john.smith@example.com", "+14155550101"),
    ("Maria Garcia", "maria.garcia@example.com", "+442071838750"),
    ("Wei Chen", "wei.chen@example.com", "+14155550103"),
]
# (customer index, subject, first message, status, priority, type, tags)
CASES: list[tuple[int, str, str, int, int, int, list[str]]] = [
    (0, "Cannot sync my calendar", "My calendar stopped syncing with my phone yesterday.", STATUS_OPEN, 2, 3,
     ["calendar", "sync"]),
    (1, "Invoice shows the wrong amount", "The March invoice charged me twice for one seat.", STATUS_PENDING,
     3, 1, ["billing"]),
    (2, "How do I export my data?", "I want a copy of everything before I cancel.", STATUS_COMPLETED, 1, 1,
     ["export"]),
    (3, "Password reset email never arrives", "I requested a reset link three times.", STATUS_NEW, 3, 3,
     ["login"]),
]  # fmt: skip


def load_stackfaq() -> list[dict[str, Any]]:
    raw = resources.files(__package__).joinpath("data/stackfaq.json").read_text(encoding="utf-8")
    threads: list[dict[str, Any]] = json.loads(raw)["root"]["qapair"]
    return threads


def section_of(title: str) -> str:
    lowered = title.lower()
    for name, _, keywords in SECTIONS:
        if any(k in lowered for k in keywords):
            return name
    return SECTIONS[-1][0]


def seed(store: Store, config: MockConfig) -> None:
    """Fill an empty store; one transaction, so a crash never leaves half a seed."""
    with store.transaction():
        _configuration(store)
        agent = _people(store, config)
        _help_center(store, agent)
    log.info("kayako_mock.seeded", articles=len(store.find("article")))


def _configuration(store: Store) -> None:
    now = iso()
    stamp = {"created_at": now, "updated_at": now}
    store.insert_many(
        "role",
        [
            {"id": i, "title": t, "type": k, "is_system": True, "agent_case_access": "ALL", **stamp}
            for i, t, k in ROLES
        ],
    )
    store.insert_many(
        "case_status",
        [
            {"id": i, "label": label, "type": kind, "sort_order": i, "is_sla_active": kind in {"NEW", "OPEN"},
             "is_deleted": False, **stamp}
            for i, label, kind in STATUSES
        ],
    )  # fmt: skip
    store.insert_many(
        "case_priority", [{"id": i, "label": lb, "level": lv, **stamp} for i, lb, lv in PRIORITIES]
    )
    store.insert_many("case_type", [{"id": i, "label": lb, "type": k, **stamp} for i, lb, k in TYPES])
    store.insert_many(
        "channel",
        [
            {
                "id": i,
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kayako-mock/channel/{kind}")),
                "type": kind,
            }
            for i, kind in CHANNELS
        ],
    )
    store.insert_many(
        "locale",
        [{"id": 1, "locale": "en-us", "name": "English (United States)", "native_name": "English",
          "direction": "LTR", "is_public": True, "is_localized": True, **stamp}],
    )  # fmt: skip


def _people(store: Store, config: MockConfig) -> int:
    agent = add_user(
        store, config.agent_name, ROLE_AGENT, email=config.agent_email, password=config.agent_password,
        designation="Support agent",
    )  # fmt: skip
    add_user(
        store,
        "Otto Twofactor",
        ROLE_AGENT,
        email=config.twofactor_email,
        password=config.agent_password,
        mfa=True,
    )
    customers = [add_user(store, n, ROLE_CUSTOMER, email=e, phone=p) for n, e, p in CUSTOMERS]
    for index, subject, message, status, priority, case_type, tags in CASES:
        requester = customers[index]["id"]
        case = add_case(
            store, subject=subject, contents_html=f"<p>{html.escape(message)}</p>", requester_id=requester,
            creator_id=requester, channel="MAIL", status_id=status, priority_id=priority, type_id=case_type,
            tags=tags,
        )  # fmt: skip
        add_post(
            store, case, "<p>Thanks for reaching out, we are looking into it.</p>", channel="MAIL",
            creator_id=agent["id"], source="AGENT",
        )  # fmt: skip
    return int(agent["id"])


def _help_center(store: Store, author_id: int) -> None:
    now = iso()
    categories: dict[str, int] = {}
    sections: dict[str, int] = {}
    plan = [(ACCOUNT_SECTION, ACCOUNT_CATEGORY), *((s, c) for s, c, _ in SECTIONS)]
    for order, (section_name, category_name) in enumerate(plan, start=1):
        if category_name not in categories:
            category = store.insert(
                "category",
                {"title_ids": locale_fields(store, category_name), "description_ids": [],
                 "slug": slugify(category_name), "display_order": len(categories) + 1, "created_at": now,
                 "updated_at": now},
            )  # fmt: skip
            categories[category_name] = int(category["id"])
        section = store.insert(
            "section",
            {"category_id": categories[category_name], "title_ids": locale_fields(store, section_name),
             "description_ids": [], "slug": slugify(section_name), "visibility": "PUBLIC",
             "article_order_by": "LATEST", "sort_order": order, "created_at": now, "updated_at": now},
        )  # fmt: skip
        sections[section_name] = int(section["id"])

    articles = [(ACCOUNT_SECTION, title, body) for title, body in ACCOUNT_ARTICLES]
    for thread in load_stackfaq():
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        body = "".join(f"<p>{html.escape(str(a))}</p>" for a in answers if a)
        title = str(thread["question"])
        articles.append((section_of(title), title, body))

    # Locale fields and articles go in with two bulk inserts: seeding must stay well under a second.
    field_id = store.next_id("locale_field")
    article_id = store.next_id("article")
    fields, docs = [], []
    for section_name, title, body in articles:
        fields += [
            {"id": field_id, "locale": "en-us", "translation": title, "created_at": now, "updated_at": now},
            {
                "id": field_id + 1,
                "locale": "en-us",
                "translation": body,
                "created_at": now,
                "updated_at": now,
            },
        ]
        docs.append(
            {"id": article_id, "uuid": str(uuid.uuid4()), "section_id": sections[section_name],
             "title_ids": [field_id], "content_ids": [field_id + 1], "slug": slugify(title), "keywords": "",
             "status": "PUBLISHED", "author_id": author_id, "tags": [], "is_featured": False,
             "created_at": now, "updated_at": now, "published_at": now}
        )  # fmt: skip
        field_id += 2
        article_id += 1
    store.insert_many("locale_field", fields)
    store.insert_many("article", docs)
