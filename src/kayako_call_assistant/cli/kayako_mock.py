"""``kca kayako-mock``: run the Kayako-compatible mock server on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from ..kayako_mock.app import create_app
from ..kayako_mock.config import MockConfig


def kayako_mock_command(  # noqa: PLR0917  (typer options)
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    db: Annotated[
        Path | None, typer.Option("--db", help="SQLite file kept between runs (default: in memory).")
    ] = None,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Seed an empty database.")] = True,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Strictest reading of the API reference (channel_id required, E.164 phones, …)."
        ),
    ] = False,
    help_center: Annotated[
        str, typer.Option("--help-center", help="`demo` (Acme Home) or `stackfaq` (demo plus StackFAQ).")
    ] = "demo",
) -> None:
    """Run a Kayako API v1 mock (agent: agent@example.com / mock-password) at http://HOST:PORT/api/v1."""
    config = MockConfig.model_validate(
        {
            "database": str(db) if db else ":memory:",
            "seed": seed,
            "strict": strict,
            "help_center": help_center,
        }
    )
    typer.echo(
        f"Kayako mock at http://{host}:{port}/api/v1 (admin API at /_mock, agent {config.agent_email})"
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
