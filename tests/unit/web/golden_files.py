"""Golden SSE transcripts (tests/unit/web/golden/): pin the wire format byte for byte
(DESIGN example 10).

To regenerate after an intended change: `VERTEXCOMPAT_REGEN_GOLDEN=1 pytest <the test>`,
review the diff of tests/unit/web/golden/, then run the tests again without the variable.
A regenerating run writes the files and FAILS: a run that compares a transcript with the
file it has just written proves nothing, and must never count as a pass.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
REGEN_VAR = "VERTEXCOMPAT_REGEN_GOLDEN"


def normalised(sse: str) -> str:
    """The id and `created` vary per request, so they are normalised before comparing."""
    text = re.sub(r'"id":"chatcmpl-[A-Za-z0-9_-]{24,}"', '"id":"chatcmpl-ID"', sse)
    text = re.sub(r'"id":"call_[A-Za-z0-9_-]{24}"', '"id":"call_ID"', text)
    return re.sub(r'"created":\d+', '"created":0', text)


def assert_matches_golden(actual: str, name: str) -> None:
    path = GOLDEN / name
    if os.environ.get(REGEN_VAR):
        path.write_text(actual)
        pytest.fail(f"regenerated {path}: review its diff, then run again without {REGEN_VAR}",
                    pytrace=False)
    assert path.exists(), f"no golden transcript {path}; write it with {REGEN_VAR}=1"
    assert actual == path.read_text()
