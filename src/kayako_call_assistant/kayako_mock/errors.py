"""Kayako's error envelope: ``{"status", "errors": [{code, message, parameter|parameters, more_info}]}``."""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://developer.kayako.com/api/v1/reference/errors/"

MESSAGES = {
    "AUTHENTICATION_FAILED": "Used authentication credentials are invalid or signature verification failed",
    "CSRF_FAILED": "The CSRF token is missing or does not match the session",
    "EXCEPTION_CAUGHT": "An unexpected error occurred while handling the request",
    "FIELD_DUPLICATE": "The value of the field must be unique",
    "FIELD_EMPTY": "The value of the field cannot be empty",
    "FIELD_INVALID": "The value of the field is invalid",
    "FIELD_REQUIRED": "This action requires the field to be specified",
    "METHOD_NOT_SUPPORTED": "The method is not supported by this resource",
    "OTP_EXPECTED": "A one-time password is required to complete the login",
    "PARAMETER_INVALID": "The value of the parameter is invalid",
    "PARAMETERS_INCONSISTENT": "A value given both as a header and as an argument differs",
    "RATE_LIMIT_REACHED": "The rate limit for this action has been reached",
    "RESOURCE_NOT_FOUND": "Resource does not exist or has been removed",
    "SESSION_LOADING_FAILED": "The session does not exist or has expired",
}


class MockError(Exception):
    """An API error answered as Kayako would; ``errors`` holds one entry per problem."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        parameter: str | None = None,
        parameters: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.errors = [error_entry(code, message, parameter=parameter, parameters=parameters)]
        self.headers = headers or {}
        self.extra = extra or {}

    @classmethod
    def many(cls, status: int, entries: list[dict[str, Any]]) -> MockError:
        error = cls(status, entries[0]["code"])
        error.errors = entries
        return error

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "errors": self.errors, **self.extra}


def error_entry(
    code: str,
    message: str | None = None,
    *,
    parameter: str | None = None,
    parameters: list[str] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": code, "message": message or MESSAGES.get(code, code)}
    if parameter is not None:
        entry["parameter"] = parameter
    if parameters is not None:
        entry["parameters"] = parameters
    entry["more_info"] = MORE_INFO + code
    return entry


def not_found(what: str = "resource") -> MockError:
    return MockError(404, "RESOURCE_NOT_FOUND", f"{MESSAGES['RESOURCE_NOT_FOUND']} ({what})")


def required(parameter: str) -> dict[str, Any]:
    return error_entry("FIELD_REQUIRED", parameter=parameter)


def invalid(parameter: str, message: str | None = None) -> dict[str, Any]:
    return error_entry("FIELD_INVALID", message, parameter=parameter)
