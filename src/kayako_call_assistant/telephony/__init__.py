"""Twilio: voice webhooks, Gather turns, media streams and live-call control."""
