import pytest

from vertexcompat.domain.content import Content, FileDataPart, GenerationConfig, InlineDataPart, TextPart
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.domain.locations import FieldPath
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.validation import parse_chat_request


def to_openai_param(gemini: str, chat) -> str | None:
    """The Chat Completions surface's name for a Gemini location a backend reported."""
    return ChatParamNames(chat)(FieldPath.parse(gemini))


def lower(**fields):
    raw = {"model": "google/gemini-2.5-flash", **fields}
    return to_generate_request(parse_chat_request(raw), backend_model="local-m")


def test_system_and_developer_messages_become_one_system_instruction_in_order():
    req = lower(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
        ]
    )
    assert req.model == "local-m"
    assert req.system_instruction == Content(role="user", parts=(TextPart("be brief\n\nbe kind"),))
    assert req.contents == (Content(role="user", parts=(TextPart("hi"),)),)


def test_roles_map_to_user_and_model():
    req = lower(
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "assistant", "tool_calls": [
                {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "content": "result", "tool_call_id": "x"},
        ]
    )
    assert [c.role for c in req.contents] == ["user", "model", "model", "user"]
    assert req.system_instruction is None


def test_text_parts_are_kept_as_separate_parts():
    req = lower(
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ]
    )
    assert req.contents[0].parts == (TextPart("a"), TextPart("b"))


def test_media_parts_become_file_and_inline_data_naming_their_source():
    req = lower(messages=[{"role": "user", "content": [
        {"type": "text", "text": "x"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "WAV"}},
    ]}])
    assert req.contents[0].parts == (
        TextPart("x"),
        FileDataPart(file_uri="https://example.com/a.png", source="messages[0].content[1].image_url.url"),
        InlineDataPart(mime_type="audio/wav", data="AA==", source="messages[0].content[2].input_audio.data"),
    )


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "image_url"}, "messages[0].content[1].image_url"),
        ({"type": "input_audio"}, "messages[0].content[1].input_audio"),
        ({"type": "image_url", "image_url": {}}, "messages[0].content[1].image_url.url"),
        ({"type": "input_audio", "input_audio": {"data": "AA=="}}, "messages[0].content[1].input_audio.format"),
    ],
)
def test_media_parts_without_their_payload_are_invalid(part, param):
    with pytest.raises(InvalidArgument) as caught:
        lower(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert caught.value.param == param


@pytest.mark.parametrize("role", ["system", "developer", "assistant"])
def test_media_outside_user_and_tool_messages_is_refused_not_dropped(role):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    with pytest.raises(InvalidArgument) as caught:
        lower(messages=[{"role": "user", "content": "q"}, {"role": role, "content": [image]}])
    assert caught.value.param == "messages[1].content[0]"


def test_media_returned_by_a_tool_follows_its_result():
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    req = lower(messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "snap", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "taken"}, image]},
    ])
    result, media = req.contents[-1].parts
    assert result.name == "snap" and result.response == {"content": "taken"}
    assert media == FileDataPart(file_uri="data:image/png;base64,AA==", source="messages[2].content[1].image_url.url")


def test_text_part_without_text_is_invalid():
    with pytest.raises(InvalidArgument) as caught:
        lower(messages=[{"role": "user", "content": [{"type": "text"}]}])
    assert caught.value.param == "messages[0].content[0].text"


def test_user_message_without_content_is_invalid():
    with pytest.raises(InvalidArgument) as caught:
        lower(messages=[{"role": "user"}])
    assert caught.value.param == "messages[0].content"


def test_only_system_messages_is_invalid():
    with pytest.raises(InvalidArgument) as caught:
        lower(messages=[{"role": "system", "content": "x"}])
    assert caught.value.param == "messages"


def test_sampling_parameters_map_to_generation_config():
    req = lower(
        messages=[{"role": "user", "content": "q"}],
        temperature=0.5,
        top_p=0.9,
        n=3,
        max_tokens=10,
        stop="END",
        presence_penalty=0.1,
        frequency_penalty=-0.2,
        seed=42,
    )
    assert req.generation_config == GenerationConfig(
        temperature=0.5,
        top_p=0.9,
        candidate_count=3,
        max_output_tokens=10,
        stop_sequences=("END",),
        presence_penalty=0.1,
        frequency_penalty=-0.2,
        seed=42,
    )


def test_max_completion_tokens_wins_over_max_tokens_and_stop_list_is_kept():
    req = lower(
        messages=[{"role": "user", "content": "q"}],
        max_tokens=10,
        max_completion_tokens=20,
        stop=["a", "b"],
    )
    assert req.generation_config.max_output_tokens == 20
    assert req.generation_config.stop_sequences == ("a", "b")


def test_defaults_leave_sampling_unset():
    req = lower(messages=[{"role": "user", "content": "q"}])
    assert req.generation_config == GenerationConfig()


@pytest.mark.parametrize(
    ("gemini", "fields", "openai"),
    [
        ("generation_config.candidate_count", {}, "n"),
        ("generation_config.max_output_tokens", {"max_tokens": 5}, "max_tokens"),
        ("generation_config.max_output_tokens", {"max_completion_tokens": 5}, "max_completion_tokens"),
        ("generation_config.stop_sequences", {}, "stop"),
        ("contents", {}, "messages"),
        ("system_instruction", {}, "messages"),
        ("model", {}, "model"),
    ],
)

def test_backend_params_are_named_as_the_client_wrote_them(gemini, fields, openai):
    chat = parse_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    )
    assert to_openai_param(gemini, chat) == openai


@pytest.mark.parametrize("role", ["system", "developer", "assistant"])
def test_media_outside_user_messages_is_refused_naming_the_part(role):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    chat = parse_chat_request({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": role, "content": [{"type": "text", "text": "look"}, image]},
        {"role": "user", "content": "and?"},
    ]})
    with pytest.raises(InvalidArgument) as caught:
        to_generate_request(chat, backend_model="m")
    assert caught.value.param == "messages[1].content[1]"
    assert caught.value.message.startswith(f"`messages[1].content[1]`: {role} messages cannot")
