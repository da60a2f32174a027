"""Pure helpers of the Kayako client: error mapping, Retry-After, metric labels, locale fields, config."""

from __future__ import annotations

import email.utils
import time

import pytest
from pydantic import SecretStr

from kayako_call_assistant.kayako import config_from_settings
from kayako_call_assistant.kayako.client import KayakoConfig, path_template, retry_after_seconds
from kayako_call_assistant.kayako.errors import (
    KayakoAuthError,
    KayakoNotFound,
    KayakoRateLimited,
    KayakoServerError,
    KayakoTwoFactorRequired,
    KayakoValidationError,
    error_from_response,
)
from kayako_call_assistant.kayako.helpdesk import idempotency_tag
from kayako_call_assistant.kayako.resources import localized, ref_id
from kayako_call_assistant.settings import Settings


def _body(code: str, **extra: object) -> dict[str, object]:
    return {"status": 400, "errors": [{"code": code, "message": "m", **extra}]}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "FIELD_REQUIRED", KayakoValidationError),
        (401, "AUTHENTICATION_FAILED", KayakoAuthError),
        (403, "OTP_EXPECTED", KayakoTwoFactorRequired),
        (404, "RESOURCE_NOT_FOUND", KayakoNotFound),
        (429, "RATE_LIMIT_REACHED", KayakoRateLimited),
        (503, "EXCEPTION_CAUGHT", KayakoServerError),
    ],
)
def test_kayako_errors_map_status_and_keep_kayako_fields(status: int, code: str, kind: type) -> None:
    error = error_from_response(status, _body(code, parameter="email", more_info="https://x"), 7.0)
    assert type(error) is kind
    assert error.status == status
    assert error.code == code
    if kind is not KayakoTwoFactorRequired:
        assert error.parameter == "email"
        assert error.more_info == "https://x"
    if kind is KayakoRateLimited:
        assert isinstance(error, KayakoRateLimited)
        assert error.retry_after == 7.0


def test_kayako_error_parameters_list_and_non_json_body() -> None:
    error = error_from_response(400, _body("ANY_FIELD_REQUIRED", parameters=["email", "phone"]))
    assert error.parameter == "email,phone"
    assert "ANY_FIELD_REQUIRED" in str(error)
    bare = error_from_response(502, "<html>bad gateway</html>")
    assert isinstance(bare, KayakoServerError)
    assert bare.code is None


def test_kayako_two_factor_message_says_what_to_do() -> None:
    assert "two-factor" in str(KayakoTwoFactorRequired())


def test_kayako_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = retry_after_seconds(later)
    assert value is not None
    assert 25 <= value <= 31


def test_kayako_path_template_hides_ids_and_suffix() -> None:
    root = "https://acme.kayako.com/api/v1"
    assert path_template(f"{root}/cases/123/posts.json?limit=5", root) == "/cases/{id}/posts"
    assert path_template("https://acme.kayako.com/oauth/token", root) == "/oauth/token"


def test_kayako_locale_fields_resolved_by_code_then_language_then_first() -> None:
    fields = [
        {"locale": "de", "translation": "Passwort"},
        {"locale": "en-gb", "translation": "Password (GB)"},
        {"locale": "en-US", "translation": "Password"},
    ]
    assert localized(fields, "en-us") == "Password"
    assert localized(fields, "en-au") == "Password (GB)"
    assert localized(fields, "fr-fr") == "Passwort"
    assert localized([{"id": 3, "resource_type": "locale_field"}], "en-us") is None
    assert ref_id({"id": "42", "resource_type": "user"}) == 42
    assert ref_id(None) is None


def test_kayako_idempotency_tag_is_stable_and_distinct() -> None:
    assert idempotency_tag("call-1") == idempotency_tag("call-1")
    assert idempotency_tag("call-1") != idempotency_tag("call-2")
    assert idempotency_tag("call-1").startswith("kca-")


def test_kayako_config_defaults_to_embedded_mock_and_derives_token_url() -> None:
    config = config_from_settings(Settings(kayako_base_url="", kayako_email="", kayako_mock_port=8123))
    assert config.base_url == "http://127.0.0.1:8123/api/v1"
    assert config.email == "agent@example.com"
    real = config_from_settings(
        Settings(
            kayako_base_url="https://acme.kayako.com/api/v1/",
            kayako_email="a@acme.com",
            kayako_password=SecretStr("pw"),
        )
    )
    assert real.api_root == "https://acme.kayako.com/api/v1"
    assert real.token_url == "https://acme.kayako.com/oauth/token"
    assert "pw" not in repr(real)
    assert KayakoConfig(base_url="x", oauth_token_url="https://t/token").token_url == "https://t/token"
