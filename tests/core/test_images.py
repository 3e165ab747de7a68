import base64
import io

import pytest

from pytest_tokenbudget import RequestBodyError, count_request, image_size, image_tokens

PIL = pytest.importorskip("PIL.Image")


def encoded(fmt, width, height):
    buffer = io.BytesIO()
    PIL.new("RGB", (width, height), (200, 30, 30)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
@pytest.mark.parametrize("size", [(1, 1), (640, 480), (3000, 1200)])
def test_size_is_read_from_real_image_files(fmt, size):
    assert image_size(base64.b64decode(encoded(fmt, *size))) == size


def test_lossless_webp_size():
    buffer = io.BytesIO()
    PIL.new("RGB", (321, 123)).save(buffer, format="WEBP", lossless=True)
    assert image_size(buffer.getvalue()) == (321, 123)


# Worked examples from OpenAI's vision guide ("Calculating costs").
@pytest.mark.parametrize(
    "model, width, height, detail, tokens",
    [
        ("gpt-4o", 1024, 1024, "high", 765),
        ("gpt-4o", 2048, 4096, "high", 1105),
        ("gpt-4o", 4096, 8192, "low", 85),
        ("gpt-4.1-mini", 1024, 1024, "high", 1659),  # 1024 patches x 1.62
        ("gpt-4.1-mini", 1800, 2400, "high", 2353),  # resized to 1056x1408: 1452 patches x 1.62
    ],
)
def test_openai_published_examples(model, width, height, detail, tokens):
    assert image_tokens(width, height, model, detail) == tokens


def test_anthropic_rule_is_pixels_over_750_after_resizing():
    assert image_tokens(1000, 1000, "claude-sonnet-4-5") == 1334  # ceil(1e6 / 750)
    assert image_tokens(200, 200, "claude-sonnet-4-5") == 54
    # A huge image is scaled down first: never more than the per-image maximum.
    assert image_tokens(8000, 8000, "claude-sonnet-4-5") <= 1600


def test_data_url_image_in_a_chat_request():
    url = f"data:image/png;base64,{encoded('PNG', 1024, 1024)}"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
    ]}]}
    counted = count_request(body)
    image_part = next(p for p in counted.breakdown if "image" in p.label)
    assert image_part.tokens == 765 and "1024x1024" in image_part.label
    assert counted.provenance == "exact"


def test_remote_image_costs_the_worst_case_and_is_an_estimate():
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}]}]}
    counted = count_request(body)
    assert counted.provenance == "estimate"
    assert max(p.tokens for p in counted.breakdown) == 85 + 170 * 8  # 768x2048 after scaling: 2x4 tiles


def test_anthropic_base64_image_block():
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": encoded("JPEG", 750, 1000)}},
        {"type": "text", "text": "Describe it."}]}]}
    counted = count_request(body)
    assert any(p.tokens == 1000 and "750x1000" in p.label for p in counted.breakdown)


def test_garbage_image_data_names_the_path():
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,bm90IGFuIGltYWdl"}}]}]}
    with pytest.raises(RequestBodyError) as caught:
        count_request(body)
    assert caught.value.path == "messages[0].content[0]"


def test_model_without_vision_refuses_images():
    body = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}}]}]}
    with pytest.raises(RequestBodyError, match="does not accept images"):
        count_request(body)
