"""Help-center HTML to clean text, cut into passages by heading (the unit of retrieval and grounding)."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..domain import HelpArticle, Passage

_HEADINGS = {"h1", "h2", "h3", "h4"}
_DROP = "script, style, noscript, template, iframe, svg, img"
_BLOCKS = {"p", "div", "li", "pre", "blockquote", "td", "th", "dd", "dt", "section", "article", "br", "tr"}
_SPACE = re.compile(r"\s+")
_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?)])")
MAX_PASSAGE_WORDS = 160
MIN_PASSAGE_WORDS = 25


def _clean(text: str) -> str:
    # Inline tags are joined with a space, which leaves one before punctuation that followed a tag.
    return _BEFORE_PUNCTUATION.sub(r"\1", _SPACE.sub(" ", text)).strip()


def _blocks(html: str) -> list[tuple[str, str]]:
    """(kind, text) in document order: kind is "heading" or "text"; ordered-list items keep their number."""
    tree = HTMLParser(html)
    for node in tree.css(_DROP):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return []
    out: list[tuple[str, str]] = []

    def walk(node: Node) -> None:
        child = node.child
        while child is not None:
            tag = child.tag
            if tag in _HEADINGS:
                out.append(("heading", _clean(child.text(separator=" "))))
            elif tag in {"ol", "ul"}:
                items = [li for li in child.iter() if li.tag == "li"]
                for number, item in enumerate(items, start=1):
                    text = _clean(item.text(separator=" "))
                    if text:
                        out.append(("text", f"{number}. {text}" if tag == "ol" else text))
            elif tag == "-text":
                text = _clean(child.text() or "")
                if text:
                    out.append(("text", text))
            elif tag in _BLOCKS and not any(
                c.tag in _BLOCKS | _HEADINGS | {"ol", "ul"} for c in child.iter()
            ):
                text = _clean(child.text(separator=" "))
                if text:
                    out.append(("text", text))
            else:
                walk(child)
            child = child.next

    walk(root)
    return [(kind, text) for kind, text in out if text]


def html_to_text(html: str) -> str:
    """The article's text, one block per line (headings included)."""
    return "\n".join(text for _, text in _blocks(html))


def _merge_short(chunks: list[Passage]) -> list[Passage]:
    """Join a passage too short to answer from (an article's one-line introduction) to the next one."""
    merged: list[Passage] = []
    carry = ""
    for position, chunk in enumerate(chunks):
        text = f"{carry} {chunk.text}".strip()
        if len(text.split()) < MIN_PASSAGE_WORDS and position < len(chunks) - 1:
            carry = text
            continue
        merged.append(Passage(chunk.article_id, chunk.title, text, chunk.heading))
        carry = ""
    return merged


def passages(article: HelpArticle, max_words: int = MAX_PASSAGE_WORDS) -> list[Passage]:
    """One passage per heading's section; a long section is split between paragraphs at ``max_words``."""
    result: list[Passage] = []
    heading: str | None = None
    current: list[str] = []
    words = 0

    def flush() -> None:
        nonlocal current, words
        if current:
            result.append(Passage(article.id, article.title, " ".join(current), heading))
        current, words = [], 0

    for kind, text in _blocks(article.body_html):
        if kind == "heading":
            flush()
            heading = text
            continue
        count = len(text.split())
        if current and words + count > max_words:
            flush()
        current.append(text)
        words += count
    flush()
    result = _merge_short(result)
    if not result:
        result.append(Passage(article.id, article.title, article.title, None))
    return result
