"""Backends: everything that can answer a GenerateContentRequest."""
