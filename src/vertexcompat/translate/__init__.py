"""Pure translation between OpenAI wire objects and Gemini-shaped domain types (no I/O)."""
