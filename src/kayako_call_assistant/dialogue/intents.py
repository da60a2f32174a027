"""Intent, entities, frustration and topic of a caller's utterance, without a language model.

Rules first (they are precise and explain themselves in the logs), then the nearest example phrase by
``rapidfuzz`` similarity, then the default: a support question. The example phrases and the topic and
frustration phrases are data files beside this module (``data/``), so they can be extended without code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml
from rapidfuzz import fuzz, process

from ..domain import DialogueContext, Entities, Intent, Speaker, Turn, Understanding
from .entities import parse_case_number, parse_email, parse_name, parse_phone, words_to_digits

_PACKAGE = __name__.rpartition(".")[0]
_EXAMPLE_MATCH = 88.0  # rapidfuzz token-sort ratio from which an example phrase decides the intent
_SHORT = 6  # words: small-talk rules only apply to short utterances

_WHO = (
    r"(?:human(?: being| agent)?s?|person|people|agent|rep|representative|operator|manager|"
    r"supervisor|someone|"
    r"somebody|employee|staff|team|department|reception(?:ist)?|front desk|customer (?:service|care|support)|"
    r"technician|advisor|adviser|specialist|worker|founders?|colleague|boss|executive|csr|"
    r"person in charge|higher up)"
)
_QUALIFIER = (
    r"(?:(?:a|an|the|some|your|one of your|another|other|a real|an actual)\s+)?"
    r"(?:(?:damn|bloody|freaking|frigging|fucking|goddamn)\s+)?"
    r"(?:(?:real|actual|live|proper|normal|human|non[- ]robotic|other|different|bank|support|"
    r"customer service|\w+ team)\s+)*"
)
_NOT_THE_BOT = (
    # Third parties are not a hand-off: "let me talk to my wife and call you back".
    r"(?!you\b|u\b|yourself|my\b|our\b|his\b|her\b|their\b|it over\b|them about\b|"
    r"(?:a |the |this )?(?:bot|machine|robot|computer)\b|it\b|this\b|that\b|"
    r"(?:an? )?(?:\w+ ){0,2}(?:accent|voice|tone)\b)"
)

_HANDOFF_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "refuses_bot",
            r"\b(?:don'?t|do not|never|no longer|stop|not) (?:want |wanna |like |feel comfortable |"
            r"going )?(?:to )?"
            r"(?:talk|talking|speak|speaking|chat|chatting|deal|dealing|shar\w+|waste)\b.{0,50}"
            r"\b(?:bots?|machines?|robots?|computers?|automated|virtual agents?|ai|you)\b",
        ),
        ("bot_is_useless", r"\btalking to (?:a |the )?(?:bot|machine|robot) is\b"),
        (
            "wants_to_talk",
            rf"\b(?:talk|speak|chat|converse)(?:ing)? (?:directly |again |now )?(?:to|with) {_NOT_THE_BOT}",
        ),
        (
            "transfer_me",
            rf"\b(?:transfer|put|pass|connect|forward|patch|redirect|send|take|switch|"
            rf"escalate)\w* (?:me|us|this|my call)\b(?: (?:through|over|across|back))?(?: (?:to|with|"
            rf"onto|on to))? {_QUALIFIER}{_WHO}",
        ),
        (
            "transfer_me_to",
            r"\b(?:transfer|put|pass|connect|forward|patch|redirect)\w* (?:me|us) (?:through )?(?:to|"
            r"with|onto) (?!my\b|our\b)(?:(?:the|your|a|an) )?[a-z]+",
        ),
        (
            "get_me_someone",
            rf"\b(?:get|give|find|bring|fetch|want|needs?|like|prefer|demand|request)(?: me|"
            rf" us)? {_QUALIFIER}{_WHO}\b(?! (?:said|told|stole|used|called|from my|members? "
            rf"(?:permission|access|rights|role)))",
        ),
        (
            "real_person",
            r"\b(?:real|actual|live|proper|normal|human) (?:human|person|people|agent|representative|"
            r"being)s?\b",
        ),
        (
            "only_who",
            rf"^(?:(?:a|an|the|your)\s+)?(?:service |support |customer )?{_WHO}(?: please| now| agent)?$",
        ),
        (
            "human_support",
            r"\bhumans? (?:support|help|agent|handoff|working|operator)\b|\bhand ?off\b|"
            r"\bhand me (?:over|off)\b",
        ),
        (
            "someone_can_help",
            r"\b(?:can|could|would|will|may) (?:i get )?(?:someone|somebody|a person|"
            r"an agent)(?: else)? (?:help|take a look|look|call|assist|check|sort)",
        ),
        (
            "someone_from",
            r"\b(?:someone|somebody) (?:real|smarter|more (?:intelligent|competent|qualified|senior)|"
            r"who (?:can|knows|is able))\b|"
            r"\b(?:someone|somebody|people) (?:from|at|in|on) (?:the |your )?[\w ]{0,20}?"
            r"(?:team|care|service|support|department|desk|office)\b|"
            r"(?<!\bto )\b(?:someone|somebody) else\b(?! (?:used|has|have|had|took|stole|made|did|is|was|"
            r"paid|withdrew|transferred|accessed|logged|charged|changed|opened|on the|on my|in the|"
            r"on our|besides))",
        ),
        (
            "reach_agent",
            r"\b(?:reach|contact|call|get hold of|ask) (?:one of )?(?:a|an|the|your)? ?(?:other |"
            r"real |actual |live )?(?:agent|person|human|representative|operator|manager)s?\b",
        ),
        (
            "is_there_a_person",
            r"\b(?:is there|are there|do you have|have you got) (?:a |an |any |some )?"
            r"(?:real |actual |live )?(?:human|person|people|agent|representative|operator)s?\b",
        ),
        ("hand_over", rf"\b(?:hand|pass)\w*\b.{{0,25}}?\bover to {_QUALIFIER}{_WHO}"),
        ("from_an_agent", r"\bfrom (?:an?|the|a real|an actual) (?:agent|human|person|representative)\b"),
        (
            "transfer_verb",
            r"\b(?:transfer|escalate)\w* (?:me|us|my call|this call|the call|this|my case)\b"
            r"(?! to (?:my|our|a new|another|the other)\b)|"
            r"\b(?:need|want|like|ask|wish|be) (?:to )?be (?:transferred|escalated|connected|put through)\b|"
            r"^(?:(?:can|could|would|will) you )?(?:please )?(?:just )?(?:put|patch) (?:me|us) "
            r"(?:through|over)\b|"
            r"^(?:(?:can|could|would|will) you )?(?:please )?(?:just )?(?:connect|transfer) (?:me|us)"
            r"(?: please| now| already)*$",
        ),
        (
            "put_them_on",
            r"\bput (?:(?:a|the|your) )?(?:supervisor|manager|boss|agent|person|human|someone|somebody|"
            r"them|him|her|someone else|a real person) on\b(?! hold)",
        ),
        (
            "call_me_back",
            r"\b(?:have|get|ask) (?:an? |the |your |one of your )?(?:agent|person|human|someone|somebody|"
            r"representative|rep|technician|manager|supervisor|specialist)s? (?:to )?"
            r"(?:contact|call|ring|phone|email|reach)\b|"
            r"\b(?:person|human|agent|someone|somebody|representative|rep|technician) (?:to |please |"
            r"can |could |will )?(?:call|ring|phone|contact) (?:me|us)\b|"
            r"\b(?:call|ring|phone) (?:me|us) back\b.{0,20}\b(?:person|human|agent|someone|somebody)\b|"
            r"\bcallback from (?:an? |the )?(?:agent|person|human|representative|rep|someone)",
        ),
        (
            "is_anybody_there",
            r"^(?:(?:hey|hello|hi|um|uh|so|excuse me)\s+)*(?:is|are) (?:there )?(?:anybody|anyone|"
            r"somebody|someone|any one|any body)(?: (?:actually|even|really|real|human|at all))* "
            r"(?:there|home|out there|available|around|listening|on the line)\b|"
            r"^(?:(?:hey|hello|hi|um|uh|so)\s+)*is there (?:anybody|anyone|somebody|someone)"
            r"(?: (?:there|at all|out there|real|human|alive))?$|"
            r"\b(?:anybody|anyone|someone|somebody) (?:please )?(?:pick up|answer|there)\b"
            r"(?! (?:who|else|with|having|that))",
        ),
        (
            "waiting_for_a_person",
            r"\b(?:on hold|holding|waiting|waited|hold)\b.{0,30}?\b(?:for|to (?:talk|speak) (?:to|with)|"
            r"to get)\b (?:a |an |the )?(?:real |live |actual )?(?:person|human|agent|representative|"
            r"someone|somebody|operator|rep)\b",
        ),
        (
            "needs_a_person",
            r"\b(?:this|it) needs (?:to go to |to be handled by )?(?:a |an )?(?:real |actual )?"
            r"(?:human|person|agent|representative|manager|supervisor)\b",
        ),
        (
            "not_leading_anywhere",
            r"\b(?:not|isn'?t) (?:leading|getting|going) (?:me )?anywhere\b|\b(?:this|"
            r"the) (?:conversation|chat|call) (?:is not|isn'?t) (?:working|helping)",
        ),
    )
)
_BOT_CHALLENGE = re.compile(
    r"^(?:\w+,? )?(?:\w+ )?(?:are you|am i (?:talking|speaking|chatting) (?:to|with)|is this|you are|"
    r"you're|aren'?t you|"
    r"what are you|are u|i guess you are|you(?= (?:a |an )?(?:robo|robot|bot|chatbot|"
    r"ai)\b))\b.{0,20}\b(?:bot|robo|robot|human|real|machine|ai|artificial|person|computer|chatbot)\b"
)
_ABUSE = re.compile(
    r"\b(?:f+u+c+k (?:you|off|this)|f\*+ (?:you|off)|screw you|go to hell|shut up|piss off|"
    r"(?:you(?:'re| are)?|you) (?:a |an |such an? )?(?:stupid |fucking |useless |dumb )*(?:idiot|"
    r"moron|bitch|asshole|"
    r"piece of (?:shit|crap|junk))|i(?:'ll| will) (?:kill|hurt|find) you)\b"
)
_AFFIRM = re.compile(
    r"^(?:yes+|yeah+|yea|yep+|yup+|ya|yah|sure|correct|right|exactly|absolutely|definitely|certainly|"
    r"of course|"
    r"please do|go ahead|that'?s (?:right|correct|it|fine|great|perfect)|that is (?:right|correct)|"
    r"sounds good|"
    r"ok(?:ay)?|alright|all right|indeed|affirmative|it is|it does|it did|i do|i did|"
    r"that would be great|perfect|"
    r"great|that works|it worked|it helped|that helped|yes please)\b"
)
_DENY = re.compile(
    r"^(?:no|nope|nah|not really|not quite|not at all|negative|wrong|incorrect|that'?s (?:wrong|"
    r"not (?:right|it|correct))|"
    r"that is (?:wrong|not)|never ?mind|neither|absolutely not|definitely not|i don'?t think so|it didn'?t|"
    r"it did not|it doesn'?t|it does not|it isn'?t|it'?s not|didn'?t help|that didn'?t|doesn'?t work|"
    r"still not|"
    r"decline|not that)\b"
)
_GREETING = re.compile(
    r"^(?:\w+ )?(?:hi+e*|h+e+l+o+|hey+|hiya|howdy|greetings|good (?:morning|afternoon|evening|day)|"
    r"hola|bonjour|yo|"
    r"what'?s up|whats up|sup)\b"
)
_THANKS = re.compile(
    r"\b(?:thanks|thank you|thank u|thankyou|thx|thnks|cheers|appreciate it|much appreciated)\b"
)
_GOODBYE = re.compile(
    r"\b(?:by+e+|byr|goodbye|good bye|farewell|take care|later|see you|see ya|that'?s all|"
    r"that is all|nothing else|that'?s it|hang up|"
    r"have a (?:good|nice|great) (?:day|one|evening)|t[la]+k to you later|i'?m done|gotta go|got to go)\b"
)
_REPEAT = re.compile(
    r"\b(?:repeat|say (?:that|it|this) again|come again|pardon|(?:didn'?t|did not|"
    r"couldn'?t) (?:catch|hear|get|understand) "
    r"(?:that|you|it|what)|what did you (?:just )?say|one more time|again please|sorry what|what was that|"
    r"once more|say again)\b"
)
_DONT_KNOW = re.compile(
    r"\b(?:i (?:don'?t|do not|dont) know|not sure|no idea|dunno|no clue|(?:can'?t|cannot|don'?t) remember|"
    r"not certain|i'?m unsure|beats me|i have no idea)\b"
)
_CASE_STATUS = re.compile(
    r"\b(?:status|update|updates|progress|news|happen\w*|going on|doing)\b.{0,30}\b(?:case|ticket|"
    r"incident|request|"
    r"complaint|issue i (?:opened|raised|reported))s?\b|\b(?:case|ticket|incident|"
    r"issue)s?\b.{0,30}\b(?:status|closed|resolved|"
    r"open|in progress|progress|update|updates|solved|fixed|done|going)\b|\bcheck (?:on )?(?:my|"
    r"the) (?:case|ticket)|"
    r"\b(?:case|ticket) (?:number|no|#)"
)
# Small talk and chit-chat: never a help-center question, whatever an article's words happen to share.
_SMALL_TALK = re.compile(
    r"\b(?:(?:tell|know|hear) (?:me |us )?(?:a |another |any )?(?:good |funny )?jokes?|jokes?|"
    r"weather|forecast|(?:is it|will it) (?:rain|snow|sunny)|how are you(?: doing| today)?|how'?s it going|"
    r"how'?s (?:your|ur) day|what'?s (?:your|ur) name|who (?:are|made|built|created) you|"
    r"are you (?:married|single|happy|real|alive|a robot|a bot|human)|do you (?:like|love|dream|sleep|eat)|"
    r"sing (?:me )?(?:a )?song|meaning of life|what time is it|what'?s the time|what day is it|"
    r"(?:your )?favou?rite (?:color|colour|food|movie|song|animal)|tell me about yourself|"
    r"who (?:won|is winning) the (?:game|match)|(?:football|soccer|basketball|baseball) (?:score|game)s?|"
    r"what'?s up|i'?m bored|let'?s chat|just (?:wanted to )?chat|talk to me|recipe|horoscope)\b"
)
_SUPPORT_WORDS = re.compile(
    r"\b(?:account|password|log ?in|login|sign ?in|order|invoice|bill|billing|charge|refund|payment|"
    r"subscription|app|email|profile|settings?|error|crash\w*|reset|delivery|shipping|device|case|ticket)\b"
)
_QUESTION_WORDS = re.compile(
    r"\b(?:how|why|what|where|when|can't|cannot|won't|doesn't|isn't|error|problem|issue|broken|help)\b"
)


@cache
def _examples() -> tuple[list[str], list[Intent]]:
    raw = json.loads(
        resources.files(_PACKAGE).joinpath("data", "intent_examples.json").read_text(encoding="utf-8")
    )
    texts: list[str] = []
    intents: list[Intent] = []
    for name, phrases in raw.items():
        for phrase in phrases:
            texts.append(normalize(phrase))
            intents.append(Intent(name))
    return texts, intents


@cache
def _phrase_file(name: str) -> dict[str, tuple[re.Pattern[str], ...]]:
    raw: dict[str, Any] = yaml.safe_load(
        resources.files(_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
    )
    return {
        key: tuple(re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for p in patterns)
        for key, patterns in raw.items()
    }


def normalize(text: str) -> str:
    """Lower case, curly quotes straightened, punctuation (other than apostrophes) as spaces."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"[^\w'@.+\-#\s]|(?<!\w)[.\-]|[.\-](?!\w)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# Words that name a person or a phone-menu choice; a clause made only of these and of _KEYWORD_FILLERS is a
# hand-off said the way callers talk to phone systems ("representative", "agent agent agent", "operator
# please", "press zero", "I said representative").
_KEYWORD_PHRASES = re.compile(
    r"\b(?:customer (?:service|care|support)|tech(?:nical)? support|front desk|help desk person|higher up|"
    r"live (?:agent|person)|real (?:person|human))\b"
)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_KEYWORDS = _word_set(
    """
    representative representatives rep reps agent agents operator human humans person supervisor manager
    boss transfer escalate escalation csr reception receptionist someone somebody anyone anybody staff
    technician specialist advisor executive sales keyword
    """
)
_DIGIT_KEYWORDS = frozenset({"zero", "0"})  # the DTMF "0" said aloud; not while digits are being asked for
_KEYWORD_FILLERS = _word_set(
    """
    please now uh um umm uhh er erm hmm hey hello hi ok okay oh i i'm said say already just the a an for to
    me main menu press pressing pressed dial dialing pound hash star real live actual damn bloody freaking
    god again yes yeah want need get give talk speak with your one more time quickly urgently help
    """
)
_DIGITS_EXPECTED = frozenset({"phone", "case_number", "email", "name"})
# Compounds in which a "person" word names a thing: "a human readable version", "a live agent seat".
_NOT_A_PERSON = re.compile(
    r"\bhuman (?:readable|resources|verification|rights|error|check|test|interface|body)\b|"
    r"\b(?:(?:live|support|human) )?(?:agent|operator|representative|rep|supervisor|manager)s?(?:'s)? "
    r"(?:app|apps|account|accounts|seat|seats|license|licenses|licence|role|roles|dashboard|field|code|"
    r"login|portal|plan|view|widget|console|permissions?|access)\b|"
    r"\b(?:sounds?|seems?|looks?) like (?:a |an )?(?:real |actual )?(?:person|human)\b"
)
# A request not to be handed off, and third parties: removed before the rules look ("I don't need a
# person, just tell me …", "no need to escalate this", "let me talk to my wife and call you back").
_NEGATED_HANDOFF = re.compile(
    r"\b(?:don'?t|do not|dont|doesn'?t|does not|won'?t|no|not|never)\s+(?:really |even |actually )?"
    r"(?:need|want|wanna|require|looking for|asking for|have to)\b"
    r"(?:(?!\b(?:bot|bots|machine|robot|computer|but|i want|i need|just)\b)[^,.;!?]){0,30}?"
    r"\b(?:person|people|human|agent|anyone|anybody|someone|somebody|representative|rep|operator|"
    r"manager|supervisor|transfer\w*|escalat\w*|put through)\b|"
    r"\b(?:no|without) (?:need|reason) (?:for|to)\b[^,.;!?]{0,30}|"
    r"(?<!you )\b(?:don'?t|do not|dont|never) (?:\w+ ){0,2}?(?:transfer|put|connect|escalate|pass)\w* "
    r"(?:me|us|this|it|my call)\b[^,.;!?]{0,25}|"
    r"\bno (?:human|person|agent|one)s? (?:needed|necessary|required)\b"
)


def _keyword_clause(clause: str, expecting: str | None) -> bool:
    words = _KEYWORD_PHRASES.sub("keyword", normalize(clause)).split()
    strong = _KEYWORDS if expecting in _DIGITS_EXPECTED else _KEYWORDS | _DIGIT_KEYWORDS
    return any(w in strong for w in words) and all(w in strong or w in _KEYWORD_FILLERS for w in words)


def handoff_reason(text: str, expecting: str | None = None) -> str | None:
    """The name of the hand-off rule ``text`` matches ("wants_to_talk", …), or None.

    ``expecting``: what the assistant has just asked for; a bare "zero" is a digit while a phone number
    or case number is being given, and a request for the operator otherwise."""
    lowered = text.lower().replace("’", "'")
    lowered = _NOT_A_PERSON.sub(" thing ", _NEGATED_HANDOFF.sub(" , ", lowered))
    if any(_keyword_clause(c, expecting) for c in re.split(r"[,.;!?]+|\bbut\b", lowered)):
        return "phone_keyword"
    norm = normalize(lowered)
    if _BOT_CHALLENGE.search(norm) and not re.search(
        r"\b(?:want|need|let me|can i|give|get|transfer|connect)\b", norm
    ):
        return None
    for name, pattern in _HANDOFF_RULES:
        if pattern.search(norm):
            return name
    return None


def is_small_talk(text: str) -> bool:
    """A greeting or chit-chat a help desk does not answer: "hello", jokes, weather, "how are you", …"""
    norm = normalize(text)
    words = len(norm.split())
    if words <= 4 and _GREETING.search(norm) and not _SUPPORT_WORDS.search(norm):
        return True
    return words <= 12 and bool(_SMALL_TALK.search(norm)) and not _SUPPORT_WORDS.search(norm)


_NONCOMMITTAL = re.compile(
    r"^(?:(?:hmm+|hm+|mm+|um+|uh+|er+|erm|ok|okay|alright|all right|fine|sure|well|whatever|maybe|"
    r"i guess|i suppose|kind of|sort of|perhaps|meh|if you say so|right|oh|ah+|i see|got it|"
    r"understood|so|and|then)\s*)+$"
)


def is_noncommittal(text: str) -> bool:
    """ "hmm", "ok", "whatever", "I guess": a reply that says neither yes nor no, and asks nothing."""
    return bool(_NONCOMMITTAL.match(normalize(text)))


# An explicit yes to "did that solve your problem?": "ok", "hmm", "whatever", "sure" or "ok then tell me a
# joke" are not one (the caller may just be acknowledging, or changing the subject).
_EXPLICIT_YES = re.compile(
    r"^(?:(?:oh|um|uh|well|yes|yeah|yep|ok|okay)\s+)*(?:yes+|yeah+|yep+|yup|ya|yea|it did|that did|it does|"
    r"that does|it worked|that worked|it helped|that helped|that solved it|solved|fixed|that fixed it|"
    r"(?:yes )?it (?:is|was) (?:solved|fixed|working)|correct|absolutely|definitely|perfect|great|excellent|"
    r"sure did|i did|that'?s (?:it|right|correct|perfect|great|solved it)|that is (?:right|correct)|"
    r"yes it is|exactly|spot on|that did it|it'?s working(?: now)?|"
    r"works(?: now)?|all (?:good|sorted|fixed)|problem solved|thanks|thank you|thank u|many thanks|"
    r"cheers)\b"
)
_NOT_YES = re.compile(
    r"\b(?:but|not|no|nope|didn'?t|doesn'?t|don'?t|isn'?t|still|tell me|can you|could you|what|how|why|"
    r"where|when|joke|another|else|hmm|whatever|maybe|kind of|sort of|i guess|partly|partially)\b"
)


def explicit_yes(text: str) -> bool:
    """Whether ``text`` clearly says yes (or thanks for the answer) and asks for nothing more."""
    norm = normalize(text)
    return bool(_EXPLICIT_YES.match(norm)) and not _NOT_YES.search(norm)


def _signals(text: str, level: str) -> bool:
    return any(p.search(text) for p in _phrase_file("frustration.yaml").get(level, ()))


def is_frustrated(text: str, history: Sequence[Turn] = ()) -> bool:
    """Strong frustration in this turn, or mild frustration repeated from an earlier caller turn."""
    if _signals(text, "strong") or _ABUSE.search(normalize(text)):
        return True
    shouting = len(re.findall(r"\b[A-Z]{3,}\b", text)) >= 3 and "!" in text
    if not (_signals(text, "mild") or shouting):
        return False
    earlier = [t.text for t in history if t.speaker is Speaker.CALLER and t.text.strip() != text.strip()]
    return any(_signals(t, "mild") or _signals(t, "strong") for t in earlier)


def detect_topic(text: str, topics: Sequence[str]) -> str | None:
    """The first of ``topics`` (always-human topic names) that ``text`` is about, or None."""
    known = _phrase_file("topics.yaml")
    for topic in topics:
        if any(p.search(text) for p in known.get(topic, ())):
            return topic
    return None


def extract_entities(text: str, expecting: str | None) -> Entities:
    """Every detail the shared parsers find; what was just asked for is looked for more eagerly."""
    entities = Entities()
    lowered = text.lower()
    if expecting == "email" or "@" in text or re.search(r"\bat\b.*\b(?:dot|\.)", lowered):
        entities.email = parse_email(text)
    if expecting == "phone" or len(re.findall(r"\d", words_to_digits(text))) >= 7:
        entities.phone = parse_phone(text)
    if expecting == "case_number" or re.search(r"\b(?:case|ticket|incident|reference)\b", lowered):
        entities.case_number = parse_case_number(text)
    entities.name = parse_name(text, bare=expecting == "name" and len(text.split()) <= 4)
    return entities


def _nearest_example(norm: str) -> tuple[Intent, float] | None:
    texts, intents = _examples()
    found = process.extractOne(norm, texts, scorer=fuzz.token_sort_ratio, score_cutoff=_EXAMPLE_MATCH)
    if found is None:
        return None
    _, score, index = found
    return intents[index], float(score)


def _small_talk(norm: str) -> Intent | None:
    words = len(norm.split())
    if _REPEAT.search(norm) and words <= 8:
        return Intent.REPEAT
    if words > _SHORT:
        return None
    if _DONT_KNOW.search(norm) and not _QUESTION_WORDS.search(norm):
        return Intent.DONT_KNOW
    if _GOODBYE.search(norm):
        return Intent.GOODBYE
    thanks = _THANKS.search(norm) and " but " not in f" {norm} "
    if thanks and not re.match(r"(?:yes|yeah|yep|yup|no|nope|nah)\b", norm):
        return Intent.THANKS  # "great, thanks" thanks; "yes thanks" and "no thanks" answer a question
    if _DENY.search(norm):
        return Intent.DENY
    if _AFFIRM.search(norm):
        return Intent.AFFIRM
    if thanks:
        return Intent.THANKS
    if _GREETING.search(norm) and words <= 4:
        return Intent.GREETING
    return None


def classify(text: str, context: DialogueContext) -> Understanding:
    """The local engine's understanding of one caller utterance."""
    norm = normalize(text)
    entities = extract_entities(text, context.expecting)
    frustrated = is_frustrated(text, context.history)
    topic = detect_topic(text, context.always_human_topics)

    def result(intent: Intent, confidence: float) -> Understanding:
        return Understanding(intent, confidence, entities, frustrated=frustrated, topic=topic, engine="local")

    if not norm:
        return result(Intent.DONT_KNOW, 0.3)
    if _ABUSE.search(norm):
        return result(Intent.ABUSE, 0.9)
    if handoff_reason(text, context.expecting):
        return result(Intent.HANDOFF, 0.92)
    expecting = context.expecting
    if expecting == "yes_no":
        if _DENY.search(norm):
            return result(Intent.DENY, 0.9)
        if _AFFIRM.search(norm):
            return result(Intent.AFFIRM, 0.9)
    asked_for = {
        "email": entities.email,
        "phone": entities.phone,
        "case_number": entities.case_number,
        "name": entities.name,
    }
    if expecting in asked_for and asked_for[expecting] is not None:
        return result(Intent.INFORM, 0.9)
    if _CASE_STATUS.search(norm):
        return result(Intent.CASE_STATUS, 0.85)
    small = _small_talk(norm)
    if small is not None:
        return result(small, 0.85)
    if _BOT_CHALLENGE.search(norm) or is_small_talk(text):
        return result(Intent.OUT_OF_SCOPE, 0.7)
    if entities.email or entities.phone:
        return result(Intent.INFORM, 0.8)
    nearest = _nearest_example(norm)
    if nearest is not None:
        return result(nearest[0], round(nearest[1] / 100 * 0.9, 3))
    return result(Intent.QUESTION, 0.6 if len(norm.split()) >= 3 else 0.4)
