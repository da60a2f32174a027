"""Production fails closed, and every configuration or usage mistake is one line naming what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kayako_call_assistant import config_check
from kayako_call_assistant.cli.main import app, masked_url
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN

SAFE = {
    "KCA_ENVIRONMENT": "production",
    "KCA_KAYAKO_BASE_URL": "https://acme.kayako.com/api/v1",
    "KCA_KAYAKO_EMAIL": "agent@acme.example",
    "KCA_KAYAKO_PASSWORD": "pw",
    "KCA_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "KCA_PUBLIC_URL": "https://voice.acme.example",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean KCA_ environment, with the data directory in a temporary folder."""
    import os

    for name in list(os.environ):
        if name.startswith("KCA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KCA_DATA_DIR", str(tmp_path / "var"))
    return monkeypatch


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_environment_is_inferred_from_https_or_a_real_account_unless_development_is_asked(
    env: object,
) -> None:
    assert _settings().environment == "development"
    assert _settings(public_url="https://voice.acme.example").environment == "production"
    real_sid = "AC" + "0123456789abcdef" * 2
    assert _settings(twilio_account_sid=real_sid).environment == "production"
    assert _settings(twilio_account_sid="AC_development").environment == "development"
    explicit = _settings(public_url="https://voice.acme.example", environment="development")
    assert explicit.environment == "development" and not explicit.production_rules
    assert _settings(environment="staging").production_rules


def test_each_unsafe_default_is_its_own_problem_in_production_and_staging(env: object) -> None:
    for environment in ("production", "staging"):
        problems = config_check.static_problems(_settings(environment=environment, workers=4))
        variables = [problem.variable for problem in problems]
        assert variables == [
            "KCA_KAYAKO_BASE_URL",
            "KCA_KAYAKO_EMAIL",
            "KCA_TWILIO_AUTH_TOKEN",
            "KCA_PUBLIC_URL",
            "KCA_DATABASE_URL",
        ]
    assert config_check.static_problems(_settings(workers=4)) == []  # development: no rule applies


def test_the_published_development_token_is_refused(env: object) -> None:
    values: dict[str, object] = {k.removeprefix("KCA_").lower(): v for k, v in SAFE.items()}
    settings = _settings(**{**values, "twilio_auth_token": DEVELOPMENT_AUTH_TOKEN})
    assert [p.line() for p in config_check.static_problems(settings)] == [
        "KCA_TWILIO_AUTH_TOKEN: is the published development token; set the account's Auth Token"
    ]


def test_safe_production_settings_pass_the_static_rules(env: object) -> None:
    settings = _settings(**{k.removeprefix("KCA_").lower(): v for k, v in SAFE.items()})
    assert config_check.static_problems(settings) == []
    multi = settings.model_copy(update={"workers": 3, "database_url": "postgresql+asyncpg://u@h/db"})
    assert config_check.static_problems(multi) == []


def test_config_check_prints_the_verdicts_and_exits_2(env: pytest.MonkeyPatch) -> None:
    env.setenv("KCA_PUBLIC_URL", "https://voice.acme.example")
    result = CliRunner().invoke(app, ["config", "check", "--json"])
    assert result.exit_code == 2, result.output
    verdict = json.loads(result.stdout)
    assert verdict["environment"] == "production"
    assert verdict["inferred_from"] == "KCA_PUBLIC_URL is https"
    variables = [problem["variable"] for problem in verdict["problems"]]
    assert variables[:3] == ["KCA_KAYAKO_BASE_URL", "KCA_KAYAKO_EMAIL", "KCA_TWILIO_AUTH_TOKEN"]
    text = CliRunner().invoke(app, ["config", "check"])
    assert text.exit_code == 2
    assert "problem: KCA_KAYAKO_BASE_URL: empty" in text.stdout


def test_config_check_in_development_is_ok(env: object) -> None:
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["environment: development", "ok"]


def test_config_check_wants_an_admin_token_in_production(env: pytest.MonkeyPatch) -> None:
    for name, value in SAFE.items():
        env.setenv(name, value)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    missing = CliRunner().invoke(app, ["config", "check", "--json"])
    assert missing.exit_code == 2
    assert [p["variable"] for p in json.loads(missing.stdout)["problems"]] == ["admin token"]
    assert CliRunner().invoke(app, ["db", "tokens", "create", "ops"]).exit_code == 0
    ok = CliRunner().invoke(app, ["config", "check", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True


def test_serve_refuses_to_start_with_one_line_per_problem(env: pytest.MonkeyPatch) -> None:
    env.setenv("KCA_ENVIRONMENT", "production")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert all(line.startswith("error: refusing to start (production): ") for line in lines), lines
    assert len(lines) == 4  # Kayako URL, Kayako credentials, Twilio token, https public URL
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("KCA_PORT", "abc", "KCA_PORT=abc: Input should be a valid integer"),
        ("KCA_PORT", "70000", "KCA_PORT=70000: Input should be less than or equal to 65535"),
        (
            "KCA_ALWAYS_HUMAN_TOPICS",
            "billing_dispute",
            "KCA_ALWAYS_HUMAN_TOPICS=billing_dispute: expected a JSON array",
        ),
        ("KCA_VAD_AGGRESSIVENESS", "7", "KCA_VAD_AGGRESSIVENESS=7: Input should be less than or equal to 3"),
        ("KCA_END_OF_TURN_SILENCE_MS", "-5", "KCA_END_OF_TURN_SILENCE_MS=-5: Input should be greater than 0"),
        ("KCA_IDLE_TIMEOUT_SECONDS", "-1", "KCA_IDLE_TIMEOUT_SECONDS=-1: Input should be greater than 0"),
        (
            "KCA_PUBLIC_URL",
            "voice.acme.example",
            "KCA_PUBLIC_URL=voice.acme.example: expected an absolute URL",
        ),
        ("KCA_KAYAKO_BASE_URL", "ftp://x", "KCA_KAYAKO_BASE_URL=ftp://x: expected an absolute URL"),
        ("KCA_REDIS_URL", "localhost:6379", "KCA_REDIS_URL=localhost:6379: expected an absolute URL"),
        ("KCA_ENVIRONMENT", "prod", "KCA_ENVIRONMENT=prod: Input should be 'development', 'staging' or"),
    ],
)
def test_each_bad_setting_is_one_line_naming_the_variable(
    env: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    env.setenv(variable, value)
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.splitlines()[0]]
    assert result.stderr.startswith(f"error: {expected}"), result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback_instead(env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["--debug", "report", "--since", "yesterday"])
    assert result.exit_code != 0 and result.exception is not None


def test_cli_usage_errors_are_one_line(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEgarbagegarbage")
    cases = {
        ("stt", str(garbage)): f"error: AUDIO {garbage}: not a readable 16-bit PCM WAV file",
        (
            "tts",
            "hello",
            "-o",
            "/missing/x.wav",
        ): "error: --output /missing/x.wav: directory /missing does not exist",
        ("report", "--since", "yesterday"): "error: --since 'yesterday': expected an ISO date or time",
        (
            "call",
            "--say",
            "hello",
            "--url",
            "http://127.0.0.1:9",
        ): "error: --url http://127.0.0.1:9: no server answers",
    }
    for args, expected in cases.items():
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (args, result.stderr)


def test_report_accepts_iso_dates_and_spans(env: pytest.MonkeyPatch) -> None:
    for since in ("2026-08-27", "2026-08-27T09:00:00+00:00", "24h", "7d", "30m"):
        result = CliRunner().invoke(app, ["report", "--json", "--since", since])
        assert result.exit_code == 0, (since, result.output)


def test_kca_config_masks_database_and_redis_passwords(env: pytest.MonkeyPatch) -> None:
    env.setenv("KCA_DATABASE_URL", "postgresql+asyncpg://kca:s3cret-pw@db.internal:5432/kca")
    env.setenv("KCA_REDIS_URL", "redis://:r3dis-pw@cache.internal:6379/0")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0
    assert "s3cret-pw" not in result.stdout and "r3dis-pw" not in result.stdout
    assert "KCA_DATABASE_URL=postgresql+asyncpg://kca:***@db.internal:5432/kca" in result.stdout
    assert masked_url("sqlite+aiosqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"


def test_a_signature_for_another_host_is_refused_unless_a_trusted_proxy_names_it() -> None:
    from starlette.datastructures import URL, Headers
    from twilio.request_validator import RequestValidator

    from kayako_call_assistant.telephony.signature import TwilioSignatures

    signatures = TwilioSignatures(["tok"], "https://voice.acme.example", trusted_proxies="10.0.0.0/8")
    params = {"CallSid": "CA1"}
    other = RequestValidator("tok").compute_signature("https://staging.acme.example/twilio/voice", params)
    url = URL("https://staging.acme.example/twilio/voice")
    headers = Headers({"host": "staging.acme.example"})
    assert not signatures.valid(other, url, headers, params, peer="198.51.100.7")
    assert not signatures.valid(other, url, headers, params)
    assert signatures.valid(other, url, headers, params, peer="10.1.2.3")
    ours = RequestValidator("tok").compute_signature("https://voice.acme.example/twilio/voice", params)
    assert signatures.valid(ours, url, headers, params, peer="198.51.100.7")
    assert TwilioSignatures(["tok"], "https://x.example", trusted_proxies="*").trusts("198.51.100.7")
