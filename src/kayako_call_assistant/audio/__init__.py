"""Telephone audio: G.711 μ-law, resampling, WAV files, voice activity detection and end-of-turn detection."""
