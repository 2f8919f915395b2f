"""Image output options of a chat request: `modalities`, `size`, and
`extra_body.google.image_config.aspect_ratio` (both google key forms) lowered to the
domain, and every bad value a 400 naming the parameter as the client sent it."""

import pytest

from vertexcompat.domain.content import ImageConfig
from vertexcompat.domain.errors import InvalidArgument
from vertexcompat.translate.image_options import ASPECT_RATIO_SIZES
from vertexcompat.domain.locations import FieldPath
from vertexcompat.translate.chat_params import ChatParamNames
from vertexcompat.translate.request_to_gemini import to_generate_request
from vertexcompat.translate.validation import parse_chat_request


def to_openai_param(gemini: str, chat) -> str | None:
    """The Chat Completions surface's name for a Gemini location a backend reported."""
    return ChatParamNames(chat)(FieldPath.parse(gemini))


USER = {"role": "user", "content": "Draw a cat."}


def lower(**fields):
    chat = parse_chat_request({"model": "m", "messages": [USER], **fields})
    return to_generate_request(chat, backend_model="local").generation_config


def test_no_image_options_leave_the_model_default():
    cfg = lower()
    assert cfg.response_modalities == ()
    assert cfg.image_config is None
    assert not cfg.wants_image
    assert cfg.image_size == (1024, 1024)


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [(["image", "text"], ("TEXT", "IMAGE")), (["text"], ("TEXT",)), (["image"], ("IMAGE",))],
)
def test_modalities_become_response_modalities_in_gemini_order(modalities, expected):
    cfg = lower(modalities=modalities)
    assert cfg.response_modalities == expected
    assert cfg.wants_image == ("IMAGE" in expected)


def test_audio_modality_is_refused_with_its_param():
    with pytest.raises(InvalidArgument) as err:
        lower(modalities=["text", "audio"])
    assert err.value.param == "modalities[1]"


def test_size_becomes_pixels():
    assert lower(size="512x768").image_config == ImageConfig(width=512, height=768)
    assert lower(size="auto").image_config is None


@pytest.mark.parametrize("size", ["63x512", "512x2049", "0x0", "4096x4096", "512", "512*512", "ax b", ""])
def test_bad_sizes_are_400_naming_size(size):
    with pytest.raises(InvalidArgument) as err:
        lower(size=size)
    assert err.value.param == "size"
    assert "size" in err.value.message


@pytest.mark.parametrize("ratio", sorted(ASPECT_RATIO_SIZES))
def test_aspect_ratio_uses_geminis_size_table(ratio):
    cfg = lower(extra_body={"google": {"image_config": {"aspect_ratio": ratio}}})
    width, height = ASPECT_RATIO_SIZES[ratio]
    assert cfg.image_config == ImageConfig(width=width, height=height, aspect_ratio=ratio)
    w, h = (int(p) for p in ratio.split(":"))
    assert abs(width / height - w / h) < 0.05


def test_gemini_table_examples():
    assert ASPECT_RATIO_SIZES["1:1"] == (1024, 1024)
    assert ASPECT_RATIO_SIZES["16:9"] == (1344, 768)


def test_size_wins_over_aspect_ratio():
    cfg = lower(size="256x256", google={"image_config": {"aspect_ratio": "16:9"}})
    assert cfg.image_config == ImageConfig(width=256, height=256, aspect_ratio="16:9")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"extra_body": {"google": {"image_config": {"aspect_ratio": "7:3"}}}},
         "extra_body.google.image_config.aspect_ratio"),
        ({"google": {"image_config": {"aspect_ratio": "square"}}}, "google.image_config.aspect_ratio"),
    ],
)

def test_bad_aspect_ratio_names_the_path_the_client_used(fields, param):
    with pytest.raises(InvalidArgument) as err:
        lower(**fields)
    assert err.value.param == param
    assert "16:9" in err.value.message


def test_backend_modality_errors_name_modalities_or_model():
    with_modalities = parse_chat_request({"model": "m", "messages": [USER], "modalities": ["image"]})
    without = parse_chat_request({"model": "m", "messages": [USER]})
    param = "generation_config.response_modalities"
    assert to_openai_param(param, with_modalities) == "modalities"
    assert to_openai_param(param, without) == "model"
