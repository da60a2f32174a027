"""The call's brain: a state machine per call from "caller said something" to "assistant says something"."""
