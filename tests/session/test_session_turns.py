"""The turn-taking rules of ``CallSession``, each driven frame by frame on a scripted (virtual) clock."""

from __future__ import annotations

import itertools

import pytest
from session_support import FRAME, ScriptedFlow, noise_burst, start, voice

from kayako_call_assistant.domain import Say

pytestmark = pytest.mark.looptime

LONG = [Say("This is the first sentence of a long answer."), Say("And this is the second one, longer still.")]


async def test_speech_before_the_turn_reaches_the_flow_extends_it_and_it_is_answered_once() -> None:
    # The caller pauses 600 ms (past the 500 ms end of turn) and goes on while the recogniser is still busy.
    rig = start(ScriptedFlow(), ["my password does not work and also my invoice"], stt_delay=0.4)
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(0.6)
    await rig.far.speak(voice(0.8))
    await rig.far.wait(3.0)
    await rig.end()
    assert rig.flow.said == ["my password does not work and also my invoice"]
    assert len(rig.stt.utterances[-1]) / 16000 >= 1.6 + 0.6  # one transcription of both parts and the pause
    assert rig.far.timeline.assistant_during_caller_speech() == 0.0


async def test_a_reply_being_prepared_is_held_while_the_caller_talks_and_dropped_when_they_take_the_turn() -> (
    None
):
    flow = ScriptedFlow(think_seconds=1.0, answer=lambda text: [Say(f"About {text}.")])
    rig = start(flow, ["my password", "no wait, my invoice"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(0.7)  # the turn has gone to the flow, which is thinking
    await rig.far.speak(voice(1.5))  # talking through the moment the reply is ready
    await rig.far.wait(5.0)
    await rig.end()
    assert flow.said == ["my password", "no wait, my invoice"]
    assert flow.cut_offs == [""]  # the first reply: not a word of it was heard
    assert rig.tts.texts[-1] == "About no wait, my invoice."
    assert "About my password." not in rig.tts.texts
    assert rig.far.timeline.assistant_during_caller_speech() == 0.0


async def test_a_held_reply_is_played_after_a_backchannel() -> None:
    flow = ScriptedFlow(think_seconds=1.0, answer=lambda text: [Say(f"About {text}.")])
    rig = start(flow, ["my password", "uh-huh"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(0.7)
    await rig.far.speak(voice(0.6))
    await rig.far.wait(3.0)
    await rig.end()
    assert flow.said == ["my password"] and flow.cut_offs == []
    assert rig.tts.texts[-1] == "About my password."
    assert rig.far.timeline.assistant_during_caller_speech() == 0.0


async def test_a_pause_shorter_than_the_end_of_turn_window_is_one_turn() -> None:
    rig = start(ScriptedFlow(), ["one whole sentence"])
    await rig.greeted()
    await rig.far.speak(voice(0.6))
    await rig.far.wait(0.3)
    await rig.far.speak(voice(0.6))
    await rig.far.wait(2.0)
    await rig.end()
    assert rig.flow.said == ["one whole sentence"] and len(rig.stt.utterances) == 1


async def test_the_end_of_turn_window_is_longer_while_the_caller_spells() -> None:
    for expects, turns in (("email", 1), (None, 2)):
        flow = ScriptedFlow(expects=expects)
        rig = start(flow, ["j o h n", "at example dot com"])
        await rig.greeted()
        await rig.far.speak(voice(0.8))
        await rig.far.wait(0.8)  # a pause between letters
        await rig.far.speak(voice(0.8))
        await rig.far.wait(2.5)
        await rig.end()
        assert len(flow.said) == turns, expects


async def test_the_end_of_turn_window_is_shorter_after_a_yes_no_question() -> None:
    flow = ScriptedFlow(expects="yes_no")
    rig = start(flow, ["yes"], end_of_turn_yes_no_ms=300)
    await rig.greeted()
    await rig.far.speak(voice(0.4))
    stopped = rig.far.now()
    await rig.far.wait(2.0)
    await rig.end()
    answer_start = next(a for a, _ in rig.far.timeline.assistant if a > stopped)
    assert flow.said == ["yes"] and answer_start - stopped < 0.5  # the 500 ms default would not allow it


async def test_a_cough_does_not_interrupt() -> None:
    rig = start(ScriptedFlow(answer=lambda text: LONG), ["tell me", ""])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(1.5)  # the answer is playing
    await rig.far.speak(noise_burst(0.25))
    await rig.far.wait(8.0)
    await rig.end()
    assert rig.far.timeline.clears == []
    assert rig.flow.cut_offs == [] and rig.flow.said == ["tell me"]
    assert rig.tts.texts[-2:] == [s.text for s in LONG]  # played whole


async def test_a_short_backchannel_does_not_stop_the_answer() -> None:
    rig = start(ScriptedFlow(answer=lambda text: LONG), ["tell me", "uh-huh"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(1.5)
    await rig.far.speak(voice(0.3))
    await rig.far.wait(8.0)
    await rig.end()
    assert rig.far.timeline.clears == [] and rig.flow.cut_offs == [] and rig.flow.said == ["tell me"]


async def test_a_long_backchannel_pauses_the_answer_which_then_resumes_where_it_stopped() -> None:
    rig = start(ScriptedFlow(answer=lambda text: LONG), ["tell me", "okay"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(1.2)
    await rig.far.speak(voice(0.7))  # past the 400 ms minimum: the answer pauses
    await rig.far.wait(8.0)
    await rig.end()
    assert len(rig.far.timeline.clears) == 1
    assert rig.flow.cut_offs == [] and rig.flow.said == ["tell me"]
    first, second = (s.text for s in LONG)
    resumed = rig.tts.texts[-2]
    assert resumed != first and first.endswith(resumed)  # the rest of the interrupted sentence
    assert rig.tts.texts[-1] == second


async def test_a_real_interruption_stops_the_answer_and_the_transcript_keeps_what_was_heard() -> None:
    flow = ScriptedFlow(answer=lambda text: LONG if text == "tell me" else [Say("Sure.")])
    rig = start(flow, ["tell me", "wait, I have another question"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(3.6)  # the first sentence (about 2.6 s) is over, the second is playing
    spoke = await rig.far.speak(voice(1.0))
    await rig.far.wait(3.0)
    await rig.end()
    (cleared,) = rig.far.timeline.clears
    assert cleared - spoke <= 0.4 + 0.1  # the minimum, and a few frames of voice detection
    first, second = (s.text for s in LONG)
    (heard,) = flow.cut_offs
    assert heard.startswith(first + " ") and second.startswith(heard[len(first) + 1 :])
    assert len(heard) < len(first) + 1 + len(second)
    assert flow.events.index(("cut_off", heard)) < flow.events.index(
        ("said", "wait, I have another question")
    )


async def test_words_interrupt_sooner_than_the_minimum_duration() -> None:
    flow = ScriptedFlow(answer=lambda text: LONG if text == "tell me" else [Say("Okay.")])
    rig = start(flow, ["tell me", "stop"], interrupt_min_speech_ms=2000)
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(1.2)
    await rig.far.speak(voice(0.5))
    await rig.far.wait(3.0)
    await rig.end()
    assert len(rig.far.timeline.clears) == 1 and flow.said == ["tell me", "stop"] and len(flow.cut_offs) == 1


async def test_a_key_cuts_the_reply_it_belongs_to_before_the_flow_hears_the_key() -> None:
    flow = ScriptedFlow(answer=lambda text: LONG)
    rig = start(flow, ["tell me"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(0.9 + FRAME)  # the end of turn, then a little of the answer
    await rig.far.press("0")
    await rig.far.wait(3.0)
    await rig.end()
    kinds = [kind for kind, _ in flow.events]
    assert kinds == ["said", "cut_off", "pressed", "hung_up"]
    assert rig.tts.texts[-1] == "You pressed 0."


async def test_replies_never_overlap() -> None:
    flow = ScriptedFlow(answer=lambda text: LONG)
    rig = start(flow, ["one", "two"], seconds_per_character=0.02)
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(0.55)
    await rig.far.press("5")  # while the first answer is still being handed out
    await rig.far.wait(3.0)
    await rig.end()
    played = sorted(rig.far.timeline.assistant)
    assert all(b[0] >= a[1] - 1e-9 for a, b in itertools.pairwise(played))


async def test_the_filler_waits_for_a_talking_caller_and_stops_at_once_when_they_start() -> None:
    rig = start(ScriptedFlow(), ["tell me more about it"], stt_delay=2.5, filler_after_seconds=0.8)
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(0.6)
    await rig.far.speak(voice(1.0))  # through the moment the filler was due
    await rig.far.wait(1.2)  # the filler plays now, the recogniser still busy
    assert rig.tts.texts[-1] == "One moment, let me check that."
    await rig.far.speak(voice(0.6))  # and the caller starts again over the filler
    await rig.far.wait(5.0)
    await rig.end()
    assert rig.far.timeline.assistant_during_caller_speech() <= 0.2 + 0.06  # speech confirmed, then clear
    assert rig.flow.said == ["tell me more about it"]


async def test_an_empty_transcription_after_the_filler_gets_a_sorry() -> None:
    rig = start(ScriptedFlow(), [""], stt_delay=2.0)
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(5.0)
    await rig.end()
    assert rig.tts.texts[-2:] == [
        "One moment, let me check that.",
        "Sorry, I didn't catch that. Could you say it again?",
    ]
    assert rig.flow.said == []


async def test_the_call_is_finished_whatever_the_flow_raised() -> None:
    def broken(text: str) -> list[Say]:
        raise RuntimeError("the flow broke")

    rig = start(ScriptedFlow(answer=broken), ["hello"])
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(5.0)
    await rig.end()
    assert rig.far.timeline.hang_ups == ["transport_failure"]
    assert rig.tts.texts[-1] == "I'm sorry, something went wrong on our side."
    assert rig.flow.hung_up_calls == 1


async def test_a_failed_transfer_is_said_and_the_call_ends_in_one_place() -> None:
    from kayako_call_assistant.domain import Transfer

    flow = ScriptedFlow(answer=lambda text: [Say("Connecting you to a person."), Transfer(7, "caller_asked")])
    rig = start(flow, ["a person please"])
    rig.far.transfer_result = False
    await rig.greeted()
    await rig.far.speak(voice(0.8))
    await rig.far.wait(8.0)
    await rig.end()
    assert rig.far.timeline.transfers == [7] and rig.far.timeline.hang_ups == ["transfer_failed"]
    assert [kind for kind, _ in flow.events] == ["said", "transfer_failed", "hung_up"]
    assert rig.tts.texts[-1] == "We will call you back."


async def test_an_idle_caller_is_reprompted() -> None:
    rig = start(ScriptedFlow(), [], idle_timeout_seconds=3.0)
    await rig.greeted()
    await rig.far.wait(5.5)
    await rig.end()
    assert [kind for kind, _ in rig.flow.events] == ["silent", "hung_up"]


async def test_the_idle_prompt_comes_when_the_timeout_has_passed_since_the_last_activity() -> None:
    # Counted from the end of the answer (the last activity), not from the greeting, and said on time: the
    # watch sleeps to that moment rather than looking on a tick.
    rig = start(ScriptedFlow(), ["how do I reset my password"], idle_timeout_seconds=3.0)
    await rig.greeted()
    await rig.far.wait(2.0)
    await rig.far.speak(voice(0.8))
    await rig.far.wait(9.0)
    await rig.end()
    assert [kind for kind, _ in rig.flow.events] == ["said", "silent", "hung_up"]
    played = rig.far.timeline.assistant  # message by message; the prompt follows the last gap
    answer_ended, prompt_started = next(
        (played[i - 1][1], played[i][0])
        for i in range(len(played) - 1, 0, -1)
        if played[i][0] - played[i - 1][1] > 1.0
    )
    assert rig.tts.texts[-1] == "Are you still there?"
    assert 3.0 <= prompt_started - answer_ended <= 3.1
