"""Spoken-text rules: markup and links removed, steps in order, short answers, sentences cut from a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from kayako_call_assistant.dialogue.speech_text import limit_spoken, sentences, speakable, split_sentences


def test_markdown_links_and_lists_become_spoken_steps() -> None:
    text = (
        "## Resetting your password\n"
        "To reset your **password**, see [the guide](https://help.example.com/reset).\n"
        "1. Open *Settings*.\n"
        "2. Click `Reset password`\n"
        "3. Check your email at https://mail.example.com\n"
    )
    assert speakable(text) == (
        "To reset your password, see the guide. First, open Settings. Then, click Reset password. "
        "Finally, check your email."
    )


def test_html_is_flattened_and_entities_resolved() -> None:
    html = (
        "<h2>Export</h2><p>Go to <a href='https://a.example/x'>Reports</a> &amp; choose <b>Export</b>.</p>"
        "<ul><li>Pick a date range</li><li>Press Download</li><li>Open the CSV file</li></ul>"
        "<script>alert(1)</script>"
    )
    assert speakable(html) == (
        "Go to Reports and choose Export. First, pick a date range. Then, press Download. "
        "Finally, open the CSV file."
    )


def test_urls_and_bare_domains_are_dropped_but_emails_kept() -> None:
    spoken = speakable("Visit www.example.com/help or https://x.io for more. Write to help@acme.com today.")
    assert "http" not in spoken and "www" not in spoken and "x.io" not in spoken
    assert "help@acme.com" in spoken


def test_acronyms_keep_their_case_in_steps() -> None:
    assert speakable("- API keys are in Settings\n- Rotate them yearly") == (
        "First, API keys are in Settings. Finally, rotate them yearly."
    )


def test_sentences_respect_abbreviations_decimals_and_initials() -> None:
    text = "Use e.g. the app. Dr. Smith said 3.5 GB is fine! Is it? Yes. J. Smith agrees"
    assert sentences(text) == [
        "Use e.g. the app.",
        "Dr. Smith said 3.5 GB is fine!",
        "Is it?",
        "Yes.",
        "J. Smith agrees",
    ]


def test_limit_spoken_keeps_three_sentences_and_sixty_words() -> None:
    assert limit_spoken("One. Two. Three. Four.") == "One. Two. Three."
    long_second = "Short first. Then " + " ".join(["word"] * 70) + "."
    assert limit_spoken(long_second) == "Short first."
    cut = limit_spoken(" ".join(["word"] * 100) + ".")
    assert len(cut.split()) <= 60 and cut.endswith(".")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdefgh ", min_size=1, max_size=80), min_size=1, max_size=8))
def test_limit_spoken_never_exceeds_the_limits(parts: list[str]) -> None:
    text = " ".join(p.strip() + "." for p in parts if p.strip())
    limited = limit_spoken(text)
    assert len(sentences(limited)) <= 3
    assert len(limited.split()) <= 60


async def _chunks(pieces: list[str]) -> AsyncIterator[str]:
    for piece in pieces:
        yield piece


async def test_split_sentences_releases_each_sentence_from_a_token_stream() -> None:
    pieces = ["Hel", "lo there. Use e.", "g. this", " one. Version 3.", "5 is ok! Then", " done"]
    assert [s async for s in split_sentences(_chunks(pieces))] == [
        "Hello there.",
        "Use e.g. this one.",
        "Version 3.5 is ok!",
        "Then done",
    ]


async def test_split_sentences_yields_a_sentence_before_the_stream_ends() -> None:
    seen: list[str] = []

    async def stream() -> AsyncIterator[str]:
        yield "First sentence. "
        yield "Sec"
        # The first sentence must be out before the rest of the stream is produced.
        assert seen == ["First sentence."]
        yield "ond one."

    async for sentence in split_sentences(stream()):
        seen.append(sentence)
    assert seen == ["First sentence.", "Second one."]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Reset it.", "Open Settings!", "Is it on?", "Use v2.5 now.", "Call Dr. Who."]),
        max_size=6,
    ),
    st.integers(min_value=1, max_value=7),
)
async def test_split_sentences_is_independent_of_chunking(parts: list[str], size: int) -> None:
    text = " ".join(parts)
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    assert [s async for s in split_sentences(_chunks(pieces))] == parts


def test_sentences_that_only_pointed_at_a_link_are_dropped() -> None:
    text = (
        "To export, click here: https://x.example/b. Done here. Also reach us at https://x.example/c anytime."
    )
    assert speakable(text) == "Done here. Also reach us anytime."


def test_strikethrough_and_key_symbols_are_spoken_plainly() -> None:
    assert (
        speakable("Use ~~tildes~~ or press Command ⌘ + Shift ⇧ + V.")
        == "Use tildes or press Command plus Shift plus V."
    )


def test_menu_paths_are_spoken_as_steps() -> None:
    assert speakable("Settings > Privacy > Export data") == "Open Settings, then Privacy, then Export data."
    assert (
        speakable("Go to Settings → Privacy and click Save.")
        == "Go to Settings, then Privacy and click Save."
    )
    assert speakable("<p>Open <b>Account</b> &gt; <b>Billing</b>.</p>") == "Open Account, then Billing."
    assert speakable("It works if 10 > 5.") == "It works if 10 > 5."  # numbers are not a menu


def test_asides_emoticons_and_markup_leftovers_are_not_read() -> None:
    spoken = speakable("Enter a nickname (optional) and press **Save** :)\n😀 &nbsp;Done!")
    assert spoken == "Enter a nickname and press Save. Done!"
    assert (
        speakable("Pick a format (for example PDF) to export.")
        == "Pick a format, for example PDF, to export."
    )


def test_numbers_units_and_abbreviations_read_naturally() -> None:
    assert (
        speakable("Uploads up to 25MB take 5-10 min.") == "Uploads up to 25 megabytes take 5 to 10 minutes."
    )
    assert speakable("It costs $4.99, i.e. 20% less.") == "It costs 4.99 dollars, that is 20 percent less."
    assert speakable("We answer 24/7.") == "We answer 24 hours a day, 7 days a week."
