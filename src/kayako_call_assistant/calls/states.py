"""The states of a call as a support lead reads them (docs/call-flow.md describes each one)."""

from __future__ import annotations

import enum


class CallState(enum.StrEnum):
    GREETING = "greeting"  # the call has started; nothing said yet
    LISTENING = "listening"  # waiting for the caller to describe the issue
    ANSWERING = "answering"  # searching the help center and speaking an answer
    CONFIRMING_RESOLUTION = "confirming_resolution"  # asked "did that solve it?"
    CLARIFYING = "clarifying"  # two articles fit: asked which one the caller means
    VERIFYING = "verifying"  # asked for the email on the case before reading a case's details
    COLLECTING_NAME = "collecting_name"
    COLLECTING_EMAIL = "collecting_email"
    CONFIRMING_EMAIL = "confirming_email"  # the email was read back letter by letter
    CONFIRMING_PHONE = "confirming_phone"  # the caller ID was read back digit by digit
    COLLECTING_PHONE = "collecting_phone"
    ESCALATING = "escalating"  # filing the case, then transferring or closing
    CLOSED = "closed"  # the goodbye (or transfer) is said; nothing more is


# What the flow has just asked for, by state: tells the language engine how to read the next utterance.
EXPECTING: dict[CallState, str] = {
    CallState.CONFIRMING_RESOLUTION: "yes_no",
    CallState.CLARIFYING: "choice",
    CallState.VERIFYING: "email",
    CallState.COLLECTING_NAME: "name",
    CallState.COLLECTING_EMAIL: "email",
    CallState.CONFIRMING_EMAIL: "yes_no",
    CallState.CONFIRMING_PHONE: "yes_no",
    CallState.COLLECTING_PHONE: "phone",
}

CONTACT_STATES = frozenset(
    {
        CallState.COLLECTING_NAME,
        CallState.COLLECTING_EMAIL,
        CallState.CONFIRMING_EMAIL,
        CallState.CONFIRMING_PHONE,
        CallState.COLLECTING_PHONE,
    }
)
