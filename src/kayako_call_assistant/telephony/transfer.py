"""The TwiML that hands a live call to a person, and what the agent hears before the call is bridged."""

from __future__ import annotations

import json

from twilio.twiml.voice_response import Dial, Enqueue, VoiceResponse

from ..dialogue.entities import spell_out_digits

MAX_TWIML = 4000  # Twilio's limit on a call update's Twiml


def validate_transfer_target(target: str) -> None:
    """Refuse at start-up a target no transfer could use."""
    if target.startswith("+") and target[1:].isdigit():
        return
    if target.startswith("sip:") and len(target) > 4:
        return
    if target.startswith("queue:") and target[6:].strip():
        return
    raise ValueError(
        f"KCA_TRANSFER_TARGET {target!r} is not an E.164 number (+15551234567), a sip: address or queue:NAME"
    )


def _sip_with_case(address: str, case_id: int | None) -> str:
    if case_id is None:
        return address
    separator = "&" if "?" in address else "?"
    return f"{address}{separator}X-Kayako-Case={case_id}"


def transfer_twiml(
    target: str,
    *,
    announcement: str,
    case_id: int | None,
    caller_id: str | None,
    whisper_url: str | None,
    workflow_sid: str | None,
) -> str:
    validate_transfer_target(target)
    response = VoiceResponse()
    if announcement:
        response.say(announcement)
    if target.startswith("queue:"):
        if workflow_sid:
            enqueue = Enqueue(workflow_sid=workflow_sid)
            enqueue.task(json.dumps({"case_id": case_id, "source": "kca"}))
        else:
            enqueue = Enqueue(target[6:].strip())
        response.append(enqueue)
    else:
        dial = Dial(answer_on_bridge=True, caller_id=caller_id) if caller_id else Dial(answer_on_bridge=True)
        if target.startswith("sip:"):
            dial.sip(_sip_with_case(target, case_id))
        elif whisper_url:
            dial.number(target, url=whisper_url)
        else:
            dial.number(target)
        response.append(dial)
    twiml = str(response)
    if len(twiml) > MAX_TWIML:
        raise ValueError(f"transfer TwiML is {len(twiml)} characters, over Twilio's {MAX_TWIML}")
    return twiml


def whisper_twiml(case_id: int | None, helpdesk_name: str) -> str:
    """Said to the agent before the caller is connected."""
    response = VoiceResponse()
    if case_id is None:
        response.say(f"A caller from the {helpdesk_name} phone assistant.")
    else:
        response.say(f"Kayako case {spell_out_digits(case_id)}, from the {helpdesk_name} phone assistant.")
    return str(response)
