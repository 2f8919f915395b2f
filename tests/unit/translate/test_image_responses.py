"""Image events on the wire (SPEC §6, seed 000): the choice carries `image`, `content` and
`role` exactly as Vertex's sample shows, `message` carries the same image for SDK users;
the stream sends text, then one image delta, then one finish_reason; `images.generate`
gets one `b64_json` per image. Responses without images do not change."""

import base64

from vertexcompat.domain.events import Finished, FinishReason, ImageOutput, TextDelta, Usage
from vertexcompat.translate.images import to_images_response
from vertexcompat.translate.response_to_openai import to_chat_completion
from vertexcompat.translate.stream_transcoder import ChunkTranscoder

PNG = b"\x89PNG\r\n\x1a\nfake"
B64 = base64.b64encode(PNG).decode()
WIRE_IMAGE = {"data": B64, "extra_content": {"google": {"mime_type": "image/png"}}}

EVENTS = [
    TextDelta(0, "Here is an image of a banana: "),
    ImageOutput(0, "image/png", PNG),
    Finished(0, FinishReason.STOP),
    Usage(prompt_tokens=7, completion_tokens=1299),
]


def test_non_stream_choice_has_the_seed_shape_and_the_message_keeps_the_image():
    wire = to_chat_completion(EVENTS, completion_id="chatcmpl-x", created=1, model="m").to_wire()
    choice = wire["choices"][0]
    assert choice["image"] == WIRE_IMAGE
    assert choice["content"] == "Here is an image of a banana: "
    assert choice["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant", "content": "Here is an image of a banana: ", "image": WIRE_IMAGE,
    }
    assert wire["usage"]["completion_tokens"] == 1299


def test_choices_without_an_image_have_no_image_keys():
    events = [TextDelta(0, "hi"), Finished(0, FinishReason.STOP), Usage(1, 1)]
    choice = to_chat_completion(events, completion_id="c", created=1, model="m").to_wire()["choices"][0]
    assert set(choice) == {"index", "message", "finish_reason", "logprobs"}
    assert set(choice["message"]) == {"role", "content"}


def test_each_candidate_gets_its_own_image():
    events = [
        ImageOutput(1, "image/png", b"one"), ImageOutput(0, "image/png", b"zero"),
        Finished(0, FinishReason.STOP), Finished(1, FinishReason.STOP),
    ]
    wire = to_chat_completion(events, completion_id="c", created=1, model="m", n=2).to_wire()
    assert [base64.b64decode(c["image"]["data"]) for c in wire["choices"]] == [b"zero", b"one"]
    assert [c["content"] for c in wire["choices"]] == ["", ""]


def test_stream_sends_text_then_one_image_delta_then_one_finish_reason():
    transcoder = ChunkTranscoder(
        completion_id="c", created=1, model="m", n=1, include_usage=False
    )
    chunks = [c.to_wire() for c in transcoder.start()]
    for event in EVENTS:
        chunks += [c.to_wire() for c in transcoder.feed(event)]
    chunks += [c.to_wire() for c in transcoder.finish()]
    deltas = [(c["choices"][0]["delta"], c["choices"][0].get("finish_reason")) for c in chunks]
    assert deltas == [
        ({"role": "assistant"}, None),
        ({"content": "Here is an image of a banana: "}, None),
        ({"image": WIRE_IMAGE}, None),
        ({}, "stop"),
    ]


def test_images_response_has_one_b64_entry_per_image_with_its_caption():
    events = [
        TextDelta(0, "A red circle."), ImageOutput(0, "image/png", b"a"),
        TextDelta(1, "(No image: the drawing took too long to render.)"),
        Finished(0, FinishReason.STOP), Finished(1, FinishReason.OTHER),
        TextDelta(2, "  "), ImageOutput(2, "image/png", b"c"), Finished(2, FinishReason.STOP),
    ]
    wire = to_images_response(events, created=5).to_wire()
    assert wire == {
        "created": 5,
        "data": [
            {"b64_json": base64.b64encode(b"a").decode(), "revised_prompt": "A red circle."},
            {"b64_json": base64.b64encode(b"c").decode()},
        ],
    }
