"""``kca kayako …``: talk to the configured Kayako (or the embedded mock) from a terminal.

Every command takes ``--json`` for machine-readable output. With ``KCA_KAYAKO_BASE_URL`` empty the commands
use the embedded mock that ``make run`` starts, with its seeded agent account.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..domain import CaseDraft, ContactDetails
from ..kayako import KayakoApi, KayakoClient, KayakoError, KayakoHelpDesk, build_client
from ..observability.logging import configure_logging
from ..settings import Settings
from ..tickets.requester import find_or_create_requester

app = typer.Typer(no_args_is_help=True, help="Kayako API: check the connection, search, users and cases.")
articles_app = typer.Typer(no_args_is_help=True, help="Help-center articles.")
users_app = typer.Typer(no_args_is_help=True, help="Kayako users (customers).")
cases_app = typer.Typer(no_args_is_help=True, help="Kayako cases.")
app.add_typer(articles_app, name="articles")
app.add_typer(users_app, name="users")
app.add_typer(cases_app, name="cases")

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON.")
console = Console()


def _run(
    work: Callable[[KayakoApi, Settings], Awaitable[Any]], as_json: bool, show: Callable[[Any], None]
) -> None:
    settings = Settings()
    # Logs go to stderr and only from warnings up, so that stdout stays clean for --json.
    configure_logging(json=settings.environment == "production", level="WARNING")

    async def main() -> Any:
        async with build_client(settings) as client:
            return await work(KayakoApi(client, settings.locale), settings)

    try:
        result = asyncio.run(main())
    except KayakoError as error:
        if as_json:
            payload = {
                "status": error.status,
                "code": error.code,
                "parameter": error.parameter,
                "message": error.message,
            }
            typer.echo(json.dumps({"error": payload}))
        else:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result, default=str, ensure_ascii=False))
    else:
        show(result)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


@app.command("ping")
def ping(as_json: bool = JSON_OPTION) -> None:
    """Log in and show who the client is authenticated as."""

    async def work(api: KayakoApi, settings: Settings) -> dict[str, Any]:
        me = await api.me()
        client: KayakoClient = api.client
        return {
            "ok": True,
            "base_url": client.config.api_root,
            "auth": client.config.auth,
            "user": {"id": me.id, "full_name": me.full_name},
            "requests": client.requests_made,
        }

    def show(result: dict[str, Any]) -> None:
        user = result["user"]
        typer.echo(f"ok: {result['base_url']} ({result['auth']}) as {user['full_name']} (#{user['id']})")

    _run(work, as_json, show)


@app.command("search")
def search(
    query: str = typer.Argument(..., help="What to look for."),
    resources: str = typer.Option(
        "ARTICLES", "--resources", help="ARTICLES (help center) or a CSV of CASES, USERS, ORGANIZATIONS."
    ),
    limit: int = typer.Option(5, "--limit", min=1, max=100),
    as_json: bool = JSON_OPTION,
) -> None:
    """Search the help center (default) or the agent-side resources."""

    async def work(api: KayakoApi, settings: Settings) -> list[dict[str, Any]]:
        if resources.strip().upper() == "ARTICLES":
            hits = await api.helpcenter_search(query, limit=limit)
            return [{"article_id": h.article_id, "title": h.title, "link": h.link} for h in hits]
        results = await api.search(query, resources=resources.upper(), limit=limit)
        return [{"id": r.id, "resource": r.resource, "title": r.title, "snippet": r.snippet} for r in results]

    def show(rows: list[dict[str, Any]]) -> None:
        if not rows:
            typer.echo("no results")
            return
        columns = list(rows[0])
        _table(f"search: {query}", columns, [[row[c] for c in columns] for row in rows])

    _run(work, as_json, show)


@articles_app.command("list")
def articles_list(
    limit: int = typer.Option(20, "--limit", min=1, help="How many articles to show."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Help-center articles with their titles in the configured locale."""

    async def work(api: KayakoApi, settings: Settings) -> list[dict[str, Any]]:
        rows = []
        async for article in api.articles(max_items=limit):
            rows.append(
                {
                    "id": article.id,
                    "title": await api.text(article.titles),
                    "status": article.status,
                    "url": article.helpcenter_url,
                }
            )
        return rows

    def show(rows: list[dict[str, Any]]) -> None:
        _table("articles", ["id", "title", "status"], [[r["id"], r["title"], r["status"]] for r in rows])

    _run(work, as_json, show)


@users_app.command("find")
def users_find(
    email: str | None = typer.Option(None, "--email", help="Email address."),
    phone: str | None = typer.Option(None, "--phone", help="Phone number in E.164, e.g. +14155550100."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Find a user by email or phone identity."""
    if not email and not phone:
        raise typer.BadParameter("give --email or --phone")

    async def work(api: KayakoApi, settings: Settings) -> dict[str, Any] | None:
        person = await KayakoHelpDesk(api).find_person(email=email, phone=phone)
        if person is None:
            return None
        return {
            "id": person.id,
            "full_name": person.full_name,
            "emails": person.emails,
            "phones": person.phones,
        }

    def show(user: dict[str, Any] | None) -> None:
        if user is None:
            typer.echo("not found")
            return
        typer.echo(f"#{user['id']} {user['full_name']}  {', '.join([*user['emails'], *user['phones']])}")

    _run(work, as_json, show)


@cases_app.command("create")
def cases_create(  # noqa: PLR0917 - typer maps each option to a parameter
    subject: str = typer.Option(..., "--subject"),
    contents: str = typer.Option(..., "--contents", help="The first post (HTML allowed)."),
    email: str | None = typer.Option(None, "--email", help="Requester's email."),
    phone: str | None = typer.Option(None, "--phone", help="Requester's phone (E.164)."),
    name: str | None = typer.Option(None, "--name", help="Requester's name, when they must be created."),
    idempotency_key: str | None = typer.Option(
        None, "--idempotency-key", help="Repeat a key to get the same case back instead of a second one."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Open a case for a requester found (or created) by email/phone."""
    if not email and not phone:
        raise typer.BadParameter("give --email or --phone")

    async def work(api: KayakoApi, settings: Settings) -> dict[str, Any]:
        helpdesk = KayakoHelpDesk(
            api, case_channel=settings.kayako_case_channel, channel_id=settings.kayako_channel_id
        )
        contact = ContactDetails(name=name, email=email, phone=phone)
        anonymous = settings.anonymous_requester_email or None
        requester = await find_or_create_requester(helpdesk, contact, anonymous_email=anonymous)
        draft = CaseDraft(
            idempotency_key=idempotency_key or f"cli-{uuid.uuid4()}",
            subject=subject,
            contents_html=contents,
            contact=contact,
        )
        case = await helpdesk.create_case(draft, requester.id)
        return {"id": case.id, "subject": case.subject, "status": case.status, "requester_id": requester.id}

    def show(case: dict[str, Any]) -> None:
        typer.echo(
            f"case #{case['id']} ({case['status']}): {case['subject']} for user #{case['requester_id']}"
        )

    _run(work, as_json, show)


@cases_app.command("get")
def cases_get(case_id: int = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Show a case and its posts (newest first)."""

    async def work(api: KayakoApi, settings: Settings) -> dict[str, Any]:
        case = await api.get_case(case_id)
        status = await api.status_of(case)
        posts = await api.posts(case_id)
        return {
            "id": case.id,
            "subject": case.subject,
            "status": status.label if status else None,
            "tags": case.tag_names,
            "updated_at": case.updated_at,
            "posts": [{"id": p.id, "created_at": p.created_at, "contents": p.contents} for p in posts],
        }

    def show(case: dict[str, Any]) -> None:
        typer.echo(f"case #{case['id']} ({case['status']}): {case['subject']}")
        for post in case["posts"]:
            typer.echo(f"--- post #{post['id']} {post['created_at']}\n{post['contents']}")

    _run(work, as_json, show)
