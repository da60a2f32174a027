"""Regular expressions with matching time linear in the input, for text an attacker or caller controls.

Python's ``re`` backtracks: a pattern such as ``[a-z.]+@…`` takes time quadratic in the length of a line
with no match, and one hostile megabyte froze the server for minutes. RE2 (``google-re2``) guarantees
linear time whatever the pattern, at the price of no look-around and no back-references. This module only
puts a typed face on it, since google-re2 ships no type hints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import re2


class Match(Protocol):
    def group(self, index: int = 0) -> str: ...

    def start(self, index: int = 0) -> int: ...

    def end(self, index: int = 0) -> int: ...


class Pattern(Protocol):
    def sub(self, repl: str | Callable[[Match], str], string: str) -> str: ...

    def search(self, string: str) -> Match | None: ...

    def match(self, string: str) -> Match | None: ...

    def fullmatch(self, string: str) -> Match | None: ...

    def findall(self, string: str) -> list[str]: ...


def compile_linear(pattern: str, *, ignore_case: bool = False) -> Pattern:
    """``pattern`` compiled with RE2 (RE2 syntax: no look-around or back-references)."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    return cast(Pattern, re2.compile(pattern, options))
