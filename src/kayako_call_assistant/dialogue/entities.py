"""Contact details and numbers as callers say them, and back again as the assistant reads them out.

Speech-to-text gives words, not symbols: "john dot smith at gmail dot com", "four one five, double five…",
spelled letters, the NATO alphabet and mid-sentence corrections. Both language engines and the call flow
use these parsers, so a detail is understood the same way whichever engine is running. Phone numbers are
validated and formatted (E.164) by ``phonenumbers``; the spoken-word handling is ours because no library
covers spoken emails and digit words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import phonenumbers

from ..linear_re import compile_linear

# --- Vocabulary --------------------------------------------------------------------------------------

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_REPEATERS = {"double": 2, "triple": 3, "treble": 3}
_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_NATO = {
    "alpha": "a",
    "alfa": "a",
    "bravo": "b",
    "charlie": "c",
    "delta": "d",
    "echo": "e",
    "foxtrot": "f",
    "golf": "g",
    "hotel": "h",
    "india": "i",
    "juliet": "j",
    "juliett": "j",
    "kilo": "k",
    "lima": "l",
    "mike": "m",
    "november": "n",
    "oscar": "o",
    "papa": "p",
    "quebec": "q",
    "romeo": "r",
    "sierra": "s",
    "tango": "t",
    "uniform": "u",
    "victor": "v",
    "whiskey": "w",
    "whisky": "w",
    "x-ray": "x",
    "xray": "x",
    "yankee": "y",
    "zulu": "z",
}

_SEPARATOR_WORDS = {
    "dot": ".",
    "period": ".",
    "point": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
    "minus": "-",
    "plus": "+",
    ".": ".",
    "_": "_",
    "-": "-",
    "+": "+",
}
_TWO_WORD_SEPARATORS = {("under", "score"): "_", ("full", "stop"): "."}
_AT_PHRASES = (
    ("at", "the", "rate", "of"),
    ("at", "the", "rate"),
    ("at", "sign"),
    ("at", "symbol"),
    ("at",),
    ("@",),
)
_CASE_WORDS = frozenset({"capital", "uppercase", "upper", "lowercase", "lower", "small", "letter", "case"})

# Words that end the lead-in before an email's local part ("my email address is …", "reach me at …").
_EMAIL_LEAD_IN_END = frozenset(
    {
        "is",
        "it's",
        "its",
        "email",
        "email's",
        "e-mail",
        "emails",
        "address",
        "that's",
        "thats",
        "me",
        "be",
        "use",
        "try",
        "was",
    }
)
_FILLERS = frozenset(
    {"um", "uh", "er", "erm", "hmm", "so", "yes", "yeah", "yep", "sure", "okay", "ok", "well", "right"}
)
_TRAILING_POLITENESS = compile_linear(  # RE2: the leading run made Python's engine quadratic
    r"[,.!\s]*\b(?:sorry|thanks|thank you)(?: (?:about|for) that)?[.!\s]*$", ignore_case=True
)

# A correction restarts the detail: what follows the last marker replaces what came before it.
_CORRECTION = re.compile(
    r"\b(?:actually|i mean|i meant|sorry|make (?:that|it)|scratch that|correction|"
    r"let me correct(?: that| myself)?"
    r"|oops|or rather|no no|no wait|wait)\b[,.:;!]*",
    re.IGNORECASE,
)

# RE2 (linear time): with Python's backtracking engine these took time quadratic in an utterance's length.
_EMAIL_RE = compile_linear(
    r"^[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9_])?@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.[a-z]{2,}$"
)
_WRITTEN_EMAIL = compile_linear(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", ignore_case=True)


# How callers say what is not a character: "all one word", "all lowercase", "no spaces".
_FORMAT_NOTES = re.compile(
    r"[,\s]*\b(?:(?:and |it'?s |that'?s )?all (?:one word|together|lower ?case|in lower ?case|small(?: letters)?)|"
    r"(?:as |in )?one word|no spaces?|(?:all )?lower ?case(?: letters)?)\b[,.]?",
    re.IGNORECASE,
)
_DOUBLE_U = re.compile(r"\bdouble[- ]?(?:u|you)\b", re.IGNORECASE)  # the letter w, not "uu"
# Mail providers as speech recognition splits them ("gee mail", "hot mail").
_PROVIDERS = (
    (re.compile(r"\b(?:gee|g) ?mail\b", re.IGNORECASE), "gmail"),
    (re.compile(r"\bhot ?mail\b", re.IGNORECASE), "hotmail"),
    (re.compile(r"\bout ?look\b", re.IGNORECASE), "outlook"),
    (re.compile(r"\b(?:i|eye) ?cloud\b", re.IGNORECASE), "icloud"),
    (re.compile(r"\bya ?hoo\b", re.IGNORECASE), "yahoo"),
    (re.compile(r"\bproton ?mail\b", re.IGNORECASE), "protonmail"),
)


def _email_words(text: str) -> str:
    """Spoken-email text with formatting notes dropped and the letter "double u" and providers mended."""
    text = _DOUBLE_U.sub(" w ", _FORMAT_NOTES.sub(" ", text))
    for pattern, provider in _PROVIDERS:
        text = pattern.sub(provider, text)
    return text


def _tokens(text: str) -> list[str]:
    """Lower-case words; symbols an email needs stay inside tokens, a trailing full stop does not."""
    raw = re.findall(r"[a-z0-9@._+'\-]+", text.lower())
    out: list[str] = []
    for token in raw:
        core = token if token in _SEPARATOR_WORDS else token.strip(".'-")
        if not core:
            continue
        if "@" in core and core != "@":
            left, _, right = core.partition("@")
            out.extend(part for part in (left, "@", right) if part)
        else:
            out.append(core)
    return out


def _split_corrections(text: str) -> list[str]:
    text = _TRAILING_POLITENESS.sub("", text)
    return [part.strip(" ,.;:") for part in _CORRECTION.split(text) if part.strip(" ,.;:")]


# --- Numbers -----------------------------------------------------------------------------------------


def _number_value(token: str) -> int | None:
    if token in _UNITS:
        return _UNITS[token]
    if token in _TEENS:
        return _TEENS[token]
    if token in _TENS:
        return _TENS[token]
    return None


def _number_spans(tokens: Sequence[str], *, o_is_letter: bool) -> list[tuple[str, int, bool]]:
    """Number words to digit strings: (text, index of the first word used, converted?).

    "twenty three" → "23", "double five" → "55", "eight hundred" → "800". ``o_is_letter``: in an email
    "o" is a letter, while "oh" still means zero next to other digits.
    """
    out: list[tuple[str, int, bool]] = []
    i, n = 0, len(tokens)

    def is_digitish(j: int) -> bool:
        return 0 <= j < n and (tokens[j].isdigit() or _number_value(tokens[j]) is not None)

    def below_scale(j: int, *, lone_unit: Callable[[int], bool]) -> tuple[int, int, bool]:
        """The tens, teens or unit said after "hundred"/"thousand", starting at token ``j``: (value, the
        next token's index, whether anything was taken). A lone unit is taken only when ``lone_unit(j)``."""
        rest = tokens[j] if j < n else ""
        if rest in _TENS:
            value, j = _TENS[rest], j + 1
            if j < n and tokens[j] in _UNITS and _UNITS[tokens[j]] > 0:
                value, j = value + _UNITS[tokens[j]], j + 1
            return value, j, True
        if rest in _TEENS or (rest in _UNITS and _UNITS[rest] > 0 and lone_unit(j)):
            return _number_value(rest) or 0, j + 1, True
        return 0, j, False

    while i < n:
        word = tokens[i]
        nxt = tokens[i + 1] if i + 1 < n else ""
        if word in _REPEATERS and nxt:
            digit = str(_UNITS[nxt]) if nxt in _UNITS else ("0" if nxt == "oh" else None)
            if digit is None and len(nxt) == 1 and (nxt.isdigit() or nxt.isalpha()):
                digit = "0" if nxt == "o" and not o_is_letter else nxt
            if digit is not None:
                out.append((digit * _REPEATERS[word], i, True))
                i += 2
                continue
        if word in _TENS and nxt in _UNITS and _UNITS[nxt] > 0:
            out.append((str(_TENS[word] + _UNITS[nxt]), i, True))
            i += 2
            continue
        if word == "hundred" and out and out[-1][0].isdigit() and len(out[-1][0]) == 1:
            # "one hundred five" is 105, but "eight hundred five five five" is 800 then 555.
            extra, j, matched = below_scale(
                i + 1 + (1 if nxt == "and" else 0), lone_unit=lambda k: not (k + 1 < n and is_digitish(k + 1))
            )
            out[-1] = (str(int(out[-1][0]) * 100 + extra), out[-1][1], True)
            i = j if matched else i + 1
            continue
        # (a repeated letter, "double o", is converted too but is no number to scale)
        if word == "thousand" and out and out[-1][0].isdigit() and int(out[-1][0]) < 100:
            # "two thousand" → 2000, "twenty twenty" stays two numbers; "two thousand five" → 2005.
            extra, i, _ = below_scale(i + 1 + (1 if nxt == "and" else 0), lone_unit=lambda _k: True)
            out[-1] = (str(int(out[-1][0]) * 1000 + extra), out[-1][1], True)
            continue
        number = _number_value(word)
        if number is not None:
            out.append((str(number), i, True))
        elif (
            word in ("oh", "o")
            and (word == "oh" or not o_is_letter)
            and (is_digitish(i - 1) or is_digitish(i + 1))
        ):
            out.append(("0", i, True))
        else:
            out.append((word, i, False))
        i += 1
    return out


def _convert_numbers(tokens: Sequence[str], *, o_is_letter: bool) -> list[str]:
    return [text for text, _, _ in _number_spans(tokens, o_is_letter=o_is_letter)]


def words_to_digits(text: str) -> str:
    """Spoken digits to numerals: "four five six" → "456", "double five" → "55", "oh"/"o" between digits → 0.

    Other words are kept as they were; adjacent numbers are joined ("five five five, one two" → "55512").
    """
    raw = [piece for token in text.split() for piece in re.split(r"(?<=[a-z])-(?=[a-z])", token)]
    cores = [token.strip(",.;:!?").lower() for token in raw]
    out: list[str] = []
    previous_digits = False
    for converted, index, is_number in _number_spans(cores, o_is_letter=False):
        word = converted if is_number else raw[index]
        digits = word.strip(",.;:!?").isdigit()
        if digits and previous_digits:
            out[-1] = out[-1].rstrip(",.;:!?") + word
        else:
            out.append(word)
        previous_digits = digits
    return " ".join(out)


def spell_out_digits(n: int | str) -> str:
    """Digits read one by one, for read-back: 123 → "one two three"."""
    return " ".join(_DIGIT_NAMES[int(ch)] for ch in str(n) if ch.isdigit())


_PAIR_TENS = ("", "ten", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_PAIR_TEENS = (
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip


def _pair(digits: str) -> str:
    """Two digits as agents read a pair: "80" → "eighty", "05" → "oh five", "12" → "twelve"."""
    if len(digits) == 1:
        return _DIGIT_NAMES[int(digits)]
    tens, units = int(digits[0]), int(digits[1])
    if tens == 0:
        return "oh " + ("oh" if units == 0 else _DIGIT_NAMES[units])
    if tens == 1:
        return _PAIR_TEENS[units]
    return _PAIR_TENS[tens] + (f" {_DIGIT_NAMES[units]}" if units else "")


def speak_case_number(n: int | str, group_size: int = 3) -> str:
    """A case number in the form agents read it: groups of ``group_size`` digits with a pause between them.

    ``group_size`` 3: 80012345678 → "eight zero zero, one two three, four five six, seven eight"; 2: each pair
    said as a number ("eighty, oh one, twenty three, …"); 0: every digit on its own, without pauses.
    """
    digits = "".join(ch for ch in str(n) if ch.isdigit())
    if group_size <= 0 or len(digits) <= group_size:
        return spell_out_digits(digits) if group_size != 2 or len(digits) > 2 else _pair(digits)
    groups = [digits[i : i + group_size] for i in range(0, len(digits), group_size)]
    if group_size == 2:
        return ", ".join(_pair(group) for group in groups)
    return ", ".join(spell_out_digits(group) for group in groups)


# --- Email -------------------------------------------------------------------------------------------


def _find_at(tokens: Sequence[str]) -> tuple[int, int] | None:
    """The last "at" (or "@", "at sign", …) that has a dotted domain after it: (start, end) token indexes."""
    for start in range(len(tokens) - 1, -1, -1):
        for phrase in _AT_PHRASES:
            end = start + len(phrase)
            if tuple(tokens[start:end]) == phrase:
                rest = tokens[end:]
                if any(t in ("dot", "period", "point", ".") or "." in t for t in rest):
                    return start, end
    return None


def _spell(tokens: Sequence[str]) -> str:
    """Email words to characters: separators, digits, spelled and NATO letters, "j as in juliet"."""
    tokens = _convert_numbers([t for t in tokens if t not in _CASE_WORDS], o_is_letter=True)
    out: list[str] = []
    i, n = 0, len(tokens)

    def letterish(j: int) -> bool:
        return 0 <= j < n and ((len(tokens[j]) == 1 and tokens[j].isalpha()) or tokens[j] in _NATO)

    while i < n:
        token = tokens[i]
        if i + 1 < n and (token, tokens[i + 1]) in _TWO_WORD_SEPARATORS:
            out.append(_TWO_WORD_SEPARATORS[(token, tokens[i + 1])])
            i += 2
            continue
        if token in _SEPARATOR_WORDS:
            out.append(_SEPARATOR_WORDS[token])
            i += 1
            continue
        if len(token) == 1 and token.isalpha():
            # "s as in sam", "b for bravo", "j like juliet": the letter, not the example word.
            for lead in (("as", "in"), ("for",), ("like",)):
                example = i + 1 + len(lead)
                if (
                    tuple(tokens[i + 1 : example]) == lead
                    and example < n
                    and tokens[example].startswith(token)
                ):
                    out.append(token)
                    i = example + 1
                    break
            else:
                out.append(token)
                i += 1
            continue
        if token in _NATO and (letterish(i - 1) or letterish(i + 1)):
            out.append(_NATO[token])
            i += 1
            continue
        out.append(token)
        i += 1
    return "".join(out)


def _email_parts(segment: str) -> tuple[str | None, str | None]:
    tokens = [t for t in _tokens(segment)]
    at = _find_at(tokens)
    if at is None:
        local_tokens, domain_tokens = tokens, []
    else:
        local_tokens, domain_tokens = tokens[: at[0]], tokens[at[1] :]
    for index in range(len(local_tokens) - 1, -1, -1):
        if local_tokens[index] in _EMAIL_LEAD_IN_END or local_tokens[index] == "at":
            local_tokens = local_tokens[index + 1 :]
            break
    while local_tokens and local_tokens[0] in _FILLERS:
        local_tokens = local_tokens[1:]
    local = _spell(local_tokens).strip("._-+") or None
    domain: str | None = None
    if domain_tokens:
        # The domain ends with the word after its last dot ("… dot com, thanks" stops at "com").
        last_dot = max(
            (j for j, t in enumerate(domain_tokens) if t in ("dot", "period", "point", ".") or "." in t),
            default=-1,
        )
        if "." in domain_tokens[last_dot] and domain_tokens[last_dot] != ".":
            end = last_dot + 1
        else:
            end = last_dot + 2
            # A spelled ending ("dot i o") runs on while the tokens are single letters.
            if len(domain_tokens[last_dot + 1 : end]) == 1 and len(domain_tokens[last_dot + 1]) == 1:
                while (
                    end < len(domain_tokens) and len(domain_tokens[end]) == 1 and domain_tokens[end].isalpha()
                ):
                    end += 1
        domain = _spell(domain_tokens[:end]).strip(".-") or None
    return local, domain


def parse_email(text: str) -> str | None:
    """An email address from spoken or written text, or None.

    Handles "john dot smith at gmail dot com", spelled letters ("j o h n"), "underscore", "dash", "plus",
    NATO words ("alpha bravo"), "s as in sam", "double l", digit words and self-corrections ("… sorry, at
    yahoo dot com" replaces the domain; "… actually make that jon" replaces the name part).
    """
    text = _email_words(text)
    written = _WRITTEN_EMAIL.findall(text)
    if written and not _CORRECTION.search(text):
        candidate = written[-1].lower().strip(".")
        return candidate if _EMAIL_RE.match(candidate) else None
    local: str | None = None
    domain: str | None = None
    for segment in _split_corrections(text):
        seg_local, seg_domain = _email_parts(segment)
        if seg_domain is not None:
            domain = seg_domain
            local = seg_local or local
        elif seg_local is not None and (domain is not None or local is not None):
            local = seg_local  # a correction of the name part only
        elif seg_local is not None:
            local = seg_local
    if local is None or domain is None:
        return None
    candidate = f"{local}@{domain}"
    return candidate if _EMAIL_RE.match(candidate) else None


def _speak_chunk(chunk: str, min_word: int) -> str:
    if chunk.isalpha() and len(chunk) >= min_word and re.search(r"[aeiouy]", chunk):
        return chunk
    return " ".join(_DIGIT_NAMES[int(ch)] if ch.isdigit() else ch for ch in chunk)


def speak_email(email: str) -> str:
    """The read-back form: "john.smith@gmail.com" → "j o h n dot smith at gmail dot com".

    Short parts are spelled (they are the ones callers spell differently: jon/john); longer words are said
    as words; digits are said one by one ("zero", never "oh", so the read-back parses back to itself).
    """
    local, _, domain = email.lower().partition("@")
    names = {".": "dot", "_": "underscore", "-": "dash", "+": "plus"}

    def speak(part: str, min_word: int) -> str:
        words: list[str] = []
        for piece in re.split(r"([._+-])", part):
            if piece in names:
                words.append(names[piece])
            elif piece:
                # Letters and digits inside one piece are said separately ("john23" → "j o h n two three").
                for run in re.findall(r"[a-z]+|[0-9]+|[^a-z0-9]+", piece):
                    words.append(_speak_chunk(run, min_word if run == piece else 99))
        return " ".join(words)

    return f"{speak(local, 5)} at {speak(domain, 3)}"


# --- Phone -------------------------------------------------------------------------------------------


def _phone_in(text: str, default_region: str) -> str | None:
    converted = words_to_digits(re.sub(r"\bplus\b", "+", text, flags=re.IGNORECASE))
    for match in phonenumbers.PhoneNumberMatcher(converted, default_region):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    digits = "".join(re.findall(r"\d", converted))
    if not digits:
        return None
    plus = re.search(r"\+\s*\d", converted)
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_phone(text: str, default_region: str = "US") -> str | None:
    """A valid phone number in E.164 from spoken or written text ("four one five, five five…"), or None."""
    segments = _split_corrections(text)
    for candidate in (segments[-1] if segments else "", text):
        if candidate:
            found = _phone_in(candidate, default_region)
            if found:
                return found
    return None


# --- Case numbers ------------------------------------------------------------------------------------

_CASE_KEYWORD = re.compile(
    r"\b(?:case|ticket|incident|reference|ref|number|no)\b\.?\s*(?:number\s*|no\.?\s*|is\s*|#\s*)*#?\s*(\d{1,12})\b",
    re.IGNORECASE,
)


def parse_case_number(text: str) -> int | None:
    """A case number ("case one two three", "ticket #123", "it's twelve thirty four"), or None."""
    segments = _split_corrections(text)
    spoken = words_to_digits(segments[-1] if segments else text)
    keyed = _CASE_KEYWORD.search(spoken)
    if keyed:
        return int(keyed.group(1))
    numbers = re.findall(r"(?<![\d.])\d{1,12}(?![\d.])", spoken.replace("#", " "))
    return int(numbers[0]) if numbers else None


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# --- Names -------------------------------------------------------------------------------------------

_NAME_STRONG = re.compile(
    r"\b(?:my name is|my name's|name is|name's|call me|the name is|you're speaking (?:to|with)|"
    r"you are speaking (?:to|with))\s+(.+)",
    re.IGNORECASE,
)
_NAME_WEAK = re.compile(r"\b(?:this is|it's|it is|i'm|i am|im)\s+(.+)", re.IGNORECASE)
_SPELLING_NOTE = re.compile(
    r"\b(?:with(?:out)?|no) (?:an? |the |no )?[a-z]\b(?: at the end| in (?:it|the middle))?|\bspelled\b.*$",
    re.IGNORECASE,
)
_NAME_STOP = _word_set(
    """
    and from calling here i with but please thanks thank speaking at my who about because on in the of
    for to again by over
    """
)
_NOT_A_NAME = _word_set(
    """
    yes no not yeah hi hello hey sorry fine good great okay ok well sure just really very so too still
    also a an the my your me having trying looking getting going calling ringing phoning wondering about
    been broken working down up out done gone weird strange urgent important there here that this it
    what correct right wrong true false unable locked stuck confused afraid glad happy annoyed
    frustrated angry tired sick fed new old again all now only urgently asking interested in on at with
    from for to of hoping writing need want like would will can could should must did do does is are was
    were be have has had get got nothing something everything anything customer client user email phone
    number name case ticket problem issue bot human person agent speaking unclear impossible ridiculous
    useless
    """
)


def _name_words(fragment: str) -> str | None:
    fragment = _SPELLING_NOTE.sub(" ", fragment)
    words: list[str] = []
    for raw in re.split(r"\s+", fragment.strip()):
        if not raw:
            continue
        ends_clause = bool(re.search(r"[,.!?;:]$", raw))
        word = raw.strip(',.!?;:"')
        lowered = word.lower()
        if not word or lowered in _NAME_STOP:
            break
        if not re.fullmatch(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'\-]*", word):
            return None
        words.append(word)
        if ends_clause or len(words) > 3:
            break
    if not words:
        return None
    if all(len(w) == 1 for w in words) and len(words) > 1:
        words = ["".join(words)]  # spelled out: "j o n" → "Jon"
    if len(words) > 3 or any(w.lower() in _NOT_A_NAME for w in words):
        return None
    return " ".join(_capitalize(w) for w in words)


def _capitalize(word: str) -> str:
    return re.sub(r"(^|['\-])([a-zà-ÿ])", lambda m: m.group(1) + m.group(2).upper(), word.lower())


def parse_name(text: str, *, bare: bool = False) -> str | None:
    """A caller's name from "my name is …", "it's …", "this is …", "I'm …", or None.

    A self-correction ("john, no sorry, jon with no h") gives the corrected name. ``bare``: the text may be
    just the name (a name was asked for), so "Mary Jones" alone is accepted.
    """
    segments = _split_corrections(text)
    if not segments:
        return None
    corrected = len(segments) > 1
    last = segments[-1]
    for pattern in (_NAME_STRONG, _NAME_WEAK):
        match = pattern.search(last)
        if match:
            return _name_words(match.group(1))
    if corrected or bare:
        return _name_words(last)
    return None
