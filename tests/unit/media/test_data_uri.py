"""data: URIs and bare base64: strict parsing, size checked before decoding."""

import base64

import pytest

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.media import data_uri
from vertexcompat.media.data_uri import decode_base64, decoded_size, parse_data_uri

PARAM = "messages[2].content[1].image_url.url"


def test_base64_data_uri_yields_mime_and_bytes():
    uri = "data:image/PNG;base64," + base64.b64encode(b"\x89PNG payload").decode()
    parsed = parse_data_uri(uri, param=PARAM, max_bytes=1000)
    assert parsed.mime == "image/png"
    assert parsed.data == b"\x89PNG payload"


def test_parameters_before_base64_are_accepted_and_a_missing_mime_is_none():
    parsed = parse_data_uri("DATA:;name=x.png;base64,QUJD", param=PARAM, max_bytes=10)
    assert parsed.mime is None and parsed.data == b"ABC"


@pytest.mark.parametrize("payload",
                         ["QUJ$", "QU JD", "QUJD\n", "QUI=QUJD", "Q-_D", "QUJ", "QUJDé"])
def test_bad_base64_is_a_400_naming_the_param(payload):
    with pytest.raises(InvalidArgument) as err:
        parse_data_uri("data:image/png;base64," + payload, param=PARAM, max_bytes=100)
    assert err.value.param == PARAM
    assert "not valid base64" in err.value.message
    assert PARAM in err.value.message


def test_percent_encoded_data_uri_is_refused():
    with pytest.raises(InvalidArgument, match="must be base64-encoded"):
        parse_data_uri("data:image/png,%89PNG", param=PARAM, max_bytes=100)


@pytest.mark.parametrize("uri", ["https://example.com/a.png", "date:image/png;base64,QUJD"])
def test_other_schemes_are_not_data_uris(uri):
    with pytest.raises(InvalidArgument, match="not a data: URI") as err:
        parse_data_uri(uri, param=PARAM, max_bytes=100)
    assert err.value.param == PARAM


@pytest.mark.parametrize("uri", ["data:image/png;base64", "data:image png;base64,QUJD",
                                 "data:image/png;charset;base64,QUJD", "data:image/png;base64,"])
def test_malformed_data_uris_are_a_400(uri):
    with pytest.raises(InvalidArgument) as err:
        parse_data_uri(uri, param=PARAM, max_bytes=100)
    assert err.value.param == PARAM


def test_oversize_payload_is_a_413_before_any_decoding(monkeypatch):
    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded an oversize payload")

    monkeypatch.setattr(data_uri.binascii, "a2b_base64", must_not_decode)
    uri = "data:image/jpeg;base64," + base64.b64encode(b"x" * 101).decode()
    with pytest.raises(PayloadTooLarge) as err:
        parse_data_uri(uri, param=PARAM, max_bytes=100)
    assert err.value.http_status == 413
    assert err.value.param == PARAM


def test_payload_exactly_at_the_limit_is_accepted():
    payload = base64.b64encode(b"x" * 100).decode()
    assert decode_base64(payload, param=PARAM, max_bytes=100) == b"x" * 100


@pytest.mark.parametrize("n", range(0, 12))
def test_decoded_size_is_exact_for_valid_base64(n):
    assert decoded_size(base64.b64encode(b"y" * n).decode()) == n
