"""MemoryTrimmer: glibc's malloc_trim where it exists, a no-op elsewhere."""

import platform
import sys

import pytest

from vertexcompat.services import memory
from vertexcompat.services.memory import MemoryTrimmer


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_on_glibc_the_trimmer_trims_every_time_it_is_called():
    trimmer = MemoryTrimmer()
    assert trimmer.available
    assert trimmer() and trimmer()
    assert trimmer.trims == 2


def test_without_malloc_trim_the_trimmer_does_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_glibc_malloc_trim", lambda: None)
    trimmer = MemoryTrimmer()
    assert not trimmer.available
    assert trimmer() is False and trimmer.trims == 0
