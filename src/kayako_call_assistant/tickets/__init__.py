"""Cases opened from calls: the case builder, requester resolution and the durable outbox."""

from .case_builder import CaseBuilder, CaseRequest, OfferedArticle
from .outbox import OutboxWorker
from .requester import find_or_create_requester

__all__ = ["CaseBuilder", "CaseRequest", "OfferedArticle", "OutboxWorker", "find_or_create_requester"]
