"""Gemini-shaped domain types shared by every layer (no I/O, no HTTP)."""
