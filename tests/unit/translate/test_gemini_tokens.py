"""`tokens_info_json`: the `:computeTokens` answer, as Vertex writes it and as the
google-genai SDK reads it."""

import json

from vertexcompat.domain.tokens import TokensInfo
from vertexcompat.translate.gemini_tokens import tokens_info_json

INFOS = [
    TokensInfo("user", (9906, 1917), (b"Hello", b" world")),
    # A token may be part of a UTF-8 character: bytes, not text.
    TokensInfo("model", (2, 2**40), ("é".encode()[:1], "é".encode()[1:])),
    TokensInfo("user", (), ()),
]


def test_one_entry_per_content_with_base64_tokens_and_string_ids():
    assert tokens_info_json(INFOS) == {"tokensInfo": [
        {"tokens": ["SGVsbG8=", "IHdvcmxk"], "tokenIds": ["9906", "1917"], "role": "user"},
        {"tokens": ["ww==", "qQ=="], "tokenIds": ["2", "1099511627776"], "role": "model"},
        {"tokens": [], "tokenIds": [], "role": "user"},
    ]}
    json.dumps(tokens_info_json(INFOS))  # plain JSON


def test_no_contents_no_entries_and_an_empty_role_is_left_out():
    assert tokens_info_json([]) == {"tokensInfo": []}
    assert tokens_info_json([TokensInfo("", (1,), (b"a",))]) == {
        "tokensInfo": [{"tokens": ["YQ=="], "tokenIds": ["1"]}]
    }


def test_the_google_genai_sdk_reads_it():
    from google.genai import models, types

    wire = json.loads(json.dumps(tokens_info_json(INFOS)))
    read = types.ComputeTokensResponse._from_response(
        response=models._ComputeTokensResponse_from_vertex(wire), kwargs={}
    )
    assert [(i.role, i.token_ids, i.tokens) for i in read.tokens_info] == [
        ("user", [9906, 1917], [b"Hello", b" world"]),
        ("model", [2, 2**40], [b"\xc3", b"\xa9"]),
        ("user", [], []),
    ]
