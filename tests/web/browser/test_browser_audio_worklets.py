"""The softphone's audio worklets in Chromium's real Web Audio engine, on the softphone page under its CSP:
the capture turns a tone into 20 ms μ-law frames at 8 kHz; the player reports a mark once the audio before
it has played, and on ``clear`` drops its buffer and hands back every pending mark, as Twilio does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser_pages import watch_console
from telephony_support import voice_rig

CAPTURE = """async () => {
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/softphone-worklet.js");
  const tone = new OscillatorNode(context, { frequency: 440 });
  const gain = new GainNode(context, { gain: 0.5 });
  const capture = new AudioWorkletNode(context, "mulaw-capture", { numberOfOutputs: 0 });
  tone.connect(gain).connect(capture);
  const frames = await new Promise((resolve) => {
    const got = [];
    capture.port.onmessage = (event) => { got.push(event.data); if (got.length === 10) resolve(got); };
    tone.start();
  });
  await context.close();
  return { rate: context.sampleRate, sizes: frames.map((f) => f.frame.length),
           voiced: frames.map((f) => f.voiced), bytes: Array.from(frames[5].frame) };
}"""

PLAYER = """async () => {
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/softphone-worklet.js");
  const player = new AudioWorkletNode(context, "mulaw-player", { numberOfInputs: 0, outputChannelCount: [1] });
  player.connect(context.destination);
  const events = [];
  const next = (type) => new Promise((resolve) => {
    const check = () => { const found = events.find((e) => e.type === type); if (found) resolve(found); else setTimeout(check, 10); };
    check();
  });
  player.port.onmessage = (event) => events.push(event.data);
  const frame = new Uint8Array(160).fill(0x80);  // loud μ-law samples, 20 ms
  for (let i = 0; i < 5; i++) player.port.postMessage({ type: "media", bytes: frame });
  player.port.postMessage({ type: "mark", name: "s1" });
  const played = await next("played");
  for (let i = 0; i < 500; i++) player.port.postMessage({ type: "media", bytes: frame });  // 10 s
  player.port.postMessage({ type: "mark", name: "s2" });
  player.port.postMessage({ type: "mark", name: "s3" });
  await next("started");
  player.port.postMessage({ type: "clear" });
  const cleared = await next("cleared");
  await context.close();
  return { played, cleared, playedAfter: events.filter((e) => e.type === "played").map((e) => e.mark) };
}"""


async def test_capture_encodes_20ms_mulaw_frames_and_the_player_honours_marks_and_clear(
    tmp_path: Path, launch_browser: Any
) -> None:
    async with voice_rig(tmp_path) as rig:
        browser = await launch_browser()
        page = await browser.new_page()
        errors = watch_console(page)
        await page.goto(rig.base_url + "/")
        captured = await page.evaluate(CAPTURE)
        assert set(captured["sizes"]) == {160}  # 20 ms at 8 kHz, one byte a sample
        assert all(captured["voiced"][2:])
        assert len(set(captured["bytes"])) > 10  # a tone, not one repeated (silent) code
        player = await page.evaluate(PLAYER)
        assert player["played"]["mark"] == "s1"
        assert player["cleared"]["marks"] == ["s2", "s3"]  # ten seconds of audio dropped, marks handed back
        assert player["playedAfter"] == ["s1"]
        assert errors == [], errors
