"""The language model's instructions and output schemas, kept as files beside this module.

``{helpdesk_name}`` and ``{tone}`` are filled by plain replacement rather than ``str.format`` so that a
prompt may contain braces (JSON examples) without escaping.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

PromptName = Literal["understand", "answer", "summary", "search_query", "confirm"]
SchemaName = Literal["understand", "summary", "confirm"]


@cache
def _text(filename: str) -> str:
    return (
        resources.files(__name__.rpartition(".")[0]).joinpath("prompts", filename).read_text(encoding="utf-8")
    )


def load_prompt(name: PromptName, *, helpdesk_name: str, tone: str) -> str:
    """The prompt ``prompts/<name>.md`` with the help desk's name and tone filled in."""
    return (
        _text(f"{name}.md")
        .replace("{helpdesk_name}", helpdesk_name or "the help desk")
        .replace("{tone}", tone)
    )


def load_schema(name: SchemaName) -> dict[str, Any]:
    """The JSON schema (``prompts/<name>.schema.json``) a structured answer must validate against."""
    schema: dict[str, Any] = json.loads(_text(f"{name}.schema.json"))
    return schema
