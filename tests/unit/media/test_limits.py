"""MediaLimits: validated at construction; allowlist matching by name, address and network."""

from ipaddress import ip_address

import pytest

from vertexcompat.media.limits import MediaLimits


@pytest.mark.parametrize("entry", ["", "http://x", "a b", "10.0.0.0/33", "10.0.0.1/8/2"])
def test_malformed_allowlist_entry_fails_at_construction(entry):
    with pytest.raises(ValueError):
        MediaLimits(allowlist=(entry,))


@pytest.mark.parametrize("field", ["max_image_bytes", "max_audio_bytes", "max_image_pixels",
                                   "max_parts_per_request", "max_audio_seconds",
                                   "fetch_timeout_s", "max_request_pixels",
                                   "max_request_audio_seconds"])
def test_non_positive_limits_fail_at_construction(field):
    with pytest.raises(ValueError):
        MediaLimits(**{field: 0})


def test_allowlisted_host_matches_case_insensitively_and_without_trailing_dot():
    limits = MediaLimits(allowlist=("Media.Internal.",))
    assert limits.allows_host("media.internal")
    assert limits.allows_host("MEDIA.INTERNAL.")
    assert not limits.allows_host("evil-media.internal")


def test_allowlisted_network_matches_its_addresses_and_their_mapped_forms():
    limits = MediaLimits(allowlist=("10.0.0.0/8", "[fd00::1]"))
    assert limits.allows_address(ip_address("10.1.2.3"))
    assert limits.allows_address(ip_address("::ffff:10.1.2.3"))
    assert limits.allows_address(ip_address("fd00::1"))
    assert not limits.allows_address(ip_address("11.0.0.1"))
    assert not limits.allows_address(ip_address("fd00::2"))


def test_defaults_refuse_http_and_allow_nothing_extra():
    limits = MediaLimits()
    assert not limits.allow_http and limits.allowlist == () and limits.gcs_root is None
    assert limits.max_redirects == 5


def test_default_request_budgets_refuse_sixteen_phone_photos_but_hold_one():
    limits = MediaLimits()
    assert 48_000_000 <= limits.max_image_pixels <= limits.max_request_pixels
    assert 16 * 49_000_000 > limits.max_request_pixels
    # A clip at the per-part limit fits the request's budget on its own.
    assert limits.max_audio_seconds <= limits.max_request_audio_seconds
