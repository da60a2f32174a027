"""docs/configuration.md lists every setting with its default: it is the output of `kca config --markdown`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kayako_call_assistant.cli.main import app, settings_markdown
from kayako_call_assistant.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_markdown(), (
        "run: kca config --markdown > docs/configuration.md"
    )


def test_every_setting_is_documented_with_a_description() -> None:
    for name, info in Settings.model_fields.items():
        assert info.description, f"KCA_{name.upper()} has no description"
        assert f"`KCA_{name.upper()}`" in settings_markdown()


def test_cli_prints_the_same_markdown() -> None:
    result = CliRunner().invoke(app, ["config", "--markdown"])
    assert result.exit_code == 0
    assert result.output == settings_markdown()
