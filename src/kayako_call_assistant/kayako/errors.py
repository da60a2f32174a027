"""Typed Kayako API errors carrying Kayako's own ``code``, ``parameter`` and ``message``.

Messages are built only from the status and Kayako's error entry, never from request headers or bodies, so
credentials and tokens cannot leak into exception text.
"""

from __future__ import annotations

from typing import Any


class KayakoError(Exception):
    """A Kayako API call failed. ``status`` is the HTTP status (0 when no response arrived)."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        parameter: str | None = None,
        more_info: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        self.more_info = more_info
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Kayako HTTP {self.status}" if self.status else "Kayako unreachable"]
        if self.code:
            parts.append(self.code)
        if self.parameter:
            parts.append(f"parameter={self.parameter}")
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text

    @property
    def refused_field(self) -> str | None:
        """Which part of the request Kayako refused, for a validation error the product may repair:
        ``phone``, ``email``, ``requester``, ``channel``, ``priority``, ``type``; None for anything else
        (not a validation error, or a field no repair applies to). The core reads this attribute by name
        (it cannot import adapter classes), so it is the one place where Kayako's parameter names are
        mapped to the product's notions."""
        if self.status not in (400, 422) or self.code not in REPAIRABLE_CODES:
            return None
        parameter = (self.parameter or "").strip("/").split("/")[-1].split(",")[0].lower()
        return REFUSED_FIELDS.get(parameter)


# Validation codes that say "this value is wrong or missing": another value (or none) may be accepted.
REPAIRABLE_CODES = frozenset({"FIELD_INVALID", "FIELD_REQUIRED", "FIELD_EMPTY", "FIELD_DUPLICATE"})
REFUSED_FIELDS = {
    "phone": "phone",
    "number": "phone",
    "phones": "phone",
    "email": "email",
    "emails": "email",
    "requester_id": "requester",
    "channel_id": "channel",
    "channel": "channel",
    "priority_id": "priority",
    "type_id": "type",
}


class KayakoAuthError(KayakoError):
    """Authentication failed (wrong credentials, expired or revoked token, permission denied)."""


class KayakoTwoFactorRequired(KayakoAuthError):
    """The agent account asks for a one-time password: an unattended client cannot log in with it."""

    def __init__(self, status: int = 403, code: str | None = "OTP_EXPECTED", **_: Any) -> None:
        super().__init__(
            status,
            code,
            "the Kayako account has two-factor authentication enabled; use an agent account without 2FA "
            "for KCA_KAYAKO_EMAIL, or switch to KCA_KAYAKO_AUTH=oauth",
        )


class KayakoValidationError(KayakoError):
    """Kayako rejected the request's fields (HTTP 400); retrying the same request cannot help."""


class KayakoNotFound(KayakoError):
    """The resource does not exist (HTTP 404)."""


class KayakoRateLimited(KayakoError):
    """HTTP 429 persisted through every retry. ``retry_after`` is Kayako's last ``Retry-After`` in seconds."""

    def __init__(self, retry_after: float | None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**{"status": 429, **kwargs})


class KayakoServerError(KayakoError):
    """Kayako answered 5xx through every retry."""


class KayakoUnavailable(KayakoError):
    """No answer from Kayako (connection errors or timeouts) through every retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, None, reason)


def error_from_response(status: int, body: Any, retry_after: float | None = None) -> KayakoError:
    """The typed error for a non-success response; ``body`` is the decoded JSON envelope (or anything)."""
    entry: dict[str, Any] = {}
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            entry = errors[0]
    parameter = entry.get("parameter")
    if parameter is None and isinstance(entry.get("parameters"), list):
        parameter = ",".join(str(p) for p in entry["parameters"])
    if parameter is None and entry.get("pointer"):
        parameter = str(entry["pointer"])
    fields: dict[str, Any] = {
        "status": status,
        "code": entry.get("code"),
        "message": entry.get("message"),
        "parameter": parameter,
        "more_info": entry.get("more_info"),
    }
    if fields["code"] == "OTP_EXPECTED":
        return KayakoTwoFactorRequired(status=status)
    if status == 429:
        fields.pop("status")
        return KayakoRateLimited(retry_after, **fields)
    if status in (401, 403, 454):
        return KayakoAuthError(**fields)
    if status == 404:
        return KayakoNotFound(**fields)
    if status in (400, 409, 412, 422):
        return KayakoValidationError(**fields)
    if status >= 500:
        return KayakoServerError(**fields)
    return KayakoError(**fields)
