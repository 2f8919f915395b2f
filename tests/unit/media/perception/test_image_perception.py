"""The image half of the pipeline with the real models (RapidOCR, Haar cascade, open_nsfw)."""

import threading
from pathlib import Path

import numpy as np
import pytest

from vertexcompat.media.perception import Perception
from vertexcompat.media.perception.ocr import reading_order

from .image_samples import as_media, plain_png, portrait_jpeg, side_by_side, stop_sign_jpeg

pytestmark = pytest.mark.timeout(180)


def test_a_red_sign_reads_stop_42_in_red(perception: Perception) -> None:
    findings = perception.describe_image(as_media(stop_sign_jpeg()))
    text = " ".join(findings.text_lines).upper()
    assert "STOP" in text and "42" in text
    assert findings.dominant_colors[0].name == "red"
    assert (findings.width, findings.height, findings.format) == (640, 480, "JPEG")
    assert findings.faces == 0
    assert 0.0 <= findings.nsfw_score < 0.2
    description = findings.describe()
    assert "STOP 42" in description and "red" in description


def test_a_plain_image_has_no_text_and_no_faces(perception: Perception) -> None:
    findings = perception.describe_image(as_media(plain_png()))
    assert findings.text_lines == ()
    assert findings.faces == 0
    assert [c.name for c in findings.dominant_colors] == ["blue"]
    assert findings.describe() == (
        "(Attached image, as examined by an image-analysis tool: a 320x240 PNG; no text in it; "
        "its main colours are blue (100%); no faces.)")


def test_a_portrait_has_one_face_and_two_portraits_have_two(perception: Perception) -> None:
    one = perception.describe_image(as_media(portrait_jpeg()))
    assert one.faces == 1
    assert one.nsfw_score < 0.2
    assert one.describe().endswith("; 1 face.)")
    assert perception.describe_image(as_media(side_by_side(portrait_jpeg(), 2))).faces == 2


def test_concurrent_callers_get_the_same_answers(perception: Perception) -> None:
    media = as_media(stop_sign_jpeg())
    results: list[tuple[str, ...]] = []
    threads = [threading.Thread(target=lambda: results.append(
        perception.describe_image(media).text_lines)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1


def test_ocr_lines_come_in_reading_order() -> None:
    def box(x: float, y: float) -> list[list[float]]:
        return [[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]]
    rows = [[box(200, 102), "world", 0.9], [box(10, 100), "hello", 0.9],
            [box(10, 160), "second line", 0.9], [box(10, 10), "title", 0.9]]
    assert reading_order(rows) == ("title", "hello world", "second line")


def test_an_image_with_alpha_is_seen_on_white(perception: Perception) -> None:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(buf, format="PNG")  # fully transparent
    findings = perception.describe_image(as_media(buf.getvalue()))
    assert [c.name for c in findings.dominant_colors] == ["white"]
    assert np.isfinite(findings.nsfw_score)


def test_a_corrupt_nsfw_model_is_a_clear_error(tmp_path: Path) -> None:
    from vertexcompat.media.perception import PerceptionModelError
    from vertexcompat.media.perception.nsfw import verified_model_bytes

    fake = tmp_path / "open-nsfw.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(PerceptionModelError, match="Checksum mismatch .* Reinstall"):
        verified_model_bytes(fake)


def test_a_generated_image_is_scored_for_safety_as_perception_scores_it(
    perception: Perception,
) -> None:
    # What the safety settings rate a generated PNG as (sexually explicit): the same
    # open_nsfw score perception gives the image, from its encoded bytes.
    png = plain_png()
    score = perception.score_image(png)
    assert 0.0 <= score < 0.25
    assert score == pytest.approx(perception.describe_image(as_media(png)).nsfw_score, abs=1e-4)
