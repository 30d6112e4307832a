"""The spam model's input: named signal features with cold-start priors, and hashed text.

One logistic model reads both. Signals enter as a few named features (indices below
:data:`TEXT_OFFSET`) whose weights start at a hand-set *prior* and move with feedback; the text
enters as hashed features (words, character 4-grams, linked domains) whose weights start at 0.
So with no feedback at all the score is the signals' judgement alone (the cold start), and every
moderator decision refines both what the words mean on this site and how much each signal is
worth here (links may be normal on one site and spam on another).

Why hashed features in a logistic model rather than token counts (naive Bayes): the model is
shared by every worker through Redis, so its state must be small per feature and updated by
commutative increments (``HINCRBYFLOAT``) that concurrent moderators cannot lose; logistic
regression trained on log loss gives probabilities that are calibrated rather than the
overconfident ones of naive Bayes; and character 4-grams make it robust to the small edits and
misspellings spammers use to dodge word lists. Hashing bounds memory (``N_BUCKETS``) without a
vocabulary to maintain.

The layout is versioned by the Redis key names (``spam:model:v1``): changing an index or the
hashing needs a new version, never a silent reinterpretation of stored weights.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Hash space of the text features (2^18: a few MB of Redis at most, few collisions).
N_BUCKETS = 1 << 18
#: Indices below this are the named signal features.
TEXT_OFFSET = 64
#: Text beyond this many characters adds nothing the first part has not said (and costs time).
MAX_TEXT_CHARS = 2000
MAX_WORDS = 300
GRAM = 4

_WORD = re.compile(r"\w+")
#: ASCII bytes kept where ``\w`` matches them (as ``signals._WORD_RUNS`` is built), every
#: other byte a space: an ASCII text's words are its bytes translated and split (in C, without
#: the regex engine's walk: a third of ``findall``'s cost, the worker's largest regex pass).
_ASCII_WORD_BYTES = bytes(
    c if c < 128 and _WORD.fullmatch(chr(c)) else ord(" ") for c in range(256)
)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _flag(name: str) -> Callable[[Mapping[str, Any]], float]:
    return lambda s: 1.0 if _num(s.get(name)) > 0 else 0.0


def _log(name: str) -> Callable[[Mapping[str, Any]], float]:
    return lambda s: math.log1p(max(_num(s.get(name)), 0.0))


def _capped(name: str, cap: float) -> Callable[[Mapping[str, Any]], float]:
    return lambda s: min(max(_num(s.get(name)), 0.0), cap)


def _value(name: str) -> Callable[[Mapping[str, Any]], float]:
    return lambda s: min(max(_num(s.get(name)), 0.0), 1.0)


def _num(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return float(len(value))
    return 0.0


@dataclass(frozen=True, slots=True)
class SignalFeature:
    index: int
    name: str
    #: Cold-start weight: the log-odds this feature adds before any feedback.
    prior: float
    #: Signals dict → feature value (0 when the signal is absent).
    value: Callable[[Mapping[str, Any]], float]


# The priors are judgement: the log-odds a moderator would give each piece of evidence. The
# bias makes an unremarkable comment ~12% spam-likely. Evidence that is spam "almost wherever
# it appears" crosses 0.5 on its own: a strong promotional phrase (0.73), a shortened or
# obfuscated link, a denied domain, a filled honeypot, a form sent within seconds. Weaker
# evidence (a link, a phone number, "free", capitals, a repeated text) needs company.
SIGNAL_FEATURES: tuple[SignalFeature, ...] = (
    SignalFeature(0, "bias", -2.0, lambda s: 1.0),
    SignalFeature(1, "has_link", 1.2, _flag("links")),
    SignalFeature(2, "links", 0.8, _log("links")),
    SignalFeature(3, "shorteners", 1.5, _flag("shorteners")),
    SignalFeature(4, "denied_domains", 5.0, _flag("denied_domains")),
    SignalFeature(5, "obfuscated", 2.5, _flag("obfuscated")),
    SignalFeature(6, "emails", 1.0, _flag("emails")),
    SignalFeature(7, "phones", 1.5, _flag("phones")),
    SignalFeature(8, "promo", 1.5, _capped("promo_score", 4.0)),
    SignalFeature(9, "caps", 1.0, _value("caps")),
    SignalFeature(10, "noise", 1.5, _value("noise")),
    SignalFeature(11, "evasion", 1.5, _flag("evasion")),
    SignalFeature(12, "short", -1.0, lambda s: 1.0 if 0 < _num(s.get("words")) <= 3 else 0.0),
    SignalFeature(13, "dup", 1.0, _log("dup_count")),
    SignalFeature(14, "dup_authors", 0.8, _flag("dup_authors")),
    SignalFeature(15, "dup_cross_post", 1.5, _flag("dup_cross_post")),
    SignalFeature(16, "author_rate", 0.5, _log("author_rate")),
    SignalFeature(17, "ip_rate", 0.4, _log("ip_rate")),
    SignalFeature(18, "honeypot", 6.0, _flag("honeypot")),
    SignalFeature(19, "too_fast", 2.5, _flag("too_fast")),
    SignalFeature(20, "author_rejected", 1.5, _log("author_rejected")),
    SignalFeature(21, "author_approved", -0.8, _log("author_approved")),
    SignalFeature(22, "link_share", 2.0, _value("link_share")),
)
PRIORS: dict[int, float] = {f.index: f.prior for f in SIGNAL_FEATURES}
SIGNAL_NAMES: dict[int, str] = {f.index: f.name for f in SIGNAL_FEATURES}
assert len(PRIORS) == len(SIGNAL_FEATURES) and max(PRIORS) < TEXT_OFFSET


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokenised text: what the model hashes and what near-duplicate detection shingles."""

    words: list[str]
    #: The words joined by single spaces, lower-cased (the shingled string).
    joined: str
    #: Distinct 64-bit hashes of the character 4-grams of ``joined`` (padded with spaces).
    grams: npt.NDArray[np.uint64]


def _words(normalized: str) -> list[str]:
    r"""Every ``\w+`` run of the lower-cased text's first :data:`MAX_TEXT_CHARS` characters,
    the first :data:`MAX_WORDS` of them."""
    text = normalized[:MAX_TEXT_CHARS].lower()
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()[:MAX_WORDS]
    return _WORD.findall(text)[:MAX_WORDS]


def tokenize(normalized: str) -> Tokens:
    """Lower-case words and character 4-gram hashes of the (scoring-normalised) text."""
    words = _words(normalized)
    joined = " ".join(words)
    return Tokens(words, joined, gram_hashes(f" {joined} "))


def tokenize_many(normalized: Sequence[str]) -> list[Tokens]:
    """:func:`tokenize` of each text (equal results), the 4-gram hashes of the whole batch
    computed together (:func:`gram_hashes_many`)."""
    words = [_words(text) for text in normalized]
    joined = [" ".join(w) for w in words]
    grams = gram_hashes_many([f" {j} " for j in joined])
    return [Tokens(w, j, g) for w, j, g in zip(words, joined, grams, strict=True)]


def _window_hashes(cps: npt.NDArray[np.uint64], n: int) -> npt.NDArray[np.uint64]:
    """The hash of every ``n``-code-point window of ``cps``: the code points combined
    polynomially, then mixed (the splitmix64 finaliser) so that nearby windows get unrelated
    hashes."""
    count = len(cps) - n + 1
    h = np.zeros(count, dtype=np.uint64)
    for k in range(n):
        h = h * np.uint64(1_000_003) + cps[k : k + count]
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def gram_hashes(text: str, n: int = GRAM) -> npt.NDArray[np.uint64]:
    """Distinct hashes of every ``n``-character window, stable across processes and runs,
    sorted."""
    if len(text) < n:
        text = text.ljust(n)
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return np.unique(_window_hashes(cps, n) & _MASK64)


def gram_hashes_many(texts: Sequence[str], n: int = GRAM) -> list[npt.NDArray[np.uint64]]:
    """:func:`gram_hashes` of each text, equal array for array, at a fraction of the cost: the
    texts are hashed as one string (a dozen array operations per batch instead of per text);
    the windows that straddle two texts are dropped, then each text's own are sorted in place
    and the repeats of the whole batch removed at once. The arrays are views of one buffer."""
    if not texts:
        return []
    padded = [t if len(t) >= n else t.ljust(n) for t in texts]
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    cps = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    hashed = _window_hashes(cps, n)
    # A window is a text's own when it starts at most len - n past the text's start.
    windows = lengths - (n - 1)
    starts = np.cumsum(lengths) - lengths
    offset = np.arange(len(hashed)) - np.repeat(starts, lengths)[: len(hashed)]
    own = hashed[offset < np.repeat(windows, lengths)[: len(hashed)]]
    bounds = np.cumsum(windows).tolist()
    first = 0
    for end in bounds:
        own[first:end].sort()
        first = end
    keep = np.empty(len(own), dtype=bool)
    np.not_equal(own[1:], own[:-1], out=keep[1:])
    keep[np.cumsum(windows) - windows] = True  # each text's first hash, whatever precedes it
    unique = own[keep]
    # Where each text's distinct hashes end in ``unique``.
    ends = np.cumsum(np.add.reduceat(keep, np.cumsum(windows) - windows)).tolist()
    return np.split(unique, ends[:-1])


def _bucket(token: str) -> int:
    return TEXT_OFFSET + zlib.crc32(token.encode("utf-8")) % (N_BUCKETS - TEXT_OFFSET)


@functools.lru_cache(maxsize=200_000)
def _word_bucket(word: str) -> int:
    """A word's text feature; cached, since words repeat (Zipf) and hashing one costs more
    than looking it up."""
    return _bucket("w:" + word)


#: How each feature's value is made from its signal's number (``_num``): what the helpers
#: ``_flag``, ``_log``, ``_capped`` and ``_value`` above build, spelled out for
#: :func:`signal_vector`, which computes them inline (a call per feature, 23 per comment,
#: cost more than the rest of the vector). ``tests/test_spam_signals.py`` holds the two equal.
_BIAS, _FLAG, _LOG, _CAP, _SHORT = range(5)
_PLAN: tuple[tuple[int, str, int, float], ...] = (
    (0, "", _BIAS, 0.0),
    (1, "links", _FLAG, 0.0),
    (2, "links", _LOG, 0.0),
    (3, "shorteners", _FLAG, 0.0),
    (4, "denied_domains", _FLAG, 0.0),
    (5, "obfuscated", _FLAG, 0.0),
    (6, "emails", _FLAG, 0.0),
    (7, "phones", _FLAG, 0.0),
    (8, "promo_score", _CAP, 4.0),
    (9, "caps", _CAP, 1.0),
    (10, "noise", _CAP, 1.0),
    (11, "evasion", _FLAG, 0.0),
    (12, "words", _SHORT, 0.0),
    (13, "dup_count", _LOG, 0.0),
    (14, "dup_authors", _FLAG, 0.0),
    (15, "dup_cross_post", _FLAG, 0.0),
    (16, "author_rate", _LOG, 0.0),
    (17, "ip_rate", _LOG, 0.0),
    (18, "honeypot", _FLAG, 0.0),
    (19, "too_fast", _FLAG, 0.0),
    (20, "author_rejected", _LOG, 0.0),
    (21, "author_approved", _LOG, 0.0),
    (22, "link_share", _CAP, 1.0),
)
assert [p[0] for p in _PLAN] == [f.index for f in SIGNAL_FEATURES]


def signal_vector(signals: Mapping[str, Any]) -> dict[int, float]:
    """The named signal features of a signals dict (absent signals count as 0): for each
    feature of :data:`SIGNAL_FEATURES`, ``feature.value(signals)`` where it is not 0."""
    x: dict[int, float] = {}
    get = signals.get
    for index, name, kind, cap in _PLAN:
        if kind == _BIAS:
            x[index] = 1.0
            continue
        raw: Any = get(name)
        cls = type(raw)
        # _num, its commonest cases first (a bool is not an int here: its type is bool).
        if cls is int or cls is float:
            num = float(raw)
        elif raw is None:
            num = 0.0
        else:
            num = _num(raw)
        if kind == _FLAG:
            value = 1.0 if num > 0 else 0.0
        elif kind == _LOG:
            value = math.log1p(max(num, 0.0))
        elif kind == _CAP:
            value = min(max(num, 0.0), cap)
        else:  # _SHORT
            value = 1.0 if 0 < num <= 3 else 0.0
        if value:
            x[index] = value
    return x


def _signal_vector_reference(signals: Mapping[str, Any]) -> dict[int, float]:
    """:func:`signal_vector` through each feature's ``value`` (what the tests compare)."""
    x: dict[int, float] = {}
    for feature in SIGNAL_FEATURES:
        value = feature.value(signals)
        if value:
            x[feature.index] = value
    return x


def _gram_buckets(grams: npt.NDArray[np.uint64]) -> list[int]:
    span = np.uint64(N_BUCKETS - TEXT_OFFSET)
    buckets: list[int] = (grams % span + np.uint64(TEXT_OFFSET)).tolist()
    return buckets


def _text_set(words: list[str], grams: list[int], domains: Iterable[Any]) -> set[int]:
    text: set[int] = set(map(_word_bucket, words))
    text.update(grams)
    for domain in domains:
        if isinstance(domain, str):
            text.add(_bucket("d:" + domain))
    return text


def text_scale(text: AbstractSet[int]) -> float:
    """The value of each of a comment's text features (see :func:`text_vector`)."""
    return 1.0 / math.sqrt(len(text)) if text else 0.0


def text_vector(tokens: Tokens, domains: Iterable[Any] = ()) -> dict[int, float]:
    """The hashed text features: words, character 4-grams and linked domains.

    Binary and scaled to unit L2 norm, so a long comment does not outvote the signals merely by
    having more words.
    """
    text = _text_set(tokens.words, _gram_buckets(tokens.grams), domains)
    if not text:
        return {}
    return dict.fromkeys(text, text_scale(text))


def text_sets(tokens: Sequence[Tokens], domains: Sequence[Iterable[Any]]) -> list[set[int]]:
    """The indices of :func:`text_vector` of each comment of a batch, as sets: every one
    has the value :func:`text_scale` of its set, and the set iterates in the order the
    vector's keys would (it is built by the same steps). The 4-grams of the batch are
    bucketed in one array operation."""
    if not tokens:
        return []
    buckets = _gram_buckets(np.concatenate([t.grams for t in tokens]))
    out: list[set[int]] = []
    first = 0
    for t, d in zip(tokens, domains, strict=True):
        end = first + len(t.grams)
        out.append(_text_set(t.words, buckets[first:end], d))
        first = end
    return out


def vectorize(tokens: Tokens, signals: Mapping[str, Any]) -> dict[int, float]:
    """The sparse feature vector ``{index: value}`` of one comment (signal and text indices
    never overlap)."""
    return signal_vector(signals) | text_vector(tokens, signals.get("domains") or ())
