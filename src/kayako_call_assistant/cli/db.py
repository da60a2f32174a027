"""``kca db``: schema migrations, the retention purge and admin API tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from ..settings import Settings
from ..storage import SqlAdminTokens, create_engine, database_url, purge_older_than, upgrade
from ..storage.database import revision

app = typer.Typer(no_args_is_help=True, help="Database: migrations, retention purge, admin tokens.")
tokens_app = typer.Typer(no_args_is_help=True, help="Bearer tokens of the admin API (stored hashed).")
app.add_typer(tokens_app, name="tokens")

T = TypeVar("T")


def _with_migrated_engine(action: Callable[..., Awaitable[T]]) -> T:
    """Migrate (a no-op when current), then run ``action(engine)`` and release the engine."""

    async def run() -> T:
        engine = create_engine(database_url(Settings()))
        try:
            await upgrade(engine)
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command("upgrade")
def upgrade_command() -> None:
    """Bring the database schema to the newest revision (also done at every start)."""
    asyncio.run(upgrade(database_url(Settings())))
    typer.echo("database schema is up to date")


@app.command("purge")
def purge_command(
    days: int | None = typer.Option(
        None, "--days", min=1, help="Keep this many days of transcripts (default: KCA_RETENTION_DAYS)."
    ),
) -> None:
    """Delete transcripts older than the retention period; call metrics are kept."""
    keep = days if days is not None else Settings().retention_days
    result = _with_migrated_engine(lambda engine: purge_older_than(engine, keep))
    typer.echo(
        f"purged older than {keep} days: {result.turns} turns, {result.flow_states} flow states, "
        f"{result.webhook_deliveries} webhook deliveries, {result.outbox_payloads} delivered case copies"
    )


@app.command("revision")
def revision_command(
    message: str = typer.Option(..., "-m", "--message", help="What the migration changes."),
) -> None:
    """Write a new migration from the models' difference with the migrated database (development)."""
    url = database_url(Settings())
    asyncio.run(upgrade(url))
    asyncio.run(revision(url, message))


@tokens_app.command("create")
def create_token(name: str = typer.Argument(..., help="Who or what will use the token.")) -> None:
    """Issue an admin API token; it is printed once and only its hash is stored."""
    token = _with_migrated_engine(lambda engine: SqlAdminTokens(engine).create(name))
    typer.echo(token)
    typer.echo(f"token for {name!r} created: store it now, it cannot be shown again", err=True)


@tokens_app.command("revoke")
def revoke_tokens(name: str = typer.Argument(..., help="The name the tokens were created for.")) -> None:
    """Revoke every token of NAME."""
    count = _with_migrated_engine(lambda engine: SqlAdminTokens(engine).revoke(name))
    typer.echo(f"revoked {count} token(s) of {name!r}")
    if count == 0:
        raise typer.Exit(code=1)
