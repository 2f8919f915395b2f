"""Domain `TokenLogprobs` → OpenAI's `logprobs.content[]` entries (`TokenLogprob`), for
whole answers (response_to_openai.py) and streams (stream_transcoder.py).

`token` is the token's bytes read as UTF-8, a byte that is part of a character split
across tokens shown as U+FFFD (the text of a token alone); `bytes` are the exact bytes, so
a client that joins them gets the content back byte for byte, as OpenAI documents."""

from __future__ import annotations

from vertexcompat.domain.events import TokenChoice, TokenLogprobs
from vertexcompat.openai_api.response import TokenLogprob, TopLogprob


def to_token_logprob(event: TokenLogprobs) -> TokenLogprob:
    chosen = event.chosen
    return TokenLogprob(
        token=_text(chosen), logprob=chosen.logprob, bytes=list(chosen.token),
        top_logprobs=[
            TopLogprob(token=_text(t), logprob=t.logprob, bytes=list(t.token)) for t in event.top
        ],
    )


def _text(choice: TokenChoice) -> str:
    return choice.token.decode("utf-8", errors="replace")
