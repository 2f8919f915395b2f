"""OpenAI Chat Completions wire models (request, response, chunk, error body).

Named `openai_api`, not `openai`, so it never shadows the SDK."""
