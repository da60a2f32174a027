"""The production safety rules: which settings would run a staging or production line on development parts.

``static_problems`` reads only the settings; ``admin_token_problem`` also needs the database (an admin
token is a row, stored hashed). ``kca serve`` refuses to start on any problem when the rules apply, and
``kca config check`` prints the same verdicts without starting anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .settings import Settings
from .telephony.signature import DEVELOPMENT_AUTH_TOKEN


@dataclass(frozen=True, slots=True)
class Problem:
    """One unsafe setting: the variable, why it is unsafe, what to do."""

    variable: str
    message: str

    def line(self) -> str:
        return f"{self.variable}: {self.message}"

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def _is_sqlite(settings: Settings) -> bool:
    return not settings.database_url or settings.database_url.startswith("sqlite")


def static_problems(settings: Settings) -> list[Problem]:
    """Every production rule the settings break (empty in development, where none apply)."""
    if not settings.production_rules:
        return []
    problems: list[Problem] = []
    if not settings.kayako_base_url:
        problems.append(
            Problem(
                "KCA_KAYAKO_BASE_URL",
                "empty, which would start the embedded Kayako mock and file callers' cases into it; "
                "set the instance's API base, e.g. https://acme.kayako.com/api/v1",
            )
        )
    elif "127.0.0.1" in settings.kayako_base_url or "localhost" in settings.kayako_base_url:
        problems.append(
            Problem("KCA_KAYAKO_BASE_URL", f"{settings.kayako_base_url!r} is a local address, not a Kayako")
        )
    if settings.kayako_auth == "basic":
        if not settings.kayako_email or not settings.kayako_password.get_secret_value():
            problems.append(
                Problem("KCA_KAYAKO_EMAIL", "KCA_KAYAKO_EMAIL and KCA_KAYAKO_PASSWORD must both be set")
            )
    elif not settings.kayako_oauth_client_id or not (
        settings.kayako_oauth_refresh_token.get_secret_value() or settings.kayako_password.get_secret_value()
    ):
        problems.append(
            Problem(
                "KCA_KAYAKO_OAUTH_CLIENT_ID",
                "OAuth needs KCA_KAYAKO_OAUTH_CLIENT_ID and a refresh token or password",
            )
        )
    token = settings.twilio_auth_token.get_secret_value()
    if not token:
        problems.append(Problem("KCA_TWILIO_AUTH_TOKEN", "empty; set the account's Auth Token"))
    elif DEVELOPMENT_AUTH_TOKEN in (token, settings.twilio_auth_token_secondary.get_secret_value()):
        problems.append(
            Problem(
                "KCA_TWILIO_AUTH_TOKEN", "is the published development token; set the account's Auth Token"
            )
        )
    if not settings.public_url.startswith("https://"):
        problems.append(
            Problem(
                "KCA_PUBLIC_URL",
                f"{settings.public_url!r} is not https; Twilio must reach this service over TLS",
            )
        )
    if settings.media_url and not settings.media_url.startswith(("https://", "wss://")):
        problems.append(
            Problem(
                "KCA_MEDIA_PUBLIC_URL",
                f"{settings.media_url!r} is not https or wss; Twilio must reach the media listener over TLS",
            )
        )
    if settings.workers > 1 and _is_sqlite(settings):
        problems.append(
            Problem(
                "KCA_DATABASE_URL",
                f"SQLite cannot be shared by KCA_WORKERS={settings.workers} workers; "
                "set a PostgreSQL URL (postgresql+asyncpg://…)",
            )
        )
    return problems


async def admin_token_problem(settings: Settings, engine: AsyncEngine) -> Problem | None:
    """A problem when the rules apply and no live admin token exists (the admin API would be unusable,
    and an operator could not resend a case); reads the migrated database behind ``engine``."""
    if not settings.production_rules:
        return None
    from .storage.models import admin_tokens

    statement = select(func.count()).select_from(admin_tokens).where(admin_tokens.c.revoked_at.is_(None))
    try:
        async with engine.connect() as conn:
            count = (await conn.execute(statement)).scalar_one()
    except Exception as error:  # an unreachable or unmigrated database is this check's verdict, not a crash
        return Problem(
            "KCA_DATABASE_URL",
            f"cannot read admin tokens ({type(error).__name__}); is the database reachable and migrated "
            "(`kca db upgrade`)?",
        )
    if count == 0:
        return Problem("admin token", "none issued; run `kca db tokens create NAME` before starting")
    return None


class UnsafeConfiguration(Exception):
    """The production rules apply and the settings break some; ``problems`` has one line per rule."""

    def __init__(self, problems: list[Problem], environment: str) -> None:
        super().__init__("; ".join(problem.line() for problem in problems))
        self.problems = problems
        self.environment = environment


def refuse_unsafe(settings: Settings) -> None:
    """Raise ``UnsafeConfiguration`` when the production rules apply and the settings break any."""
    problems = static_problems(settings)
    if problems:
        raise UnsafeConfiguration(problems, settings.environment)
