"""The one failure a language engine reports: the model could not give a usable answer this time."""

from __future__ import annotations


class LanguageModelError(Exception):
    """A timeout, connection failure, error status or unusable output from the model (never carries keys)."""
