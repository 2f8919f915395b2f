"""The books of saved sequence states: longest-prefix lookup per scope, LRU eviction within
the byte budget, pinned states last, redundant prefixes merged."""

import pytest

from vertexcompat.engine.saved_states import SavedStates


def data(n: int) -> bytes:
    return bytes(n)


def test_the_longest_shared_prefix_in_the_same_scope_wins():
    states = SavedStates(1000)
    states.put("p", [1, 2, 3, 4], data(10))
    states.put("p", [1, 2, 9], data(10))
    states.put("q", [1, 2, 3, 4, 5], data(10))
    found, length = states.best("p", [1, 2, 3, 4, 5, 6])
    assert found is not None and found.tokens == [1, 2, 3, 4] and length == 4
    assert states.best("r", [1, 2, 3]) == (None, 0)
    assert states.best(None, [1]) == (None, 0)


def test_least_recently_used_goes_first_and_the_budget_holds():
    states = SavedStates(25)
    a = states.put("p", [1], data(10))
    states.put("p", [2], data(10))
    states.touch(a)  # [1] is now more recent than [2]
    states.put("p", [3], data(10))
    assert [s.tokens for s in states._states] == [[1], [3]]
    assert states.stats() == {
        "saved_states": 2, "saved_state_bytes": 20, "saved_state_tokens": 2, "pinned_states": 0,
    }


def test_pinned_states_are_evicted_last_and_unpin_releases_them():
    states = SavedStates(25)
    states.put("p", [1], data(10), pin="cache-1")
    states.put("p", [2], data(10))
    states.put("p", [3], data(10))  # over budget: [2] goes, not the older pinned [1]
    assert sorted(s.tokens[0] for s in states._states) == [1, 3]
    assert states.is_pinned("cache-1")
    states.unpin("cache-1")
    assert not states.is_pinned("cache-1")
    states.put("p", [4], data(10))  # now [1] is the least recently used
    assert sorted(s.tokens[0] for s in states._states) == [3, 4]


def test_a_covered_prefix_is_not_saved_twice_and_a_longer_one_replaces_it():
    states = SavedStates(1000)
    states.put("p", [1, 2], data(10), pin="c")
    longer = states.put("p", [1, 2, 3], data(12))
    assert [s.tokens for s in states._states] == [[1, 2, 3]]
    assert longer is not None and longer.pins == {"c"}  # the pin moved to what serves it
    assert states.covers("p", [1, 2]) and not states.covers("q", [1, 2])
    same = states.put("p", [1, 2], data(10), pin="d")
    assert same is longer and longer.pins == {"c", "d"}
    assert states.pin("p", [1], "e") and not states.pin("p", [7], "e")


def test_a_state_larger_than_the_budget_is_not_kept():
    states = SavedStates(5)
    assert states.put("p", [1], data(6)) is None
    assert states.stats()["saved_states"] == 0
    assert not SavedStates(0).enabled
    with pytest.raises(ValueError):
        SavedStates(-1)


def test_a_whole_prompt_is_kept_with_its_last_logits():
    """A state saved with the logits of its last token serves exactly its prompt whole, and
    its logits count against the budget. A prompt a longer state covers is not saved again
    (the longer one keeps its own logits), and a longer state that extends a whole one
    serves it from then on, without those logits."""
    import numpy as np

    logits = np.zeros(8, dtype=np.float32)  # 32 bytes
    states = SavedStates(1000)
    states.put("p", [1, 2, 3, 4, 5], data(10))
    whole = states.put("p", [7, 8], data(10), logits=logits)
    assert whole is not None and whole.size == 10 + 32 and whole.whole([7, 8])
    assert not whole.whole([7, 8, 9]) and not whole.whole([7])
    assert states.stats()["saved_state_bytes"] == 10 + 42
    covered = states.put("p", [1, 2, 3], data(10), logits=logits)
    assert covered is not None and covered.tokens == [1, 2, 3, 4, 5] and covered.logits is None
    assert states.best("p", [7, 8]) == (whole, 2)
    states.put("p", [7, 8, 9], data(10))
    found, length = states.best("p", [7, 8])
    assert found is not None and found.tokens == [7, 8, 9] and length == 2
    assert not found.whole([7, 8])
