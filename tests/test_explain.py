"""Spam signals in words (moderation.ui.explain): table-driven, from stored signal dicts to the
phrases and effects a moderator reads, and from real spam scores to the card's top reasons."""

from __future__ import annotations

import re
from typing import Any

import pytest
from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Author, CommentRecord, Context
from moderation.settings import Settings
from moderation.spam import SpamInput, SpamScorer
from moderation.ui.explain import SignalRow, explain_spam, top_reasons, words

# (signals, weights, expected phrase, expected detail)
FINDINGS: list[tuple[dict[str, Any], dict[str, float], str, str]] = [
    ({"honeypot": True}, {"honeypot": 6.0}, "honeypot field filled", ""),
    (
        {"too_fast": True, "submit_s": 1.0},
        {"too_fast": 2.5},
        "posted 1 s after the page loaded",
        "",
    ),
    (
        {"dup_count": 3, "dup_authors": 2, "dup_articles": 3},
        {"dup": 1.4},
        "same text posted 4×",
        "by 2 other authors, on 3 other articles",
    ),
    (
        {"links": 2, "domains": ["spam.example", "x.example"]},
        {"has_link": 1.2, "links": 0.9},
        "2 links",
        "spam.example, x.example",
    ),
    ({"links": 1, "domains": []}, {"has_link": 1.2}, "1 link", ""),
    ({"shorteners": 1}, {"shorteners": 1.5}, "1 shortened link", ""),
    ({"denied_domains": 2}, {"denied_domains": 5.0}, "2 denied links", ""),
    ({"obfuscated": 1}, {"obfuscated": 2.5}, "1 disguised link or address", ""),
    ({"emails": 2}, {"emails": 1.0}, "2 e-mail addresses", ""),
    ({"phones": 1}, {"phones": 1.5}, "1 phone number", ""),
    (
        {"promo": ["buy now", "free"], "promo_score": 3},
        {"promo": 4.5},
        "promotional wording",
        "“buy now”, “free”",
    ),
    ({"caps": 0.85}, {"caps": 0.85}, "shouting in capitals", "85%"),
    ({"noise": 0.3}, {"noise": 0.45}, "full of symbols", "30%"),
    ({"link_share": 0.9}, {"link_share": 1.8}, "mostly links", "90%"),
    (
        {"evasion": ["zero_width", "mixed_script"]},
        {"evasion": 1.5},
        "characters disguised to dodge filters",
        "invisible characters inside words, Cyrillic or Greek look-alike letters",
    ),
    ({"author_rate": 4}, {"author_rate": 0.8}, "4 other comments by this author", ""),
    ({"ip_rate": 1}, {"ip_rate": 0.3}, "1 other comment from the same address", ""),
    ({"author_rejected": 2}, {"author_rejected": 1.6}, "author has 2 rejected comments", ""),
    ({"author_approved": 9}, {"author_approved": -1.8}, "author has 9 approved comments", ""),
    ({"words": 2}, {"short": -1.0}, "very short", "2 words"),
]


@pytest.mark.parametrize(("signals", "weights", "phrase", "detail"), FINDINGS)
def test_each_finding_in_words(
    signals: dict[str, Any], weights: dict[str, float], phrase: str, detail: str
) -> None:
    rows = explain_spam({**signals, "contributions": weights})
    assert len(rows) == 1, rows
    (row,) = rows
    assert row.text.startswith(phrase)
    assert row.value == detail
    assert row.weight == pytest.approx(sum(weights.values()))


@pytest.mark.parametrize(
    ("weight", "effect"),
    [
        (6.0, "raises a lot (+6.0)"),
        (0.7, "raises (+0.7)"),
        (0.1, "little effect"),
        (-0.8, "lowers (-0.8)"),
        (-2.0, "lowers a lot (-2.0)"),
        (None, "not weighed"),
    ],
)
def test_effect_in_words(weight: float | None, effect: str) -> None:
    assert SignalRow("x", "x", "", weight).effect == effect


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (True, "yes"),
        (False, "no"),
        (None, "not reported"),
        ([], "none"),
        (["a.example", "b.example"], "a.example, b.example"),
        ({"bias": -2.0}, "bias: -2"),
        (0.125, "0.125"),
        (3, "3"),
    ],
)
def test_values_in_words(value: Any, said: str) -> None:
    assert words(value) == said


def test_absent_signals_say_nothing_and_order_is_by_weight() -> None:
    signals = {
        "links": 0,
        "honeypot": False,
        "too_fast": True,
        "submit_s": 0.5,
        "dup_count": 3,
        "promo": [],
        "evasion": [],
        "contributions": {"bias": -2.0, "too_fast": 2.5, "dup": 1.39},
        "text_logit": 0.8,
        "learned_from": 12,
    }
    rows = explain_spam(signals)
    assert [r.key for r in rows] == ["too_fast", "duplicates", "text", "bias", "learned_from"]
    assert rows[2].text == "the wording resembles comments moderators rejected as spam"
    assert rows[-1].value == "12"
    assert top_reasons(signals) == [
        "posted 0.5 s after the page loaded",
        "same text posted 4×",
        "the wording resembles comments moderators rejected as spam",
    ]
    assert top_reasons(signals, n=1) == ["posted 0.5 s after the page loaded"]


def test_a_failed_computation_and_unknown_signals_are_shown_in_words() -> None:
    rows = explain_spam({"error": "spam signals failed: ValueError", "new_signal": [1, 2]})
    assert rows[0].text == "spam signals could not be computed"
    assert rows[0].value == "spam signals failed: ValueError"
    assert ("new signal", "1, 2") in [(r.text, r.value) for r in rows]
    assert top_reasons({}) == []


PYTHON_SYNTAX = re.compile(r"[\[\]{}]|\bTrue\b|\bFalse\b|\bNone\b|'")


async def test_real_spam_scores_read_in_words(rds: Redis, keys: Keys, settings: Settings) -> None:
    """A bot's comment scored by the real scorer: the card's reasons are the honeypot, the
    speed and the repetition, and nothing in the full table is Python syntax."""
    scorer = SpamScorer(rds, keys, settings)
    text = "Great offer, buy now at cheap-pills dot com, limited time only!!!"
    records = [
        CommentRecord(
            id=f"c{n}",
            article_id=f"a{n % 3}",
            text=text,
            author=Author(f"bot{n}", "Bot"),
            created_at=1_700_000_000_000 + n * 10_000,
            site="s",
            context=Context(
                honeypot="http://x", page_loaded_at=1_700_000_000_000 + n * 10_000 - 1_000
            ),
        )
        for n in range(4)
    ]
    results = await scorer.score([SpamInput(r, r.text) for r in records])
    last = results[-1]
    assert last.score > 0.9
    reasons = top_reasons(last.signals)
    assert reasons[0].startswith("honeypot field filled")
    assert "posted 1 s after the page loaded" in reasons
    assert any(r.text == "same text posted 4×" for r in explain_spam(last.signals))
    for row in explain_spam(last.signals):
        for said in (row.text, row.value, row.effect):
            assert not PYTHON_SYNTAX.search(said), said
