"""The explicit rules (``moderation.pipeline.policy``), table by table: pure functions, no Redis.

Each row of :func:`evaluate`'s table names its case and states the exact holds and rejections
(rule name → message or :class:`Reason`, in the order the rules produce them) and whether the
spam hold is skipped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from moderation.messages import Author, CommentRecord, Reason, SpamResult
from moderation.pipeline.policy import AuthorFacts, AuthorState, Policy, evaluate
from moderation.settings import Settings
from moderation.store.wordlists import EMPTY, WordMatcher, canonical

NORMAL = AuthorFacts()
BANNED = AuthorFacts(state=AuthorState.BANNED)
TRUSTED = AuthorFacts(state=AuthorState.TRUSTED)
PREMODERATED = AuthorFacts(state=AuthorState.PREMODERATED)

#: max_links 3, no pre-moderation.
POLICY = Policy(thresholds={"insult": 0.6}, spam_threshold=0.5, max_links=3)
PREMODERATED_ARTICLE = Policy(
    thresholds={"insult": 0.6}, spam_threshold=0.5, max_links=3, premoderate=True
)
NO_LINK_LIMIT = Policy(thresholds={"insult": 0.6}, spam_threshold=0.5, max_links=0)

#: Entries stored in canonical form, as the word-list API stores them.
WORDS = WordMatcher.build(
    banned=[canonical(w) for w in ("idiot", "Shut up")],
    suspect=[canonical(w) for w in ("moron", "clown show")],
)

BANNED_AUTHOR = "author 'u1' is banned"
PREMODERATED_AUTHOR = "author 'u1' is pre-moderated"
PREMODERATED_ARTICLE_MSG = "article 'a1' is pre-moderated"


def record(text: str = "A thoughtful reply about the budget.") -> CommentRecord:
    return CommentRecord(
        id="01HZZZZZZZZZZZZZZZZZZZZZZZ",
        article_id="a1",
        text=text,
        author=Author(id="u1", name="U"),
        created_at=1_700_000_010_000,
        site="s",
    )


def banned_words(*words: str, message: str) -> Reason:
    return Reason(code="banned_words", message=message, words=list(words))


def suspect_words(*words: str, message: str) -> Reason:
    return Reason(code="suspect_words", message=message, words=list(words))


class Case(NamedTuple):
    author: AuthorFacts
    policy: Policy
    signals: dict[str, Any]
    text: str
    words: WordMatcher
    # expected, in order
    holds: list[tuple[str, str | Reason]]
    rejections: list[tuple[str, str | Reason]]
    ignore_spam: bool


PLAIN = "A thoughtful reply about the budget."

CASES = {
    "an ordinary comment meets no rule": Case(NORMAL, POLICY, {}, PLAIN, WORDS, [], [], False),
    "banned author is rejected": Case(
        BANNED, POLICY, {}, PLAIN, WORDS, [], [("banned_author", BANNED_AUTHOR)], False
    ),
    "pre-moderated author is held": Case(
        PREMODERATED,
        POLICY,
        {},
        PLAIN,
        WORDS,
        [("premoderated_author", PREMODERATED_AUTHOR)],
        [],
        False,
    ),
    "pre-moderated article holds a normal author": Case(
        NORMAL,
        PREMODERATED_ARTICLE,
        {},
        PLAIN,
        WORDS,
        [("premoderated_article", PREMODERATED_ARTICLE_MSG)],
        [],
        False,
    ),
    "pre-moderated article does not hold a trusted author": Case(
        TRUSTED, PREMODERATED_ARTICLE, {}, PLAIN, WORDS, [], [], True
    ),
    "pre-moderated author on a pre-moderated article: both holds": Case(
        PREMODERATED,
        PREMODERATED_ARTICLE,
        {},
        PLAIN,
        WORDS,
        [
            ("premoderated_author", PREMODERATED_AUTHOR),
            ("premoderated_article", PREMODERATED_ARTICLE_MSG),
        ],
        [],
        False,
    ),
    "banned author on a pre-moderated article: rejected and held": Case(
        BANNED,
        PREMODERATED_ARTICLE,
        {},
        PLAIN,
        WORDS,
        [("premoderated_article", PREMODERATED_ARTICLE_MSG)],
        [("banned_author", BANNED_AUTHOR)],
        False,
    ),
    "trusted author skips the spam hold": Case(TRUSTED, POLICY, {}, PLAIN, WORDS, [], [], True),
    # Moved from test_spam_signals.py (test_failed_signals_hold_the_comment_visibly).
    "spam signals failed: held visibly, the error as the message": Case(
        NORMAL,
        Policy.from_settings(Settings()),
        {"error": "boom"},
        "hi",
        EMPTY,
        [("spam_unavailable", "boom")],
        [],
        False,
    ),
    "spam signals failed: any error text": Case(
        NORMAL,
        POLICY,
        {"error": "TimeoutError: redis"},
        PLAIN,
        WORDS,
        [("spam_unavailable", "TimeoutError: redis")],
        [],
        False,
    ),
    "spam signals failed with a non-text error": Case(
        NORMAL, POLICY, {"error": 503}, PLAIN, WORDS, [("spam_unavailable", "503")], [], False
    ),
    "spam signals failed for a trusted author: still held": Case(
        TRUSTED,
        POLICY,
        {"error": "boom"},
        PLAIN,
        WORDS,
        [("spam_unavailable", "boom")],
        [],
        True,
    ),
    "links below max_links": Case(NORMAL, POLICY, {"links": 2}, PLAIN, WORDS, [], [], False),
    "links at max_links": Case(
        NORMAL,
        POLICY,
        {"links": 3},
        PLAIN,
        WORDS,
        [("too_many_links", "3 links (held at 3 or more)")],
        [],
        False,
    ),
    "links over max_links": Case(
        NORMAL,
        POLICY,
        {"links": 7},
        PLAIN,
        WORDS,
        [("too_many_links", "7 links (held at 3 or more)")],
        [],
        False,
    ),
    "max_links 0 turns the link rule off": Case(
        NORMAL, NO_LINK_LIMIT, {"links": 50}, PLAIN, WORDS, [], [], False
    ),
    "a link count that is not a number is ignored": Case(
        NORMAL, POLICY, {"links": "9"}, PLAIN, WORDS, [], [], False
    ),
    "trusted author over max_links: still held": Case(
        TRUSTED,
        POLICY,
        {"links": 4},
        PLAIN,
        WORDS,
        [("too_many_links", "4 links (held at 3 or more)")],
        [],
        True,
    ),
    "a banned word rejects, naming it": Case(
        NORMAL,
        POLICY,
        {},
        "You idiot.",
        WORDS,
        [],
        [("banned_words", banned_words("idiot", message="banned word: “idiot”"))],
        False,
    ),
    "banned words in order of appearance, each once": Case(
        NORMAL,
        POLICY,
        {},
        "SHUT UP, idiot. Shut up!",
        WORDS,
        [],
        [
            (
                "banned_words",
                banned_words("shut up", "idiot", message="banned words: “shut up”, “idiot”"),
            )
        ],
        False,
    ),
    "a banned word through leetspeak": Case(
        NORMAL,
        POLICY,
        {},
        "what a 1d10t",
        WORDS,
        [],
        [("banned_words", banned_words("idiot", message="banned word: “idiot”"))],
        False,
    ),
    "a suspect word holds, naming it": Case(
        NORMAL,
        POLICY,
        {},
        "Only a moron would say that.",
        WORDS,
        [("suspect_words", suspect_words("moron", message="suspect word: “moron”"))],
        [],
        False,
    ),
    "a suspect phrase and word": Case(
        NORMAL,
        POLICY,
        {},
        "What a clown show, run by a moron.",
        WORDS,
        [
            (
                "suspect_words",
                suspect_words(
                    "clown show", "moron", message="suspect words: “clown show”, “moron”"
                ),
            )
        ],
        [],
        False,
    ),
    "banned and suspect words together": Case(
        NORMAL,
        POLICY,
        {},
        "moron and idiot",
        WORDS,
        [("suspect_words", suspect_words("moron", message="suspect word: “moron”"))],
        [("banned_words", banned_words("idiot", message="banned word: “idiot”"))],
        False,
    ),
    "whole words only": Case(
        NORMAL, POLICY, {}, "An idiotic, moronic clowning show.", WORDS, [], [], False
    ),
    "no word lists: nothing matches": Case(NORMAL, POLICY, {}, "idiot moron", EMPTY, [], [], False),
    "every rule at once, in the rules' order": Case(
        PREMODERATED,
        PREMODERATED_ARTICLE,
        {"error": "boom", "links": 5},
        "idiot moron",
        WORDS,
        [
            ("premoderated_author", PREMODERATED_AUTHOR),
            ("premoderated_article", PREMODERATED_ARTICLE_MSG),
            ("spam_unavailable", "boom"),
            ("too_many_links", "5 links (held at 3 or more)"),
            ("suspect_words", suspect_words("moron", message="suspect word: “moron”")),
        ],
        [("banned_words", banned_words("idiot", message="banned word: “idiot”"))],
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_evaluate(case: Case) -> None:
    outcome = evaluate(
        record(case.text), case.policy, case.author, SpamResult(0.0, case.signals), case.words
    )
    assert list(outcome.holds.items()) == case.holds
    assert list(outcome.rejections.items()) == case.rejections
    assert outcome.ignore_spam is case.ignore_spam


# --- author facts from the author hash --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, AuthorFacts()),
        (
            {b"state": b"banned", b"approved": b"3", b"rejected": b"2", b"held": b"1"},
            AuthorFacts(state=AuthorState.BANNED, approved=3, rejected=2, held=1),
        ),
        ({"state": "trusted", "approved": "40"}, AuthorFacts(AuthorState.TRUSTED, approved=40)),
        ({"state": "premoderated"}, AuthorFacts(AuthorState.PREMODERATED)),
        ({"state": "normal", "held": 5}, AuthorFacts(held=5)),
        ({"state": "superuser", "approved": "1"}, AuthorFacts(approved=1)),
        ({"state": "BANNED"}, AuthorFacts()),
        ({"approved": "-4", "rejected": "-1"}, AuthorFacts()),
        ({"approved": "2.7", "rejected": "many", "held": ""}, AuthorFacts(approved=2)),
        ({"unrelated": "x"}, AuthorFacts()),
    ],
    ids=[
        "empty hash: a normal author with no history",
        "bytes as Redis returns them",
        "trusted",
        "pre-moderated",
        "numbers as numbers",
        "unknown state counts as normal",
        "states are case-sensitive",
        "negative counts are 0",
        "unparseable counts are 0, decimals truncated",
        "unrelated fields are ignored",
    ],
)
def test_author_facts_from_hash(raw: dict[Any, Any], expected: AuthorFacts) -> None:
    assert AuthorFacts.from_hash(raw) == expected
