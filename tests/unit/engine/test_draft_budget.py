"""How long a draft model's drafts are (engine/draft_model.py `DraftBudget`): halved after a
draft of which nothing was kept, doubled after one kept whole, and paused, longer after each
miss in a row, when even one-token drafts fail. The draft model answering: test_speculative.py."""

import pytest

from vertexcompat.engine.draft_model import FIRST_PAUSE, MAX_PAUSE, DraftBudget


def test_the_budget_halves_on_a_miss_and_doubles_on_a_full_accept():
    b = DraftBudget(8)
    assert b.drafting() and b.length == 8
    b.judged(8, 0)
    assert b.length == 4
    b.judged(4, 0)
    b.judged(2, 0)
    assert b.length == 1  # never below one
    b.judged(1, 1)
    assert b.length == 2
    b.judged(2, 1)  # partly kept: unchanged
    assert b.length == 2
    for _ in range(5):
        b.judged(b.length, b.length)
    assert b.length == 8  # never above max_draft


def test_rejected_one_token_drafts_pause_drafting_longer_each_time():
    b = DraftBudget(1)

    def pause_after_a_miss() -> int:
        b.judged(1, 0)
        steps = 0
        while not b.drafting():
            steps += 1
        return steps

    assert [pause_after_a_miss() for _ in range(6)] == [
        FIRST_PAUSE, 2 * FIRST_PAUSE, 4 * FIRST_PAUSE, 8 * FIRST_PAUSE, MAX_PAUSE, MAX_PAUSE]
    b.judged(1, 1)  # a kept token ends the streak
    assert pause_after_a_miss() == FIRST_PAUSE


def test_a_budget_below_one_token_is_refused():
    with pytest.raises(ValueError):
        DraftBudget(0)
