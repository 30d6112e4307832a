"""Word lists: a *banned* entry rejects a comment, a *suspect* entry holds it.

Entries and comments are compared as sequences of words after the normalisation the scorers
see (``moderation.normalize``: NFKC, invisible characters dropped, homoglyphs and leetspeak
folded inside mixed words, spelled-out letters joined) followed by Unicode case folding. An
entry matches whole words only (``ass`` does not match ``classic``); a multi-word entry matches
those words in sequence. Entries are stored in that canonical form, so what an admin sees is
exactly what is matched.

An entry with the wildcard character ``*`` is refused, not stored: ``f*cking`` would
otherwise be cut into the two words ``f cking`` (symbols separate words), silently matching
something other than what the admin meant. Entries are words, not patterns (the matcher looks
whole words up, which keeps it fast whatever the list's size), so the message asks for the word
written in full.

The lists live in Redis (one set per kind) and every edit also changes ``keys.words_version``.
The worker reads that version inside the pipeline that already loads a batch's context (no extra
round trip) and rebuilds its in-process matcher only when the version changed: an edit applies
from the next batch on, and an unchanged list costs nothing per batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from moderation.errors import ValidationFailed
from moderation.keys import Keys
from moderation.normalize import normalize
from moderation.store.codec import as_str

#: The lists: ``banned`` rejects, ``suspect`` holds.
KINDS = ("banned", "suspect")
MAX_ENTRY_CHARS = 100
MAX_ENTRIES = 5_000
#: Longest multi-word entry, in words (bounds the matcher's work per comment).
MAX_PHRASE_WORDS = 6

_WORD = re.compile(r"\w+")
#: The character people type as a wildcard; the lists have none (see the module docstring).
#: (``?`` is left alone: it ends questions far more often than it stands for a letter.)
_WILDCARD = re.compile(r"\*")
#: One ASCII word (apostrophes inside allowed), perhaps with plain punctuation around it (none
#: of it leet, none able to separate spelled-out letters): if no letter appears three times in
#: a row, ``normalize`` provably leaves its letters unchanged (nothing to fold, join, cut or
#: collapse), so its words can be read off directly. Most words of most comments look like this.
_PLAIN_WORD = re.compile(r"[\"'(\[#]*([A-Za-z]+(?:['’][A-Za-z]+)*)[,.;:?\"'’)\]]*")
_APOSTROPHE = re.compile(r"['’]")
_RUN3 = re.compile(r"(.)\1\1")


def words_of(text: str) -> list[str]:
    """The comparable words of ``text``: normalised, case-folded, punctuation dropped."""
    word = _PLAIN_WORD.fullmatch(text)
    if word is not None and not _RUN3.search(word.group(1)):
        # Same result as below, without its cost.
        return _APOSTROPHE.split(word.group(1).casefold())
    return _WORD.findall(normalize(text).casefold())


def canonical(entry: str, field: str = "words") -> str:
    """The stored form of a list entry; raises :class:`ValidationFailed` naming ``field``."""
    if len(entry) > MAX_ENTRY_CHARS:
        raise ValidationFailed(
            f"{field}: entry is longer than {MAX_ENTRY_CHARS} characters", field=field
        )
    wildcard = _WILDCARD.search(entry)
    if wildcard is not None:
        raise ValidationFailed(
            f"{field}: {entry!r} contains {wildcard.group()!r}, but entries are whole words, "
            "not patterns: write the word in full (each spelling you want matched as its own "
            "entry)",
            field=field,
        )
    words = words_of(entry)
    if not words:
        raise ValidationFailed(f"{field}: {entry!r} contains no word characters", field=field)
    if len(words) > MAX_PHRASE_WORDS:
        raise ValidationFailed(
            f"{field}: {entry!r} has more than {MAX_PHRASE_WORDS} words", field=field
        )
    return " ".join(words)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValidationFailed("word list must be 'banned' or 'suspect'", field="kind")
    return kind


@dataclass(frozen=True, slots=True)
class WordMatcher:
    """Both lists compiled for matching: entries as word tuples in hash sets."""

    banned: frozenset[tuple[str, ...]]
    suspect: frozenset[tuple[str, ...]]
    longest: int

    @classmethod
    def build(cls, banned: Iterable[str], suspect: Iterable[str]) -> WordMatcher:
        b = frozenset(tuple(e.split(" ")) for e in banned if e)
        s = frozenset(tuple(e.split(" ")) for e in suspect if e)
        return cls(b, s, max((len(t) for t in b | s), default=0))

    @property
    def empty(self) -> bool:
        return self.longest == 0

    def match(self, text: str) -> tuple[list[str], list[str]]:
        """The banned and the suspect entries found in ``text``, each in order of appearance."""
        if self.empty:
            return [], []
        return self.match_words(words_of(text))

    def match_words(self, words: list[str]) -> tuple[list[str], list[str]]:
        banned: dict[str, None] = {}
        suspect: dict[str, None] = {}
        for i in range(len(words)):
            for n in range(1, min(self.longest, len(words) - i) + 1):
                gram = tuple(words[i : i + n])
                if gram in self.banned:
                    banned[" ".join(gram)] = None
                elif gram in self.suspect:
                    suspect[" ".join(gram)] = None
        return list(banned), list(suspect)

    def entries(self) -> set[str]:
        return {" ".join(t) for t in self.banned | self.suspect}


EMPTY = WordMatcher(frozenset(), frozenset(), 0)


async def load_lists(redis: Redis, keys: Keys) -> dict[str, list[str]]:
    """Both lists, sorted, straight from Redis."""
    pipe = redis.pipeline(transaction=False)
    for kind in KINDS:
        pipe.smembers(keys.words(kind))
    replies = await pipe.execute()
    return {kind: sorted(as_str(w) for w in raw) for kind, raw in zip(KINDS, replies, strict=True)}


class MatcherCache:
    """The compiled matcher per key prefix, rebuilt only when the lists' version changes.

    Versions are random tokens, not counters, so a Redis that lost its data (or a test that
    flushed it) can never present a version that collides with the cached one.
    """

    def __init__(self) -> None:
        self._by_prefix: dict[str, tuple[str, WordMatcher]] = {}

    async def matcher(self, redis: Redis, keys: Keys, version: Any) -> WordMatcher:
        if version is None:  # no list was ever edited
            return EMPTY
        v = as_str(version)
        hit = self._by_prefix.get(keys.prefix)
        if hit is not None and hit[0] == v:
            return hit[1]
        lists = await load_lists(redis, keys)
        built = WordMatcher.build(lists["banned"], lists["suspect"])
        self._by_prefix[keys.prefix] = (v, built)
        return built


#: The process-wide cache the worker's :func:`moderation.pipeline.policy.load_context` uses.
matcher_cache = MatcherCache()
