"""The sample help desk an empty mock starts with.

Help center (``MockConfig.help_center``): ``demo``, the default, is the help center of a believable product,
Acme Home (smart cameras, an app and a subscription), written for this project (``data/demo_help_center.json``:
accounts, billing, orders, shipping, returns, devices, privacy, troubleshooting), so that demos make sense.
``stackfaq`` adds every StackFAQ thread (``data/stackfaq.json``, CC BY-SA 3.0, see ``data/README.md``) as one
published article, grouped into sections and categories by the product named in its title: the retrieval
benchmark's help center, and a large one for pagination. Configuration mirrors a new Kayako instance
(statuses, priorities, types, roles, channels); users and cases give a client something to find.
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


def load_demo_help_center() -> list[dict[str, str]]:
    """The demo articles: ``category``, ``section``, ``title``, ``body_html``, in display order."""
    raw = resources.files(__package__).joinpath("data/demo_help_center.json").read_text(encoding="utf-8")
    articles: list[dict[str, str]] = json.loads(raw)["articles"]
    return articles


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
        _help_center(store, agent, stackfaq=config.help_center == "stackfaq")
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


def _help_center(store: Store, author_id: int, *, stackfaq: bool) -> None:
    now = iso()
    categories: dict[str, int] = {}
    sections: dict[str, int] = {}
    demo = load_demo_help_center()
    plan = list(dict.fromkeys((a["section"], a["category"]) for a in demo))
    if stackfaq:
        plan += [(s, c) for s, c, _ in SECTIONS]
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

    articles = [(a["section"], a["title"], a["body_html"]) for a in demo]
    for thread in load_stackfaq() if stackfaq else []:
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
