"""`MediaLimits`: every bound the media intake enforces, in one frozen value.

The defaults are chosen for a 2-core machine that runs OCR and Whisper on what it accepts:

- 20 MiB per image and 25 MiB per audio part: OpenAI's documented upload limits for images
  and for audio respectively; a data URI of that size is already ~27/33 MiB of JSON.
- 50 megapixels per image: comfortably above any phone camera (~48 MP). Kept (issue 12)
  because perception shrinks every image to the 2000-pixel side its models read before
  working on it (perception/pixels.py): measured on one worker thread, a 49 MP JPEG costs
  3.7 s of CPU and +734 MB peak RSS, a 4 MP one 3.1 s and +658 MB — almost all of it OCR's
  text detector on a 2000x2000 input —, a 49 MP PNG (no scaled decode) 4.4 s and +788 MB
  (before the shrink: 5.4-5.9 s and +920-960 MB). Pillow refuses anything over ~179 MP by
  itself, so a larger setting has no effect past that.
- 64 megapixels per request, all images together: one full-size phone photo (48 MP) and a
  few screenshots, or the part limit's 16 images at 4 MP (2560x1600). Refuses the measured
  attack — sixteen 49 MP images in one 3.4 MB request, 59 s of perception — from the headers
  alone. Its worst case, 16 images of 4 MP and more, is ~60 s of CPU on one worker.
- 180 seconds of audio per part and per request: Whisper base on one thread transcribes
  at ~0.26 s of CPU per second of audio (measured: 69 s → 18 s, 185 s → 48 s), so 180 s
  is ~50 s of work. The former 600 s per part was ~160 s: longer than the perception
  deadline (config.py `perception_deadline_s`, 120 s), so it could never have finished.
- 16 media parts per request: several images and clips per message are allowed (issue 6) but
  each one costs seconds of perception.
- 10 s to fetch a URL, all redirects and the body included; at most 5 redirects.

The per-request budgets are checked on the measured headers of all the request's parts,
before any is decoded (intake.check_request_budget): 400 naming the part that crosses one,
like the per-image limits.

`allowlist` names hosts (`media.internal`), addresses (`10.1.2.3`, `::1`) or networks
(`10.0.0.0/8`) that may be fetched although they are loopback, private, link-local or
reserved. It exists for operators with an internal media server; it is empty by default.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class MediaLimits:
    max_image_bytes: int = 20 * MiB
    max_audio_bytes: int = 25 * MiB
    max_image_pixels: int = 50_000_000
    max_audio_seconds: float = 180.0
    max_parts_per_request: int = 16
    max_request_pixels: int = 64_000_000
    max_request_audio_seconds: float = 180.0
    fetch_timeout_s: float = 10.0
    max_redirects: int = 5
    allow_http: bool = False
    allowlist: tuple[str, ...] = ()
    gcs_root: Path | None = None

    def __post_init__(self) -> None:
        # A misconfiguration should fail at startup, not on the first request with media.
        for name in ("max_image_bytes", "max_audio_bytes", "max_image_pixels",
                     "max_parts_per_request", "max_request_pixels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MediaLimits.{name} must be positive")
        if (self.max_audio_seconds <= 0 or self.max_request_audio_seconds <= 0
                or self.fetch_timeout_s <= 0):
            raise ValueError("MediaLimits durations must be positive")
        if self.max_redirects < 0:
            raise ValueError("MediaLimits.max_redirects must not be negative")
        for entry in self.allowlist:
            _parse_allowlist_entry(entry)

    def allows_host(self, host: str) -> bool:
        """Whether `host` (a name, compared case-insensitively) is allowlisted by name."""
        wanted = _normalise_host(host)
        return any(_parse_allowlist_entry(e) == wanted for e in self.allowlist)

    def allows_address(self, address: IPAddress) -> bool:
        """Whether `address` falls in an allowlisted address or network. An IPv4-mapped IPv6
        address matches the IPv4 entries too, since it reaches the same host."""
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for entry in self.allowlist:
            parsed = _parse_allowlist_entry(entry)
            if isinstance(parsed, str):
                continue
            if any(c.version == parsed.version and c in parsed for c in candidates):
                return True
        return False


def _parse_allowlist_entry(entry: str) -> str | IPNetwork:
    """An entry is a network (`10.0.0.0/8`), an address (a /32 or /128), or a host name."""
    text = entry.strip()
    if not text:
        raise ValueError("MediaLimits.allowlist entries must not be empty")
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    if "/" in text or ":" in text or any(c.isspace() for c in text):
        raise ValueError(f"MediaLimits.allowlist entry {entry!r} is neither a host, "
                         "an address nor a network")
    return _normalise_host(text)


def _normalise_host(host: str) -> str:
    # DNS names are case-insensitive, and `example.com.` is the same name as `example.com`.
    return host.strip().rstrip(".").lower()
