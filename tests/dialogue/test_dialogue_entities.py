"""The shared entity parsers on the ways callers actually say things."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayako_call_assistant.dialogue.entities import (
    parse_case_number,
    parse_email,
    parse_name,
    parse_phone,
    speak_email,
    spell_out_digits,
    words_to_digits,
)

NATO = {
    "a": "alpha", "b": "bravo", "c": "charlie", "d": "delta", "e": "echo", "f": "foxtrot", "g": "golf",
    "h": "hotel", "i": "india", "j": "juliet", "k": "kilo", "l": "lima", "m": "mike", "n": "november",
    "o": "oscar", "p": "papa", "q": "quebec", "r": "romeo", "s": "sierra", "t": "tango", "u": "uniform",
    "v": "victor", "w": "whiskey", "x": "x-ray", "y": "yankee", "z": "zulu",
}  # fmt: skip
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPOKEN_SEPARATORS = {".": "dot", "_": "underscore", "-": "dash"}
# Words the parser gives a meaning of their own; generated email words avoid them.
_MEANINGFUL = """
at oh o plus point period hyphen minus double triple treble capital upper lower small letter case is its email
address me be use try was as in for like under score full stop sign symbol the rate of um uh er erm hmm so yes
yeah yep sure okay ok well right sorry actually wait oops mean meant make that scratch correction rather
thanks thank you no it emails mail thats uppercase lowercase ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fourty fifty sixty seventy eighty ninety
hundred dot dash underscore
"""
RESERVED = set(NATO.values()) | set(DIGIT_WORDS) | set(SPOKEN_SEPARATORS.values()) | set(_MEANINGFUL.split())

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9).filter(
    lambda w: w not in RESERVED
)
tld = st.sampled_from(["com", "org", "net", "io", "co", "de", "uk"])


@st.composite
def emails(draw: st.DrawFn) -> str:
    words = draw(st.lists(word, min_size=1, max_size=3))
    seps = draw(
        st.lists(st.sampled_from(list(SPOKEN_SEPARATORS)), min_size=len(words) - 1, max_size=len(words) - 1)
    )
    local = words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
    domain = draw(word) + "." + draw(tld)
    return f"{local}@{domain}"


def spoken_words(email: str) -> str:
    local, domain = email.split("@")
    parts = []
    for ch_run in __import__("re").split(r"([._-])", local):
        parts.append(SPOKEN_SEPARATORS.get(ch_run, ch_run))
    return " ".join(parts) + " at " + domain.replace(".", " dot ")


@settings(max_examples=150, deadline=None)
@given(emails())
def test_any_email_said_with_dot_at_underscore_dash_parses_back(email: str) -> None:
    assert parse_email(spoken_words(email)) == email
    assert parse_email(f"sure, my email address is {spoken_words(email)}, thanks") == email


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10), word, tld)
def test_spelled_letters_and_nato_alphabet_parse(letters: str, domain: str, top: str) -> None:
    spelled = " ".join(letters)
    assert parse_email(f"{spelled} at {domain} dot {top}") == f"{letters}@{domain}.{top}"
    nato = " ".join(NATO[ch] for ch in letters)
    if len(letters) > 1:  # a single NATO word alone is a name ("mike"), not a spelled letter
        assert parse_email(f"{nato} at {domain} dot {top}") == f"{letters}@{domain}.{top}"


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z][a-z0-9]{0,6}(?:[._+-][a-z0-9]{1,6}){0,2}@[a-z][a-z0-9]{1,8}(?:-[a-z0-9]{1,5})?\.[a-z]{2,4}",
                  fullmatch=True)
)  # fmt: skip
def test_read_back_form_parses_back_to_the_same_email(email: str) -> None:
    assert parse_email(speak_email(email)) == email


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("john dot smith at gmail dot com", "john.smith@gmail.com"),
        ("It's John.Smith@Gmail.com.", "john.smith@gmail.com"),
        ("j o h n dot smith at gmail dot com", "john.smith@gmail.com"),
        ("J. O. H. N. at yahoo dot co dot uk", "john@yahoo.co.uk"),
        ("my email address is mary underscore jones at outlook dot com", "mary_jones@outlook.com"),
        ("mary hyphen jane at example dot org", "mary-jane@example.org"),
        ("bob plus news at fastmail dot fm", "bob+news@fastmail.fm"),
        ("alpha bravo charlie at gmail dot com", "abc@gmail.com"),
        ("s as in sam, m, i, t for tango, h at gmail dot com", "smith@gmail.com"),
        ("double l o y d at gmail dot com", "lloyd@gmail.com"),
        ("capital j o n at gmail dot com", "jon@gmail.com"),
        ("jon two three at gmail dot com", "jon23@gmail.com"),
        ("jon twenty three at gmail dot com", "jon23@gmail.com"),
        ("you can reach me at pat at example dot org", "pat@example.org"),
        ("mike dot smith at gmail dot com", "mike.smith@gmail.com"),
        ("john at the rate gmail dot com", "john@gmail.com"),
        ("um it's john at g mail dot com", "john@gmail.com"),
        ("john at gmail dot com, sorry, at yahoo dot com", "john@yahoo.com"),
        ("j o h n at gmail dot com, actually make that j o n", "jon@gmail.com"),
        ("john at gmail dot com no wait jane at gmail dot com", "jane@gmail.com"),
        ("john at gmail dot com sorry about that", "john@gmail.com"),
    ],
)
def test_spoken_emails(said: str, expected: str) -> None:
    assert parse_email(said) == expected


@pytest.mark.parametrize("said", ["", "I don't have one", "john at gmail", "call me tomorrow", "at dot com"])
def test_no_email_when_there_is_none(said: str) -> None:
    assert parse_email(said) is None


def test_speak_email_spells_short_parts_and_says_long_words() -> None:
    assert speak_email("john.smith@gmail.com") == "j o h n dot smith at gmail dot com"
    assert speak_email("jo_23@ex-ample.io") == "j o underscore two three at e x dash ample dot i o"


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("four five six", "456"),
        ("double five", "55"),
        ("triple seven", "777"),
        ("oh four two", "042"),
        ("one o one", "101"),
        ("twenty three", "23"),
        ("twelve thirty four", "1234"),
        ("eight hundred five five five", "800555"),
        ("one hundred and twenty three", "123"),
        ("my number is five five five, one two three four", "my number is 5551234"),
        ("oh hello", "oh hello"),
    ],
)
def test_words_to_digits(said: str, digits: str) -> None:
    assert words_to_digits(said) == digits


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=15))
def test_spelled_out_digits_read_back_to_the_same_digits(digits: str) -> None:
    spoken = spell_out_digits(digits)
    assert len(spoken.split()) == len(digits)
    assert words_to_digits(spoken) == digits


def test_spell_out_digits_of_a_number_and_a_phone() -> None:
    assert spell_out_digits(1203) == "one two zero three"
    assert spell_out_digits("+1 415") == "one four one five"


@pytest.mark.parametrize(
    ("said", "e164"),
    [
        ("four one five five five five zero one two three", "+14155550123"),
        ("four one five, double five five, oh one two three", "+14155550123"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("my number is 415 555 0123 thanks", "+14155550123"),
        ("plus four four two zero seven nine four six zero nine five eight", "+442079460958"),
        ("four one five five five five zero one two three, sorry, four one five five five five zero one nine nine", "+14155550199"),
    ],
)  # fmt: skip
def test_spoken_phone_numbers_to_e164(said: str, e164: str) -> None:
    assert parse_phone(said) == e164


def test_phone_default_region_and_invalid_numbers() -> None:
    assert (
        parse_phone("oh two oh seven nine four six oh nine five eight", default_region="GB")
        == "+442079460958"
    )
    assert parse_phone("five five five one two") is None
    assert parse_phone("no phone") is None


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("case one two three", 123),
        ("ticket #4567", 4567),
        ("it's twelve thirty four", 1234),
        ("my case number is 4 5 6", 456),
        ("case number one oh oh five", 1005),
        ("I called 2 days ago about case 789", 789),
        ("case one two three, sorry, one two four", 124),
    ],
)
def test_case_numbers(said: str, number: int) -> None:
    assert parse_case_number(said) == number


def test_no_case_number() -> None:
    assert parse_case_number("I don't have it") is None


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("my name is john smith", "John Smith"),
        ("It's Mary.", "Mary"),
        ("hi, this is bob calling about my account", "Bob"),
        ("I'm Ana-Lucia", "Ana-Lucia"),
        ("my name's o'brien", "O'Brien"),
        ("john, no sorry, jon with no h", "Jon"),
        ("j o h n, actually make that j o n", "Jon"),
        ("call me Liz", "Liz"),
    ],
)
def test_names(said: str, name: str) -> None:
    assert parse_name(said) == name


@pytest.mark.parametrize(
    "said", ["I'm having trouble logging in", "it's not working", "I'm not sure", "hello"]
)
def test_no_name_in_ordinary_sentences(said: str) -> None:
    assert parse_name(said) is None


def test_bare_name_when_a_name_was_asked_for() -> None:
    assert parse_name("Mary Jones", bare=True) == "Mary Jones"
    assert parse_name("Mary Jones") is None
    assert parse_name("yes", bare=True) is None


@pytest.mark.parametrize(
    ("said", "email"),
    [
        ("sure it's j o n dot b r e w e r at gmail dot com", "jon.brewer@gmail.com"),
        ("double u i l l at gmail dot com", "will@gmail.com"),
        ("sarah jones all one word at gmail dot com", "sarahjones@gmail.com"),
        ("it's all lowercase, n o a h at gmail dot com", "noah@gmail.com"),
        ("it's olivia two thousand at gmail dot com", "olivia2000@gmail.com"),
        ("it's ben at gee mail dot com", "ben@gmail.com"),
        ("my email's liam at gmail dot com", "liam@gmail.com"),
        ("it's peter at gmail dot com no wait it's peter at hotmail dot com", "peter@hotmail.com"),
    ],
)
def test_spoken_email_forms(said: str, email: str) -> None:
    assert parse_email(said) == email


def test_spoken_emails_held_out_split() -> None:
    data = Path(__file__).resolve().parents[2] / "bench" / "data" / "spoken_emails.jsonl"
    rows = [
        r for r in map(json.loads, data.read_text(encoding="utf-8").splitlines()) if r["split"] == "heldout"
    ]
    assert len(rows) >= 40
    exact = sum(parse_email(r["text"]) == r["email"] for r in rows)
    assert exact / len(rows) >= 0.95


def test_case_numbers_are_read_in_groups() -> None:
    from kayako_call_assistant.dialogue.entities import speak_case_number

    assert speak_case_number(80012345678) == "eight zero zero, one two three, four five six, seven eight"
    assert speak_case_number(80012345678, 2) == "eighty, oh one, twenty three, forty five, sixty seven, eight"
    assert speak_case_number(8001, 0) == "eight zero zero one"


def test_a_repeated_letter_before_a_scale_word_is_no_number() -> None:
    # "double o thousand" once raised ValueError (int("oo")) in the middle of a call turn.
    email = parse_email("j double o thousand at gmail dot com")
    assert email is not None and email.startswith("joo") and email.endswith("@gmail.com")
