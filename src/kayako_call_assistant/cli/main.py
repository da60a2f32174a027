"""The ``kca`` entry point. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import asyncio
import json as jsonlib
from urllib.parse import urlsplit, urlunsplit

import typer

from .. import config_check
from ..observability.logging import configure_logging
from ..settings import Settings
from .call import call_command
from .chat import chat_command
from .db import app as db_app
from .errors import SafeGroup, load_settings
from .kayako import app as kayako_app
from .kayako_mock import kayako_mock_command
from .kb import app as kb_app
from .outbox import app as outbox_app
from .report import report_command
from .serve import serve_command
from .speech import stt_command, tts_command

app = typer.Typer(
    cls=SafeGroup,
    no_args_is_help=True,
    help="Kayako call assistant: an AI agent on a help desk's phone line.",
)
config_app = typer.Typer(
    help="Show the settings (`--markdown`: the reference table) or check them (`check`).",
    invoke_without_command=True,
)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(kayako_app, name="kayako")
app.add_typer(kb_app, name="kb")
app.add_typer(outbox_app, name="outbox")
app.command("chat")(chat_command)
app.command("call")(call_command)
app.command("tts")(tts_command)
app.command("stt")(stt_command)
app.command("kayako-mock")(kayako_mock_command)
app.command("serve")(serve_command)
app.command("report")(report_command)


@app.callback(invoke_without_command=True)
def main(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    """Kayako call assistant."""
    # Logs go to stderr through the redacting pipeline, so `--json` output on stdout stays parseable.
    # A bad variable is reported here, one line each, before any command runs.
    settings = load_settings()
    configure_logging(json=settings.production_rules, level=settings.log_level)
    if version:
        from importlib.metadata import version as package_version

        typer.echo(package_version("kayako-call-assistant"))
        raise typer.Exit()


_URL_SETTINGS = ("database_url", "redis_url")


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (database and Redis URLs carry credentials)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@config_app.callback()
def config_command(
    ctx: typer.Context,
    markdown: bool = typer.Option(False, "--markdown", help="Print the settings reference as Markdown."),
) -> None:
    """Show every setting (secrets and URL passwords masked; ``--markdown``: docs/configuration.md)."""
    if ctx.invoked_subcommand is not None:
        return
    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    current = load_settings()
    for name in Settings.model_fields:
        value = getattr(current, name)
        shown = masked_url(value) if name in _URL_SETTINGS else str(value)
        typer.echo(f"KCA_{name.upper()}={shown}")


@config_app.command("check")
def config_check_command(
    json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Check the settings against the production safety rules without starting; exit 2 on any problem.

    The same rules `kca serve` enforces in staging and production: a real Kayako and its credentials, a
    Twilio Auth Token (not the development one), an admin token, an https public URL, and a shared
    database for more than one worker."""

    settings = load_settings()
    problems = config_check.static_problems(settings)
    if settings.production_rules:
        admin = asyncio.run(_admin_token_problem(settings))
        if admin is not None:
            problems.append(admin)
    inferred = (
        settings.inferred_production_reason() if "environment" not in settings.model_fields_set else None
    )
    if json:
        verdict = {
            "environment": settings.environment,
            "inferred_from": inferred if settings.environment != "development" else None,
            "production_rules": settings.production_rules,
            "ok": not problems,
            "problems": [problem.as_json() for problem in problems],
        }
        typer.echo(jsonlib.dumps(verdict, indent=2))
    else:
        reason = f" (assumed: {inferred})" if inferred and settings.environment != "development" else ""
        typer.echo(f"environment: {settings.environment}{reason}")
        for problem in problems:
            typer.echo(f"problem: {problem.line()}")
        typer.echo("ok" if not problems else f"{len(problems)} problem(s): `kca serve` would refuse to start")
    if problems:
        raise typer.Exit(2)


async def _admin_token_problem(settings: Settings) -> config_check.Problem | None:
    from ..storage import create_engine, database_url

    engine = create_engine(database_url(settings))
    try:
        return await config_check.admin_token_problem(settings, engine)
    finally:
        await engine.dispose()


def settings_markdown() -> str:
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable with the prefix `KCA_` (or a line in an optional `.env` file).",
        "This page is generated by `kca config --markdown` from `src/kayako_call_assistant/settings.py`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        default = info.default
        secret = getattr(default, "get_secret_value", None)
        shown = "" if default is None else str(secret() if secret is not None else default)
        shown = shown.replace("|", "\\|")
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `KCA_{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(lines) + "\n"
