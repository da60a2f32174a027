"""The one error every speech engine raises, so the telephony layer can answer any failure the same way."""


class SpeechError(RuntimeError):
    """A transcription or synthesis failed (service error, timeout, missing model, unusable audio)."""
