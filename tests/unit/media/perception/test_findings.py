from vertexcompat.media.perception import AudioFindings, ImageFindings, NamedColor


def image_findings(**overrides: object) -> ImageFindings:
    fields: dict[str, object] = dict(
        width=640, height=480, format="JPEG", text_lines=("STOP 42",), faces=0,
        dominant_colors=(NamedColor("red", "#cc141e", 0.61), NamedColor("white", "#fefefe", 0.3)),
        nsfw_score=0.91)
    fields.update(overrides)
    return ImageFindings(**fields)  # type: ignore[arg-type]


def test_image_description_names_size_text_colours_and_faces() -> None:
    assert image_findings().describe() == (
        '(Attached image, as examined by an image-analysis tool: a 640x480 JPEG; the text '
        'written in it reads "STOP 42"; its main colours are red (61%) and white (30%); '
        "no faces.)")


def test_image_description_never_mentions_the_nsfw_score() -> None:
    text = image_findings(nsfw_score=0.99).describe().lower()
    assert "nsfw" not in text and "0.99" not in text and "99%" not in text


def test_image_description_says_when_there_is_no_text_and_counts_faces() -> None:
    text = image_findings(text_lines=(), faces=2, dominant_colors=()).describe()
    assert text == (
        "(Attached image, as examined by an image-analysis tool: a 640x480 JPEG; no text in "
        "it; 2 faces.)")


def test_image_text_lines_are_kept_in_order_and_quotes_cannot_break_out() -> None:
    text = image_findings(text_lines=('say "hi"', "line two")).describe()
    assert "the text written in it reads \"say 'hi'\" / \"line two\";" in text


def test_audio_description_gives_duration_language_and_transcript() -> None:
    findings = AudioFindings(transcript="Hello there.", language="en",
                             language_probability=0.98, duration_s=3.24)
    assert findings.describe() == (
        '(Attached audio, as heard by a speech recognizer: 3.2 s of English speech; the '
        'transcript reads "Hello there.".)')


def test_audio_description_of_silence_says_no_speech() -> None:
    findings = AudioFindings(transcript="", language="xx", language_probability=0.2,
                             duration_s=1.0)
    assert findings.describe() == (
        "(Attached audio, as heard by a speech recognizer: 1.0 s; no speech recognised.)")


def test_findings_are_immutable() -> None:
    findings = image_findings()
    try:
        findings.faces = 3  # type: ignore[misc]
    except AttributeError:
        return
    raise AssertionError("ImageFindings must be frozen")


def test_a_long_page_of_text_is_cut_at_a_line_and_says_how_much_is_left() -> None:
    lines = tuple(f"line {i:03d} " + "x" * 90 for i in range(100))
    text = image_findings(text_lines=lines).describe()
    assert '"line 000' in text and '"line 014' in text and "line 015" not in text
    assert "(and 85 more lines);" in text
    assert len(text) < 2000
