"""Speech-to-text and text-to-speech engines (OpenAI and local)."""
