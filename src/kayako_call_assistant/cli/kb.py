"""`kca kb search QUERY` and `kca kb sync`: the help-center index as the call flow uses it."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..domain import Assessment, SearchHit
from ..settings import Settings

app = typer.Typer(no_args_is_help=True, help="The help-center knowledge index.")


async def _assess(settings: Settings, query: str, top: int) -> tuple[int, float, Assessment]:
    from ..wiring import build_helpdesk, knowledge_from_settings

    async with build_helpdesk(settings) as helpdesk:
        kb = knowledge_from_settings(helpdesk, settings)
        count = await kb.sync()
        return count, kb.answer_threshold, await kb.assess(query, top=top)


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
    """Search the help center as the call flow does: each hit's relevance and the answer gate's verdict."""
    _, threshold, assessment = asyncio.run(_assess(Settings(), query, top))
    results = [_hit_json(hit, threshold) for hit in assessment.hits]
    verdict = {"verdict": assessment.verdict.value, "reason": assessment.reason}
    if as_json:
        typer.echo(json.dumps({"query": query, "threshold": threshold, **verdict, "hits": results}))
        return
    table = Table(title=f"{assessment.verdict.value} ({assessment.reason}); threshold {threshold}")
    for column in ("article", "title", "relevance", "answerable"):
        table.add_column(column)
    for row in results:
        table.add_row(str(row["article_id"]), row["title"], str(row["relevance"]), str(row["answerable"]))
    Console().print(table)


@app.command("sync")
def sync_command() -> None:
    """Pull every published article from Kayako and build the index (reports the count)."""
    count, _, _ = asyncio.run(_assess(Settings(), "", 1))
    typer.echo(f"indexed {count} articles")
