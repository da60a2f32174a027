"""`kca kb search QUERY` and `kca kb sync`: the help-center index as the call flow uses it."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..domain import SearchHit
from ..knowledge.base import KnowledgeBase
from ..settings import Settings

app = typer.Typer(no_args_is_help=True, help="The help-center knowledge index.")


async def _search(settings: Settings, query: str, top: int) -> tuple[int, list[SearchHit]]:
    from ..wiring import build_helpdesk

    async with build_helpdesk(settings) as helpdesk:
        kb = KnowledgeBase(helpdesk, answer_threshold=settings.kb_answer_threshold)
        count = await kb.sync()
        return count, await kb.search(query, top)


def _hit_json(hit: SearchHit, threshold: float) -> dict[str, Any]:
    return {
        "article_id": hit.passage.article_id,
        "title": hit.passage.title,
        "heading": hit.passage.heading,
        "text": hit.passage.text,
        "score": round(hit.score, 4),
        "relevance": round(hit.relevance, 4),
        "answerable": hit.relevance >= threshold,
    }


@app.command("search")
def search_command(
    query: str,
    top: Annotated[int, typer.Option("--top", min=1, help="How many articles.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Search the help center as the call flow does, with each hit's calibrated relevance."""
    settings = Settings()
    _, hits = asyncio.run(_search(settings, query, top))
    results = [_hit_json(hit, settings.kb_answer_threshold) for hit in hits]
    if as_json:
        typer.echo(json.dumps({"query": query, "threshold": settings.kb_answer_threshold, "hits": results}))
        return
    table = Table(title=f"threshold {settings.kb_answer_threshold}")
    for column in ("article", "title", "relevance", "answerable"):
        table.add_column(column)
    for row in results:
        table.add_row(str(row["article_id"]), row["title"], str(row["relevance"]), str(row["answerable"]))
    Console().print(table)


@app.command("sync")
def sync_command() -> None:
    """Pull every published article from Kayako and build the index (reports the count)."""
    count, _ = asyncio.run(_search(Settings(), "", 1))
    typer.echo(f"indexed {count} articles")
