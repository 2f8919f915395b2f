"""Prompt-lookup drafts (engine/speculation.py) on their own: where a draft comes from
(the latest occurrence of the longest n-gram the sequence ends with, the match extended
backwards), and how long it is (what verifying it costs against how drafts after matches
that long fared). The tiny model answering with these drafts: test_speculative.py."""

import pytest

from vertexcompat.engine import speculation
from vertexcompat.engine.speculation import (
    FIRST_CAP,
    MAX_MATCH,
    NgramDrafter,
    draft_length,
    row_cost,
)

# 40 distinct tokens, then the same 40 again up to a point: the sequence ends with a long
# match (a copy in progress), and what followed the first time is known.
RUN = list(range(100, 140))


def copying(upto: int, **kw) -> NgramDrafter:
    return NgramDrafter(RUN + RUN[:upto], **kw)


# -- where a draft comes from ----------------------------------------------------------------


def test_a_copy_in_progress_drafts_what_followed_the_first_time():
    d = copying(20, max_draft=4)
    assert d.match() == (20, 20)  # the tokens after RUN[:20] start at 20; 20 tokens match
    assert d.draft() == RUN[20:24]


def test_a_fork_drafts_as_a_drafter_built_anew_and_then_goes_its_own_way():
    # A job's other candidates copy the first one's prompt index instead of rebuilding it.
    first = copying(20, max_draft=4)
    twin = first.fork()
    assert twin.match() == first.match() and twin.draft() == copying(20, max_draft=4).draft()
    twin.judged(4, 0)
    twin.extend([7, 8, 9])
    # The twin's miss and tokens are its own: the first drafter saw none of them.
    assert twin.acceptance(20) < first.acceptance(20)
    assert twin.match() == (-1, 0) and first.draft() == RUN[20:24]


def test_the_longest_ngram_wins_over_a_later_shorter_one():
    # ...8 2 3 -> 9 (trigram 8 2 3), later 2 3 -> 7 (bigram): the sequence ends 8 2 3
    d = NgramDrafter([8, 2, 3, 9, 9, 2, 3, 7, 0, 8, 2, 3], min_ngram=2, max_ngram=3)
    assert d.match() == (3, 3)


def test_the_latest_occurrence_wins():
    d = NgramDrafter([5, 6, 1, 5, 6, 2, 5, 6], max_ngram=2)
    assert d.match() == (5, 2)


def test_the_match_is_extended_backwards_up_to_its_limit():
    assert NgramDrafter([1, 9, 8, 7, 2, 9, 8, 7]).match() == (4, 3)
    assert NgramDrafter([9, 8, 7, 6, 0, 9, 8, 7, 6]).match() == (4, 4)
    long = list(range(MAX_MATCH + 10))
    assert NgramDrafter(long + long).match()[1] == MAX_MATCH


def test_no_draft_without_a_repeated_ngram():
    for tokens in ([1, 2, 3, 4, 5, 6], [], [7]):
        d = NgramDrafter(tokens)
        assert d.match() == (-1, 0)
        assert d.draft() == []


def test_appended_tokens_count_and_a_draft_that_reaches_the_present_repeats_on():
    d = NgramDrafter(RUN[:30])
    d.extend(RUN[:28])  # the copy has caught up to two tokens before the present
    draft = d.draft()
    assert len(draft) > 2 and draft == (RUN[28:30] + RUN[:30] * 2)[:len(draft)]
    # a pattern with a period of three tokens: what followed its last occurrence, then on
    draft = NgramDrafter([5, 1, 2] * 12).draft()
    assert len(draft) > 3 and draft == ([5, 1, 2] * 3)[:len(draft)]


# -- how long it is --------------------------------------------------------------------------


def test_row_costs_are_measured_points_joined_by_lines():
    for rows, cost in speculation.ROW_COSTS:
        assert row_cost(rows) == pytest.approx(cost)
    (r0, c0), (r1, c1) = speculation.ROW_COSTS[:2]
    assert row_cost((r0 + r1) / 2) == pytest.approx((c0 + c1) / 2)
    assert row_cost(200) > row_cost(100) > row_cost(64)  # extended past the last point


def test_the_length_with_the_most_tokens_per_unit_of_cost_is_chosen():
    # Sure drafts: the longest is cheapest per token (the rows past 8 cost little each).
    assert draft_length(1.0, 63) == 63
    assert draft_length(1.0, 0) == 0
    # Drafts kept at a coin toss never pay for their rows.
    assert draft_length(0.5, 63) == 0
    # In between, the choice is the best rate among all lengths, and it beats a step.
    for acceptance in (0.8, 0.9, 0.95, 0.99):
        k = draft_length(acceptance, 40)

        def rate(n):
            return sum(acceptance ** j for j in range(n + 1)) / row_cost(n + 1)

        if k:
            assert rate(k) == max(rate(n) for n in range(1, 41))
            assert rate(k) > speculation.MIN_GAIN
        else:
            assert max(rate(n) for n in range(1, 41)) <= speculation.MIN_GAIN



def test_a_draft_that_would_barely_pay_alone_is_not_made():
    # Beside other streams a draft is verified in a call of its own, so one that only just
    # beats a plain step costs the server: the best length must beat it by MIN_GAIN.
    assert speculation.MIN_GAIN >= 1.2

    def best_rate(acceptance, available):
        return max(sum(acceptance ** j for j in range(n + 1)) / row_cost(n + 1)
                   for n in range(1, available + 1))

    marginal = [a / 100 for a in range(50, 100)
                if 1.0 < best_rate(a / 100, 7) < speculation.MIN_GAIN]
    assert marginal  # acceptances whose drafts would pay alone, under the first cap
    for acceptance in marginal:
        assert draft_length(acceptance, 7) == 0

def test_a_short_match_does_not_draft_at_first_and_a_long_one_does():
    d = NgramDrafter([1, 2, 3, 4, 5, 6, 1, 2])  # a two-token match: a guess, not a copy
    assert d.match() == (2, 2) and d.draft() == []
    assert copying(20).draft()


def test_an_opening_that_quotes_the_prompt_is_not_drafted_until_it_is_a_copy():
    # "Here is a tutorial on <the prompt's words>": a match of 8-15 tokens is where answers
    # quote the prompt and leave it; a first draft there would mostly be thrown away.
    for quoted in (8, 12, 15):
        assert copying(quoted).match()[1] == quoted and copying(quoted).draft() == []
    assert copying(16).draft()  # 16 tokens in: a copy, drafted


def lengths_kept_whole(d: NgramDrafter, drafts: int) -> list[int]:
    """The lengths of `drafts` drafts in a row, each kept whole."""
    out = []
    for _ in range(drafts):
        draft = d.draft()
        d.judged(len(draft), len(draft))
        d.extend(draft)
        out.append(len(draft))
    return out


def test_the_first_draft_is_capped_and_drafts_kept_whole_raise_the_cap():
    d = NgramDrafter(RUN * 6 + RUN[:20], max_draft=50)
    # Capped at FIRST_CAP, then at twice as much after each draft kept whole: the length
    # within the cap is the one with the most tokens per unit cost (here the longest
    # one whose rows stay under llama.cpp's 8-row kernels, then the whole cap).
    first, second, third, fourth = lengths_kept_whole(d, 4)
    assert first <= FIRST_CAP < second <= 2 * FIRST_CAP < third <= 4 * FIRST_CAP
    assert third < fourth == 50


def test_a_rejected_draft_halves_the_cap_but_never_below_the_first():
    d = NgramDrafter(RUN * 6 + RUN[:20], max_draft=64)
    lengths_kept_whole(d, 3)  # the cap is eight times the first now
    assert len(d.draft()) > 4 * FIRST_CAP
    d.judged(len(d.draft()), 3)
    assert 2 * FIRST_CAP < len(d.draft()) <= 4 * FIRST_CAP
    for _ in range(4):
        d.judged(len(d.draft()), 1)
    assert len(d.draft()) <= FIRST_CAP  # (or none: drafts after such matches now fail)


def test_drafts_that_keep_failing_after_long_matches_stop_being_drafted():
    d = copying(30, max_draft=8)
    misses = 0
    while d.draft():
        d.judged(len(d.draft()), 0)
        misses += 1
        assert misses < 20, "still drafting after 20 drafts of which nothing was kept"
    assert misses >= 1 and d.acceptance(30) < speculation.PRIORS[-1] - 0.2
    # Matches of another length are judged on their own record.
    assert d.acceptance(2) == pytest.approx(speculation.PRIORS[0])


def test_the_cap_never_exceeds_max_draft():
    d = copying(20, max_draft=3)
    assert lengths_kept_whole(d, 3) == [3, 3, 3]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        NgramDrafter([], min_ngram=0)
    with pytest.raises(ValueError):
        NgramDrafter([], min_ngram=3, max_ngram=2)
    with pytest.raises(ValueError):
        NgramDrafter([], max_draft=0)


def test_each_mode_has_its_own_longest_draft_unless_one_is_configured():
    from vertexcompat.engine.draft_model import MODEL_MAX_DRAFT
    from vertexcompat.engine.llama_engine import EngineConfig, _draft_max

    assert _draft_max(EngineConfig(speculative="off", draft_max=9)) == 0
    assert _draft_max(EngineConfig(speculative="ngram")) == speculation.MAX_DRAFT == 63
    assert _draft_max(EngineConfig(speculative="draft")) == MODEL_MAX_DRAFT == 6
    assert _draft_max(EngineConfig(speculative="ngram", draft_max=9)) == 9
