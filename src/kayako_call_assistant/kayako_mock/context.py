"""Everything one mock instance holds, and the per-request context routes receive."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fastapi import Request

from .auth import AuthState
from .automation import Automation
from .config import MockConfig
from .faults import FaultState
from .render import View
from .store import Store


@dataclass
class Mock:
    config: MockConfig
    store: Store
    auth: AuthState
    faults: FaultState
    automation: Automation = field(default_factory=Automation)
    stats: Counter[str] = field(default_factory=Counter)


@dataclass
class Ctx:
    mock: Mock
    view: View
    user_id: int | None

    @property
    def store(self) -> Store:
        return self.mock.store

    @property
    def agent_id(self) -> int:
        """The authenticated user (routes that need one are never public)."""
        assert self.user_id is not None
        return self.user_id


def mock_of(request: Request) -> Mock:
    mock: Mock = request.app.state.mock
    return mock


def _context(request: Request, *, required: bool) -> Ctx:
    mock = mock_of(request)
    user_id = mock.auth.authenticate(request, required=required)
    return Ctx(mock, View(request, mock.store, mock.config.public_base_url), user_id)


def api(request: Request) -> Ctx:
    """Dependency of every authenticated endpoint."""
    return _context(request, required=True)


def public(request: Request) -> Ctx:
    """Dependency of help-center reads, which Kayako serves without authentication."""
    return _context(request, required=False)
