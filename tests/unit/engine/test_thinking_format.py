"""The thinking format comes from the chat template, never the model's name; the start of
an answer after thoughts is cleaned of repeated markers."""

from vertexcompat.engine.chat_template import FALLBACK_CHATML, ChatTemplate
from vertexcompat.engine.text_stream import AnswerStart, CandidateText
from vertexcompat.engine.thinking import (
    generic_format,
    history_messages,
    native_format,
    native_thinking,
)

# A Qwen3-style template fragment: it writes the think markers itself and has a switch.
QWEN3_LIKE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)


def test_a_template_that_writes_think_markers_thinks_natively():
    assert native_thinking(QWEN3_LIKE)
    assert not native_thinking(FALLBACK_CHATML)


def test_the_enable_thinking_switch_is_passed_to_a_template_that_reads_it():
    template = ChatTemplate(QWEN3_LIKE, bos_token="", eos_token="")
    messages = [{"role": "user", "content": "hi"}]
    assert template.render(messages, thinking=False).endswith("<think>\n\n</think>\n\n")
    assert template.render(messages, thinking=True).endswith("<|im_start|>assistant\n")


def test_native_format_does_not_open_a_segment_the_template_already_opened():
    assert native_format("<|im_start|>assistant\n<think>\n").open == ""
    assert native_format("<|im_start|>assistant\n").open == "<think>\n"
    assert native_format("x").close == "\n</think>\n\n"


def test_generic_format_ends_the_notes_as_an_assistant_turn():
    template = ChatTemplate(FALLBACK_CHATML, bos_token="", eos_token="")
    boundary = template.assistant_turn_boundary([{"role": "user", "content": "hi"}])
    assert boundary == "<|im_end|>\n<|im_start|>assistant\n"
    fmt = generic_format(boundary)
    assert fmt.close == "\n</think>" + boundary and fmt.after_marker == boundary
    assert fmt.instruction and "<think>" in fmt.instruction


def test_a_template_that_rejects_two_assistant_turns_gets_a_plain_close():
    strict = ChatTemplate(
        "{% for m in messages %}{% if loop.index0 % 2 == 1 and m['role'] != 'assistant' %}"
        "{{ raise_exception('alternate') }}{% endif %}{% if loop.index0 % 2 == 0 and "
        "m['role'] != 'user' %}{{ raise_exception('alternate') }}{% endif %}"
        "[{{ m['role'] }}]{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}"
        "[assistant]{% endif %}",
        bos_token="", eos_token="",
    )
    assert strict.assistant_turn_boundary([{"role": "user", "content": "hi"}]) is None
    assert generic_format(None).close == "\n</think>\n\n"


def test_history_frames_restored_thoughts_like_the_model_writes_them():
    answer = {"role": "assistant", "content": "Blue."}
    assert history_messages(native=False, role="assistant", thoughts="t", answer=answer) == [
        {"role": "assistant", "content": "<think>\nt\n</think>"}, answer,
    ]
    assert history_messages(native=True, role="assistant", thoughts="t", answer=answer) == [
        {"role": "assistant", "content": "<think>\nt\n</think>\n\nBlue."},
    ]
    assert history_messages(native=False, role="assistant", thoughts="t", answer=None) == [
        {"role": "assistant", "content": "<think>\nt\n</think>"},
    ]


def test_answer_start_drops_leading_space_and_a_repeated_open_marker_split_anywhere():
    text = "\n <think>\nThe answer is 4."
    for cut in range(len(text) + 1):
        start = AnswerStart("<think>")
        out = start.push(text[:cut]) + start.push(text[cut:]) + start.push("", final=True)
        assert out == "The answer is 4.", cut


def test_answer_start_keeps_text_that_only_looks_like_a_marker_start():
    start = AnswerStart("<think>")
    assert start.push("<th") == ""
    assert start.push("ree>") == "<three>"
    start = AnswerStart("<think>")
    assert start.push("<", final=True) == "<"


def test_second_stage_filter_stops_at_a_new_reasoning_segment():
    guard = CandidateText(("<think>",))
    assert guard.push_text("Blue. <thi") == "Blue. "
    assert guard.push_text("nk> more") == ""
    assert guard.stopped
