"""What a help desk decides about its calls: names, limits, escalation topics, how cases are filed."""

from __future__ import annotations

from dataclasses import dataclass

from ..knowledge.gate import ConfirmMode

DEFAULT_ALWAYS_HUMAN_TOPICS = ("billing_dispute", "security_incident", "legal")


@dataclass(frozen=True, slots=True)
class CallPolicy:
    helpdesk_name: str
    max_failed_answers: int = 2  # answers the caller said did not help before a person takes over
    max_silence_reprompts: int = 2  # idle timeouts answered with a reprompt before the call is closed
    max_contact_attempts: int = 3  # tries at one contact detail (email, phone, name) before moving on
    max_abuse_warnings: int = 1  # abusive turns answered with a warning before the call is closed
    always_human_topics: tuple[str, ...] = DEFAULT_ALWAYS_HUMAN_TOPICS
    transfer_enabled: bool = False  # agents are on duty: escalated calls are handed to a person
    # With an agent about to answer and the caller's number known from caller ID, the agent can take any
    # other detail: the case is filed with the caller ID and the caller is not kept on the line for a form.
    collect_details_before_transfer: bool = False
    case_priority_escalated: str = "High"
    case_priority_resolved: str = "Low"
    case_type: str = "Question"
    case_for_resolved_calls: bool = False
    # A call that ends right after an answer, without a yes or a no, is "answered": by default no case.
    case_for_answered_calls: bool = False
    # When caller ID alone identifies the caller: "full_attestation" (STIR/SHAKEN "A"), "any_attestation"
    # ("A" or "B"), or "never" (always ask for the second factor).
    caller_id_trust: str = "full_attestation"
    case_number_group_size: int = 3  # digits per spoken group of a case number (2: pairs; 0: no groups)
    caller_lookup_timeout_seconds: float = 2.0  # the greeting waits at most this long for Kayako
    case_delivery_budget_seconds: float = 3.0  # the caller waits at most this long to hear the case number
    answer_search_top: int = 5
    # When the language engine is asked to confirm that the article answers before it is read
    # (``knowledge.gate.wants_confirmation``): "off", "uncertain" (near the threshold or retrievers disagree),
    # "always"; ``answer_confirm_band``: how far above its threshold an answer is still uncertain.
    answer_confirm: ConfirmMode = "uncertain"
    answer_confirm_band: float = 0.05
