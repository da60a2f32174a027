"""Playback bookkeeping on a scripted clock: a cut-off belongs to the reply it cuts, and says what of it was
heard (sentences played to the end, and the heard share of the one playing) and what was not."""

from __future__ import annotations

import asyncio

import pytest
from session_support import FarEnd

from kayako_call_assistant.domain import Usage
from kayako_call_assistant.fakes.speech import ToneTextToSpeech
from kayako_call_assistant.session.playback import AudioPlayback

pytestmark = pytest.mark.looptime


async def test_an_interruption_cuts_every_reply_in_flight_each_with_what_was_heard() -> None:
    far = FarEnd()
    playback = AudioPlayback(
        transport=far,
        tts=ToneTextToSpeech(seconds_per_character=0.05),
        fallback_tts=None,
        usage=Usage(),
        clock=far.loop.time,
    )
    playback.start()
    first = "One two three four."  # 19 characters: 0.95 s
    playback.say(first, reply=1)
    playback.say("Five six seven eight.", reply=1)
    playback.say("Nine ten.", reply=2)
    for _ in range(70):  # 1.4 s: the first sentence is over, its mark echoed; the second is under way
        await asyncio.sleep(0.02)
        for name in far.take_marks():
            playback.mark_reached(name)
    cuts = {cut.reply: cut for cut in playback.interrupt()}
    await playback.close()
    far.stop()
    assert set(cuts) == {1, 2}
    heard = cuts[1].heard_text
    assert heard.startswith(first + " ") and heard != first + " Five six seven eight."
    rest = cuts[1].unheard[0]
    assert f"{heard} {rest}" == f"{first} Five six seven eight."
    assert (cuts[2].heard_text, cuts[2].unheard) == ("", ("Nine ten.",))
    assert not playback.speaking
