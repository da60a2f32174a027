"""Text made for the ear: no markup or links, lists as spoken steps, short answers, sentence by sentence.

Sentence splitting is ours rather than a tokenizer library's because it must work on a token stream (a
sentence is released as soon as the next character shows it has ended) and only needs the few
abbreviations a support answer uses.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncGenerator, AsyncIterator

from selectolax.lexbor import LexborHTMLParser

_ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "eg",
        "ie",
        "dr",
        "mr",
        "mrs",
        "ms",
        "st",
        "vs",
        "no",
        "approx",
        "inc",
        "ltd",
        "jr",
        "sr",
        "prof",
        "fig",
        "dept",
        "min",
        "max",
        "est",
        "mt",
        "ft",
        "cf",
        "vol",
        "ca",
        "co",
    }
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>()\"']+|(?<![\w@.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|co|dev|app)"
    r"(?:/[^\s<>()\"']*)?(?![\w@-])",
    re.IGNORECASE,
)
_URL_WITH_PREPOSITION = re.compile(
    rf"(?:\b(?:at|from|on|via|to|in|under|see|visit)\s+)?(?:{_URL.pattern})", re.IGNORECASE
)
_REFERENCE = re.compile(
    r"\s*(?:see|visit|read|check out|go to|browse to|more (?:details|information|info)|for (?:more|details)|"
    r"learn more|details)\b",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·]|\d{1,2}[.)]|step\s+\d+[:.)]?|[a-z][.)])\s+(.*)$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*")
_ORDER_WORDS = ("First", "Then", "Next", "After that")


# Menu paths: "Settings > Privacy > Export data", "Settings → Privacy". An item starts with a capital (or a
# digit) and runs for at most three words, stopping at words that start the rest of the sentence.
_MENU_ITEM = (
    r"[A-Z][\w'&.-]*(?: (?!(?:and|then|or|to|click|tap|select|choose|press|in|on|for|the|a|your|"
    r"from|with|if|when|under|you|we|it|this|that|can|will|should|must|is|are)\b)[\w'&-]+){0,2}"
)
_MENU_SEPARATOR = r"\s*(?:>|→|»|›|->|=>|⟶|➔|➜|⇒|▸|▶)\s*"
_MENU_PATH = re.compile(
    rf"(?:\b(?P<verb>[Oo]pen|[Gg]o to|[Nn]avigate to|[Hh]ead to|[Cc]lick|[Tt]ap|[Ss]elect|[Cc]hoose|"
    rf"[Vv]isit|[Gg]o into|[Ii]n|[Uu]se|[Uu]nder|[Ff]rom|[Vv]ia)\s+)?(?P<path>(?:{_MENU_ITEM})(?:{_MENU_SEPARATOR}(?:{_MENU_ITEM}))+)"
)
# Short asides in parentheses say nothing aloud: "(optional)", "(recommended)", "(see below)".
_ASIDE = re.compile(r"\s*\(([^()]{0,80})\)")
_QUIET_ASIDES = re.compile(
    r"^(?:optional|recommended|required|default|beta|new|if any|if needed|see (?:below|above)|"
    r"as shown|pictured|e\.?g\.?|i\.?e\.?|s|es|etc\.?|\d+|[a-z])$",
    re.IGNORECASE,
)
_EMOTICON = re.compile(
    r"(?<![\w/])(?:[:;=8][-o*']?[)(\]\[dDpP/\\|oO3]|<3|\^_?\^|:[a-z_]+:|xD|XD)(?![\w/])|"
    r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2B55\uFE0F\u200D]"
)
_UNITS = {
    "kb": "kilobytes",
    "mb": "megabytes",
    "gb": "gigabytes",
    "tb": "terabytes",
    "ms": "milliseconds",
    "sec": "seconds",
    "secs": "seconds",
    "min": "minutes",
    "mins": "minutes",
    "hr": "hours",
    "hrs": "hours",
    "km": "kilometres",
    "kg": "kilograms",
    "px": "pixels",
    "mbps": "megabits per second",
}
_UNIT = re.compile(r"\b(\d+(?:[.,]\d+)?)\s?(" + "|".join(_UNITS) + r")\b", re.IGNORECASE)
_RANGE = re.compile(r"\b(\d+)\s?[-–]\s?(\d+)(?=\s?(?:[a-zA-Z%]|$))")
_CURRENCY = {"$": "dollars", "€": "euros", "£": "pounds"}
_MONEY = re.compile(r"([$€£])\s?(\d+(?:[.,]\d{1,2})?)")
_SPOKEN_ABBREVIATIONS = (
    (re.compile(r"\be\.g\.,?", re.IGNORECASE), "for example"),
    (re.compile(r"\bi\.e\.,?", re.IGNORECASE), "that is"),
    (re.compile(r"\betc\.?(?=\s|$|[,;)])", re.IGNORECASE), "and so on"),
    (re.compile(r"\bapprox\.", re.IGNORECASE), "about"),
    (re.compile(r"\bvs\.?(?=\s)", re.IGNORECASE), "versus"),
    (re.compile(r"(?<!\w)w/(?=\s)"), "with"),
    (re.compile(r"\b24/7\b"), "24 hours a day, 7 days a week"),
    (re.compile(r"(?<!\w)#(?=\d)"), "number "),
    (re.compile(r"\bv(?=\d+(?:\.\d+)*\b)"), "version "),
    (re.compile(r"(?<=\d)\s?%"), " percent"),
    (re.compile(r"(?<=\d)x\b"), " times"),
)


def _menu_path(match: re.Match[str]) -> str:
    items = [item.strip() for item in re.split(_MENU_SEPARATOR, match.group("path")) if item.strip()]
    verb = match.group("verb")
    # "In", "Under", "Use", "From", "Via" a path: the caller is told to open it.
    preposition = verb is not None and verb.lower() in ("in", "under", "use", "from", "via")
    lead = "open" if verb is None or preposition else verb
    starts = match.start() == 0 or match.string[: match.start()].rstrip()[-1:] in ".!?"
    if (verb is None and starts) or (preposition and verb is not None and verb[0].isupper()):
        lead = "Open"
    return f"{lead} " + ", then ".join(items) + ("," if preposition else "")


def _aside(match: re.Match[str]) -> str:
    inner = match.group(1).strip()
    if not inner or _QUIET_ASIDES.match(inner) or _URL.fullmatch(inner):
        return ""
    return f", {inner},"


def _spoken_numbers(line: str) -> str:
    """Units, money, ranges, percentages and written abbreviations as a voice says them."""
    line = _MONEY.sub(lambda m: f"{m.group(2)} {_CURRENCY[m.group(1)]}", line)
    line = _RANGE.sub(r"\1 to \2", line)
    line = _UNIT.sub(lambda m: f"{m.group(1)} {_UNITS[m.group(2).lower()]}", line)
    for pattern, spoken in _SPOKEN_ABBREVIATIONS:
        line = pattern.sub(spoken, line)
    return line


def _html_to_lines(text: str) -> str:
    text = re.sub(r"(?i)<li[^>]*>", "\n- ", text)
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|h[1-6]|li|ul|ol|tr|table|blockquote)>", "\n", text)
    text = re.sub(r"(?i)<h[1-6][^>]*>", "\n# ", text)
    # selectolax (lexbor) drops the remaining tags and resolves entities; its text() keeps our newlines.
    parsed = LexborHTMLParser(f"<body>{text}</body>")
    for node in parsed.css("script, style"):
        node.decompose()
    return parsed.body.text(separator="") if parsed.body is not None else ""


def _strip_markdown(line: str) -> str:
    line = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", line)  # images → alt text
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)  # links → their text
    line = re.sub(r"`{1,3}([^`]*)`{1,3}", r"\1", line)
    line = re.sub(r"(\*\*|__|~~)(.+?)\1", r"\2", line)
    line = re.sub(r"(?<![\w*])[*_](?!\s)(.+?)(?<!\s)[*_](?![\w*])", r"\1", line)
    line = re.sub(r"^\s*>\s?", "", line)
    line = line.replace("|", ", ")
    # Key symbols and arrows that a voice cannot say; "+" between keys is said as "plus".
    line = re.sub(r"\s+\+\s+", " plus ", line)
    line = _MENU_PATH.sub(_menu_path, line)
    return re.sub(r"[⌘⇧⌥⌃→←↑↓•►▶✓✔]", "", line)


def _without_links(line: str) -> str:
    if not _URL.search(line):
        return line
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", line):
        if _URL.search(sentence) and _REFERENCE.match(sentence):
            continue  # "See https://… for details." says nothing once the link is gone
        without = _URL_WITH_PREPOSITION.sub("", sentence) if _URL.search(sentence) else sentence
        if without != sentence:
            # What pointed at the link ("click here", "see") has nothing left to point at.
            without = re.sub(
                r"\b(?:at|see|visit|here|via|on)\s*(?=[:.,;]|$)", "", without, flags=re.IGNORECASE
            )
            stub = without.rstrip(" .:;,!?")
            if len(stub.split()) < 3 or re.search(
                r"\b(?:click|tap|press|open|follow|below|link)$", stub, re.I
            ):
                continue  # only the pointer to the link was left
        kept.append(without)
    return " ".join(kept)


def _clean(line: str) -> str:
    line = _without_links(line.replace("\xa0", " "))
    line = _EMOTICON.sub("", line)
    line = _ASIDE.sub(_aside, line)
    line = _spoken_numbers(line)
    line = re.sub(r"</?[a-zA-Z][^<>]{0,80}>|[*_~`#]{2,}|&[a-z]{2,8};", " ", line)  # leftovers of markup
    line = re.sub(r"\(\s*\)|\[\s*\]", "", line)
    line = line.replace(" & ", " and ")
    line = re.sub(r"\s+([,.;:!?])", r"\1", line)
    line = re.sub(r"([,;:])\1+", r"\1", line)
    line = re.sub(r",([.!?;:])", r"\1", line)
    line = re.sub(r"\s{2,}", " ", line).strip(" :;,-")
    return line


def _as_sentence(text: str) -> str:
    text = text.strip()
    if text and text[-1] not in ".!?":
        text += "."
    return text


def _lower_first(text: str) -> str:
    # "Click Save" → "click Save", but an acronym or product name ("API", "iPhone") keeps its case.
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _spoken_steps(items: list[str]) -> list[str]:
    if len(items) == 1:
        return [_as_sentence(items[0])]
    spoken: list[str] = []
    for index, item in enumerate(items):
        last = index == len(items) - 1
        order = "Finally" if last else _ORDER_WORDS[min(index, len(_ORDER_WORDS) - 1)]
        spoken.append(_as_sentence(f"{order}, {_lower_first(item)}"))
    return spoken


def speakable(text: str) -> str:
    """Plain spoken text: HTML and markdown removed, links dropped, list items as "First, … Then, …"."""
    looks_like_html = re.search(r"<[a-zA-Z][^>]*>", text)
    text = _html_to_lines(text) if looks_like_html else html.unescape(text)
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    parts: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if items:
            parts.extend(_spoken_steps(items))
            items.clear()

    for raw in text.splitlines():
        if _HEADING.match(raw) or re.fullmatch(r"\s*[-=*_]{3,}\s*", raw):
            flush()  # headings and rules are for the eye
            continue
        item = _LIST_ITEM.match(raw)
        line = _clean(_strip_markdown(item.group(1) if item else raw))
        if not line:
            continue
        if item:
            items.append(line)
        else:
            flush()
            parts.append(line if line[-1] in ".!?:" else _as_sentence(line))
    flush()
    return re.sub(r"\s{2,}", " ", " ".join(parts)).strip()


def _is_boundary(text: str, end: int) -> bool:
    """Whether the punctuation run ending at ``end`` closes a sentence (the caller knows what follows)."""
    before = text[:end].rstrip("\"')]")
    if not before.endswith("."):
        return True
    word = re.search(r"([A-Za-z][A-Za-z.]*)\.*$", before[:-1] + ".")
    if word is None:
        return True
    abbreviation = word.group(1).rstrip(".").lower()
    # "e.g.", "Dr.", an initial ("J. Smith") do not end a sentence.
    return not (abbreviation in _ABBREVIATIONS or len(abbreviation) == 1)


def _next_cut(buffer: str, final: bool) -> int | None:
    """Index just after the first complete sentence in ``buffer``, or None when it may not be complete yet."""
    for match in _SENTENCE_END.finditer(buffer):
        end = match.end()
        rest = buffer[end:]
        if not rest:
            return end if final else None
        if not rest[0].isspace():
            continue  # "3.5", "example.com", "e.g.x"
        following = rest.lstrip()
        if not following:
            if final:
                return end
            return None
        if following[0].islower():
            continue
        if _is_boundary(buffer, end):
            return end
    paragraph = buffer.find("\n\n")
    if paragraph > 0 and buffer[:paragraph].strip():
        return paragraph
    return None


def sentences(text: str) -> list[str]:
    """Split a finished text into sentences."""
    out: list[str] = []
    buffer = text
    while buffer.strip():
        cut = _next_cut(buffer, final=True)
        if cut is None:
            out.append(buffer.strip())
            break
        sentence = buffer[:cut].strip()
        if sentence:
            out.append(sentence)
        buffer = buffer[cut:]
    return out


async def split_sentences(chunks: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """Cut a stream of text pieces (model tokens) into sentences, each released as soon as it is complete."""
    buffer = ""
    async for chunk in chunks:
        buffer += chunk
        while True:
            cut = _next_cut(buffer, final=False)
            if cut is None:
                break
            sentence = buffer[:cut].strip()
            buffer = buffer[cut:]
            if sentence:
                yield sentence
    for sentence in sentences(buffer):
        yield sentence


def _truncate_words(sentence: str, budget: int) -> str:
    words = sentence.split()
    cut = " ".join(words[:budget])
    # Prefer ending at the last clause break inside the budget, so the cut sounds deliberate.
    clause = max(cut.rfind(","), cut.rfind(";"))
    if clause > len(cut) // 2:
        cut = cut[:clause]
    return _as_sentence(cut.rstrip(" ,;:"))


def limit_spoken(text: str, max_sentences: int = 3, max_words: int = 60) -> str:
    """At most ``max_sentences`` sentences and about ``max_words`` words (a long first sentence is cut)."""
    kept: list[str] = []
    words = 0
    for sentence in sentences(text):
        count = len(sentence.split())
        if len(kept) >= max_sentences:
            break
        if words + count > max_words:
            if not kept:
                kept.append(_truncate_words(sentence, max_words))
            break
        kept.append(sentence)
        words += count
    return " ".join(kept)
