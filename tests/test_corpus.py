"""The shared generated corpus (``moderation.evaluation.corpus``) keeps its documented promises."""

from __future__ import annotations

import random
import statistics

from moderation.evaluation.corpus import (
    PARTS,
    TOXIC,
    WORDS,
    news_comments,
    open_stream_text,
    prose,
    stream_text,
    varied_prose,
)
from moderation.normalize import normalize
from moderation.settings import Settings
from moderation.spam.features import tokenize
from moderation.spam.minhash import signature, similarity


def test_prose_is_fixed_per_index() -> None:
    assert prose(0) == (
        "Thanks for the budget story. My street agrees with you. Keep it up, newsroom. "
        "Posted from the bus."
    )
    assert prose(12) == (
        "Good piece on school lunches. Older folks may differ. Curious what others think. "
        "Bookmarked for later."
    )
    assert [len(p) for p in PARTS] == [11, 13, 17, 19]


def test_prose_below_2431_shares_at_most_two_parts() -> None:
    split = [prose(i).split(". ") for i in range(0, 2431, 7)]
    for a in range(len(split)):
        for b in range(a + 1, len(split)):
            shared = sum(x == y for x, y in zip(split[a], split[b], strict=True))
            assert shared <= 2


def test_prose_with_a_generator_varies_each_part_by_up_to_six() -> None:
    rng = random.Random(7)
    shifts = [rng.randrange(7) for _ in PARTS]
    expected = " ".join(part[(5 + s) % len(part)] for part, s in zip(PARTS, shifts, strict=True))
    assert prose(5, random.Random(7)) == expected


def test_stream_text_mixes_in_toxic_remarks_at_the_share_asked() -> None:
    rng = random.Random(7)
    texts = [stream_text(i, rng, toxic_share=0.1) for i in range(2000)]
    toxic = [t for i, t in enumerate(texts) if t in {f"{x} ({i})" for x in TOXIC}]
    assert 150 <= len(toxic) <= 250
    rng = random.Random(7)
    assert texts == [stream_text(i, rng, toxic_share=0.1) for i in range(2000)]
    none = random.Random(1)
    assert not any(
        t.endswith(f"({i})")
        for i, t in enumerate(stream_text(i, none, toxic_share=0.0) for i in range(500))
    )


def test_news_comments_are_reproducible_and_news_length() -> None:
    comments = news_comments(400)
    assert comments == news_comments(400, seed=7)
    assert comments != news_comments(400, seed=8)
    words = [len(c.split()) for c in comments]
    assert 25 <= statistics.median(words) <= 50
    assert 40 <= statistics.mean(words) <= 75
    assert max(words) > 200
    assert min(words) >= 3


def test_varied_prose_stays_clear_of_the_near_duplicate_threshold_at_any_index() -> None:
    """Unlike prose, a long run of varied prose is not a campaign: no two of 400 comments (the
    real MinHash signatures of their text) come within 0.2 of ``spam_dup_similarity``, and the
    stream mixes in toxic remarks at the share asked."""
    rng = random.Random(11)
    texts = [varied_prose(rng) for _ in range(400)]
    sigs = [signature(tokenize(normalize(t)).grams) for t in texts]
    worst = max(similarity(sigs[a], sigs[b]) for a in range(400) for b in range(a + 1, 400))
    assert worst < Settings().spam_dup_similarity - 0.2
    assert all(w in WORDS for t in texts for w in t.lower().replace(".", "").split())
    mixed = [open_stream_text(i, rng, toxic_share=0.1) for i in range(3000)]
    assert 0.07 < sum(t.split(" (")[0] in TOXIC for t in mixed) / 3000 < 0.13
