"""One clear line for every configuration and usage error, instead of a traceback.

``SafeGroup`` is the click group of ``kca``: an exception escaping a command becomes one line on stderr
and exit status 1 (2 for invalid settings), unless ``kca --debug`` asked for the traceback. Commands raise
``CliError`` for mistakes they recognise (a missing directory, an unreachable server) with a message
that names the option and the expected form.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from typer.core import TyperGroup
from typer.exceptions import TyperException  # usage errors (bad option, missing argument)

from ..settings import Settings

SETTINGS_EXIT = 2


class CliError(Exception):
    """A user error with a one-line message fit for the terminal."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def settings_error_lines(error: ValidationError) -> list[str]:
    """One line per invalid setting: the environment variable, the value given and the expected form."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        variable = f"KCA_{field.upper()}" if field in Settings.model_fields else field or "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "json_invalid" or "error parsing value" in message:
            message = 'expected JSON (for a list: a JSON array such as ["billing_dispute"])'
        if "input" in item and not isinstance(item["input"], dict):
            lines.append(f"{variable}={_shown(item['input'])}: {message}")
        else:
            lines.append(f"{variable}: {message}")
    return lines


def source_error_line(error: SettingsError) -> str:
    """pydantic-settings fails before validation when a list setting is not JSON; its message names the
    field, from which the variable and the value given are recovered."""
    import os

    text = str(error)
    field = text.split('field "', 1)[1].split('"', 1)[0] if 'field "' in text else ""
    variable = f"KCA_{field.upper()}"
    value = os.environ.get(variable)
    shown = f"={_shown(value)}" if value is not None else ""
    return f'{variable}{shown}: expected a JSON array such as ["billing_dispute", "legal"]'


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from the environment, or one line per bad variable and exit status 2."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = settings_error_lines(error)
    except SettingsError as error:
        lines = [source_error_line(error)]
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(SETTINGS_EXIT)


def _debug(ctx: Any) -> bool:
    return bool(ctx.find_root().params.get("debug"))


class SafeGroup(TyperGroup):
    """Turns an exception escaping any command into one line (see the module docstring)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        # typer's own exit, abort and usage errors already print what they mean.
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except Exception as error:
            if _debug(ctx):
                raise
            lines, code = error_lines(error)
            for line in lines:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(code) from None


def error_lines(error: Exception) -> tuple[list[str], int]:
    """The lines (one per problem) and exit status that report ``error`` to an operator."""
    if isinstance(error, CliError):
        return [str(error)], 1
    if isinstance(error, ValidationError) and error.title == Settings.__name__:
        return settings_error_lines(error), SETTINGS_EXIT
    if isinstance(error, SettingsError):
        return [source_error_line(error)], SETTINGS_EXIT
    from .. import config_check

    if isinstance(error, config_check.UnsafeConfiguration):
        return [f"refusing to start ({error.environment}): {p.line()}" for p in error.problems], SETTINGS_EXIT
    text = str(error).splitlines()[0] if str(error) else ""
    return [f"{type(error).__name__}: {text[:300]} (`kca --debug …` shows the traceback)"], 1
