"""Spam signals computed from a comment's text alone (pure functions, no I/O).

Signals are read from the *verbatim* text, not from the scoring normalisation: that one folds
leetspeak (``@`` becomes ``a``), which would destroy e-mail addresses and URLs. Instead the text
is cleaned here in a way that keeps addresses intact and undoes the tricks used to hide them:

* invisible format characters are dropped and compatibility letters folded (NFKC), and both are
  reported as ``evasion`` when used the way spammers use them (inside words; full-width Latin in
  text that is not CJK; Latin words salted with Cyrillic or Greek look-alikes);
* written-out links are restored: ``hxxp://``, ``h t t p : / /``, ``example[.]com``,
  ``example (dot) com``, ``example . com``, ``user [at] example.com``; each rewrite counts as an
  obfuscated link, itself a strong signal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from moderation.normalize import normalize
from moderation.spam.lexicon import (
    BARE_TLDS,
    PROMO_PATTERN_STARTS,
    PROMO_PATTERNS,
    PROMO_PHRASES,
    SECOND_LEVEL,
    SHORTENERS,
    WORDLIKE_TLDS,
)

#: Domains listed in the explanation (all links are counted).
MAX_DOMAINS = 20
#: Fewer cased letters than this and the share of capitals says nothing ("OK", "LOL").
CAPS_MIN_LETTERS = 12

# Invisible format characters (category Cf: zero-width space/joiners, bidi controls, BOM, tags)
# between two visible characters: the zero-width evasion. A trailing BOM is not one.
_HIDDEN_INSIDE = re.compile(
    r"(?<=\S)[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+(?=\S)"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# Letters and digits that NFKC folds to ASCII ones: full-width, mathematical alphanumerics
# (bold, script, double-struck…), circled and squared letters.
_LOOKALIKE = re.compile(
    "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\U0001d400-\U0001d7ff\u2460-\u24ff"
    "\U0001f130-\U0001f189]"
)
_LATIN = re.compile(r"[a-zA-Z]")
_CYRILLIC_GREEK = re.compile(r"[\u0370-\u03ff\u0400-\u052f]")

_TLD_ALT = "|".join(sorted(BARE_TLDS | WORDLIKE_TLDS, key=len, reverse=True))
_BARE_ALT = "|".join(sorted(BARE_TLDS, key=len, reverse=True))
# ---- de-obfuscation rewrites (each counted) -----------------------------------------------
# (pattern, replacement, substrings one of which must be present for it to apply, gate): the
# gate is a cheap search for a part every match contains (no look-arounds, a literal or a
# small set first, so the regex engine scans for it quickly): most comments have a ". " or a
# "(" and would otherwise pay a full scan of a look-behind pattern for nothing.
_REWRITES: tuple[tuple[re.Pattern[str], str, tuple[str, ...], re.Pattern[str]], ...] = (
    (re.compile(r"\bhxxp(s?)\b", re.I), r"http\1", ("xxp", "XXP"), re.compile("hxxp", re.I)),
    (
        re.compile(r"\bh\s+t\s+t\s+p\s*(s?)\s*:\s*/\s*/\s*", re.I),
        r"http\1://",
        ("t t", "T T"),
        re.compile(r"h\s+t\s+t", re.I),
    ),
    (
        re.compile(r"\bhttp(s?)\s+:\s*//|\bhttp(s?):\s+//", re.I),
        r"http\1\2://",
        (": /", " :"),
        re.compile(r"http", re.I),
    ),
    (re.compile(r"\bw\s+w\s+w\s*\.\s*", re.I), "www.", ("w w", "W W"), re.compile(r"w\s+w", re.I)),
    (
        re.compile(r"(?<=\w)\s*[\[({<]\s*(?:\.|dot)\s*[\])}>]\s*(?=\w)", re.I),
        ".",
        ("[", "(", "{", "<"),
        re.compile(r"[\[({<]\s*(?:\.|dot)\s*[\])}>]", re.I),
    ),
    (
        re.compile(rf"(?<=\w)\s+dot\s+(?=(?:{_TLD_ALT})\b)", re.I),
        ".",
        ("dot", "DOT", "Dot"),
        re.compile(r"\sdot\s", re.I),
    ),
    # "name . com", "name. com": only lower-case, unambiguous endings ("opinion. It's" and
    # "done. Net result" are sentences).
    (
        re.compile(rf"(?<=\w)(?:\s+\.\s*|\s*\.\s+)(?=(?:{_BARE_ALT})(?:[\s/]|$))"),
        ".",
        (" .", ". "),
        re.compile(rf"\.\s*(?:{_BARE_ALT})(?:[\s/]|$)"),
    ),
    (
        re.compile(r"(?<=\w)\s*[\[({<]\s*(?:@|at)\s*[\])}>]\s*(?=\w)", re.I),
        "@",
        ("[", "(", "{", "<"),
        re.compile(r"[\[({<]\s*(?:@|at)\s*[\])}>]", re.I),
    ),
)
# ---- detection ---------------------------------------------------------------------------
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+", re.I)
_BARE = re.compile(
    r"(?<![@\w.\-/])((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+([a-z]{2,10}))"
    r"(?=([/\\][^\s]*)?)(?![\w\-])",
    re.I,
)
# Starts only where a run of address characters starts, and the local part is bounded: a
# 10,000-letter word must cost one scan, not one per position.
_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w.+\-]{1,64}@[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63})*\.[a-z]{2,}", re.I
)
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d \t().\-/]{6,}\d(?!\d)")
_THOUSANDS = re.compile(r"^\d{1,3}(?:[ .]\d{3})+$")
#: Every bare domain _BARE finds has a label's last character, a dot and a letter in a row:
#: prose whose dots all end sentences ("done. Next") skips that scan. Written dot first, the
#: character before it checked behind: a pattern that starts with a literal is searched for
#: that literal (fast), one that starts with a class tries every position (4 µs a comment).
_BARE_GATE = re.compile(r"\.(?<=[a-z0-9]\.)[a-z]", re.I)
#: A phone number counts with 9 digits or more: an ASCII text with fewer skips the scan.
_PHONE_MIN_DIGITS = 9
_ASCII_DIGITS = b"0123456789"
_WORD = re.compile(r"\w+")
# Promotional phrases are found by looking up the word n-grams starting at every word in a
# dict (fast whatever the lexicon's size); the few patterns run as regular expressions. At one
# word start the patterns come first, then the longest phrase: "check out my new video" finds
# "check out my" and "my new video", overlapping, but never "check out" besides "check out my".
_PHRASE_TOKEN = re.compile(r"\w+|[$€£]")
_CURRENCIES = ("$", "€", "£")
# Phrases indexed by their first token, longest first.
_PHRASES: dict[str, list[tuple[tuple[str, ...], str, int]]] = {}
for _phrase, _weight in PROMO_PHRASES.items():
    _tokens = tuple(_PHRASE_TOKEN.findall(_phrase))
    _PHRASES.setdefault(_tokens[0], []).append((_tokens, _phrase, _weight))
for _entries in _PHRASES.values():
    _entries.sort(key=lambda e: -len(e[0]))
_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(rf"(?:{pattern})(?!\w)"), w) for pattern, w in PROMO_PATTERNS
)
# The patterns as one ordered alternation: a top-level alternation tries its branches in order
# and takes the first that matches, exactly as trying each pattern in turn, in one call. The
# branch that matched is its group (``lastindex``), whose weight is in _PATTERN_WEIGHTS.
_ANY_PATTERN = re.compile("|".join(f"((?:{pattern})(?!\\w))" for pattern, _ in PROMO_PATTERNS))
_PATTERN_WEIGHTS = (0, *(w for _, w in PROMO_PATTERNS))
# Words an entry can start with: a text with none of them has no promotional phrase.
_FIRST_WORDS = frozenset(_PHRASES) | PROMO_PATTERN_STARTS
# Where the tokens a pattern may start at begin, in order: a token of _PHRASE_TOKEN that is a
# word is a maximal run of \w, so these are exactly the offsets of those tokens, found without
# a match object per token.
_PATTERN_START = re.compile(
    r"\b(?:" + "|".join(sorted(PROMO_PATTERN_STARTS, key=len, reverse=True)) + r")\b"
)
# Symbols: neither letters, digits, spaces nor ordinary punctuation (box drawing, emoji, ★).
_SYMBOL = re.compile(r"[^\w\s.,;:!?'\"\-()…’‘“”/&%@#]")


@dataclass(frozen=True, slots=True)
class DomainLists:
    """The site's allow and deny lists (a domain matches itself and its subdomains)."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allow: Iterable[str], deny: Iterable[str]) -> DomainLists:
        def clean(items: Iterable[str]) -> frozenset[str]:
            return frozenset(d.strip().lower().lstrip(".") for d in items if d.strip())

        return cls(clean(allow), clean(deny))


@dataclass(frozen=True, slots=True)
class TextSignals:
    """What the text says about spam. Field names are the names stored in the explanation."""

    #: Links, not counting those to allow-listed domains (the ``too_many_links`` rule reads it).
    links: int = 0
    links_allowed: int = 0
    #: Share of the text's visible characters that are links: a comment that is little more
    #: than a link is promotion; one that cites a source in passing is not.
    link_share: float = 0.0
    #: Distinct registrable domains linked (allow-listed ones left out), in order of appearance
    #: (the first :data:`MAX_DOMAINS`).
    domains: tuple[str, ...] = ()
    shorteners: int = 0
    denied_domains: int = 0
    #: Links or addresses written to dodge detection (``hxxp``, ``[dot]``, spaced out).
    obfuscated: int = 0
    emails: int = 0
    phones: int = 0
    #: Promotional phrases found, and their strength: 2 points per strong phrase, plus 1 if
    #: there is any weak one (weak words alone, "free", "visit", never add more than 1).
    promo: tuple[str, ...] = ()
    promo_score: int = 0
    #: Share of capitals among cased letters (0 for short texts): shouting.
    caps: float = 0.0
    #: Share of symbol characters (not letters, digits or ordinary punctuation): noise.
    noise: float = 0.0
    #: Kinds of character-level evasion found: zero_width, full_width, mixed_script.
    evasion: tuple[str, ...] = ()
    words: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "links": self.links,
            "links_allowed": self.links_allowed,
            "link_share": round(self.link_share, 3),
            "domains": list(self.domains),
            "shorteners": self.shorteners,
            "denied_domains": self.denied_domains,
            "obfuscated": self.obfuscated,
            "emails": self.emails,
            "phones": self.phones,
            "promo": list(self.promo),
            "promo_score": self.promo_score,
            "caps": round(self.caps, 3),
            "noise": round(self.noise, 3),
            "evasion": list(self.evasion),
            "words": self.words,
        }


def text_signals(
    raw: str,
    normalized: str | None = None,
    lists: DomainLists | None = None,
    words: list[str] | None = None,
) -> TextSignals:
    r"""Compute every text signal of ``raw`` (the verbatim comment).

    ``normalized`` is the scoring normalisation of the same text (computed when absent): the
    promotional phrases are looked up there, where ``fr33 m0ney`` already reads "free money".
    ``words``: every ``\w+`` run of ``normalized.lower()``, in order, when the caller has them
    already (the tokeniser's words of a text it did not truncate), so they are not found twice.
    """
    lists = lists or DomainLists()
    if normalized is None:
        normalized = normalize(raw)
    evasion = _evasion(raw)
    clean = unicodedata.normalize("NFKC", _strip_invisible(raw))
    clean, obfuscated = _deobfuscate(clean)

    # The patterns cannot match without their anchor characters: skip the regex passes then.
    emails = _EMAIL.findall(clean) if "@" in clean else []
    without_emails = _EMAIL.sub(" ", clean) if emails else clean
    links = allowed = shorteners = denied = link_chars = 0
    domains: list[str] = []
    for host, size in _links(without_emails):
        domain = registrable(host)
        if _listed(host, lists.allow):
            allowed += 1
            continue
        links += 1
        link_chars += size
        if domain not in domains and len(domains) < MAX_DOMAINS:
            domains.append(domain)
        if domain in SHORTENERS or host in SHORTENERS:
            shorteners += 1
        if _listed(host, lists.deny):
            denied += 1

    promo, promo_score = _promo(normalized.lower(), words)
    return TextSignals(
        links=links,
        links_allowed=allowed,
        link_share=min(link_chars / max(_visible(clean), 1), 1.0) if link_chars else 0.0,
        domains=tuple(domains),
        shorteners=shorteners,
        denied_domains=denied,
        obfuscated=obfuscated,
        emails=len(emails),
        phones=_count_phones(without_emails),
        promo=tuple(promo),
        promo_score=promo_score,
        caps=_caps(clean),
        noise=_noise(clean),
        evasion=evasion,
        words=_count_words(clean),
    )


def registrable(host: str) -> str:
    """The part of a host name one registers: ``news.example.co.uk`` → ``example.co.uk``."""
    labels = host.lower().strip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


# --- helpers ----------------------------------------------------------------------------------


def _promo(lowered: str, words: list[str] | None = None) -> tuple[tuple[str, ...], int]:
    r"""Promotional phrases found and their strength: 2 points per strong one, plus 1 if any
    weak one. ``words``: the ``\w+`` runs of ``lowered`` if the caller has them.

    Every word start is tried, so matches may overlap ("check out my new video" finds "check
    out my" and "my new video"); at one start the patterns come first, then the longest
    phrase. Only starts whose word can begin an entry are tried, by dict lookup: the cost
    grows with the text, not with the lexicon.
    """
    if words is None or any(map(lowered.__contains__, _CURRENCIES)):
        # The phrase tokens are the words and the currency signs, in order: without a sign,
        # exactly the words.
        words = _PHRASE_TOKEN.findall(lowered)
    if _FIRST_WORDS.isdisjoint(words):
        return (), 0
    # The offsets of the words patterns start with, the n-th for the n-th such word.
    starts: Iterator[re.Match[str]] | None = None
    hits: list[tuple[str, int]] = []
    for i in [i for i, word in enumerate(words) if word in _FIRST_WORDS]:
        word = words[i]
        if word in PROMO_PATTERN_STARTS:
            if starts is None:
                starts = _PATTERN_START.finditer(lowered)
            match = _ANY_PATTERN.match(lowered, next(starts).start())
            if match is not None:
                weight = _PATTERN_WEIGHTS[match.lastindex or 0]
                hits.append((" ".join(match.group(0).split())[:60], weight))
                continue
        for entry, phrase, weight in _PHRASES.get(word, ()):
            # One-word entries need no comparison: the word is their key.
            if len(entry) == 1 or tuple(words[i : i + len(entry)]) == entry:
                hits.append((phrase, weight))
                break
    strong = sum(1 for _, w in hits if w >= 2)
    weak = len(hits) - strong
    return tuple(p for p, _ in hits), 2 * strong + (1 if weak else 0)


def _strip_invisible(text: str) -> str:
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _evasion(raw: str) -> tuple[str, ...]:
    if raw.isascii():
        return ()
    kinds: list[str] = []
    if _HIDDEN_INSIDE.search(raw):
        kinds.append("zero_width")
    if not _CJK.search(raw) and len(_LOOKALIKE.findall(raw)) >= 2:
        kinds.append("full_width")
    if any(
        not w.isascii() and _LATIN.search(w) and _CYRILLIC_GREEK.search(w)
        for w in _WORD.findall(raw)
    ):
        kinds.append("mixed_script")  # Latin words salted with look-alike letters
    return tuple(kinds)


def _deobfuscate(text: str) -> tuple[str, int]:
    count = 0
    for pattern, replacement, needles, gate in _REWRITES:
        if any(map(text.__contains__, needles)) and gate.search(text) is not None:
            text, n = pattern.subn(replacement, text)
            count += n
    return text, count


def _links(text: str) -> list[tuple[str, int]]:
    """Every link in ``text``: its host and how many characters it spans."""
    links: list[tuple[str, int]] = []
    lowered = text.lower()
    # _URL needs "http" or "www." and _BARE a dot: most comments skip both passes.
    schemed = "http" in lowered or "www." in lowered
    for match in _URL.finditer(text) if schemed else ():
        url = match.group(0)
        rest = url.split("://", 1)[1] if "://" in url else url
        host = re.split(r"[/\\?#:]", rest, maxsplit=1)[0].lower().rstrip(".,;!")
        if host.startswith("www."):
            host = host[4:]
        if host:
            links.append((host, len(url)))
    rest = _URL.sub(" ", text) if schemed else text
    for match in _BARE.finditer(rest) if _BARE_GATE.search(rest) else ():
        host, tld, path = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if tld in BARE_TLDS or (tld in WORDLIKE_TLDS and path):
            size = len(match.group(1)) + len(path or "")
            links.append((host[4:] if host.startswith("www.") else host, size))
    return links


def _listed(host: str, domains: frozenset[str]) -> bool:
    if not domains:
        return False
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def _count_phones(text: str) -> int:
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw) - len(raw.translate(None, _ASCII_DIGITS)) < _PHONE_MIN_DIGITS:
            return 0  # no candidate can hold the 9 digits a number needs
    count = 0
    for match in _PHONE.finditer(text):
        candidate = match.group(0).strip()
        digits = sum(c.isdigit() for c in candidate)
        if not 9 <= digits <= 15:
            continue
        if _THOUSANDS.match(candidate) and not candidate.startswith(("+", "0")):
            continue  # "1 753 682 421 views"
        count += 1
    return count


def _count(text: str, ascii_set: bytes, test: Callable[[str], bool]) -> int:
    """How many characters of ``text`` pass ``test``; ``ascii_set`` holds the ASCII ones that
    do, so an ASCII text is counted by one C-level ``translate`` instead of a call per
    character."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw) - len(raw.translate(None, ascii_set))
    return sum(map(test, text))


def _ascii(test: Callable[[str], bool]) -> bytes:
    return bytes(c for c in range(128) if test(chr(c)))


_ASCII_UPPER = _ascii(str.isupper)
_ASCII_LOWER = _ascii(str.islower)
_ASCII_SPACE = _ascii(str.isspace)
#: The ASCII characters _SYMBOL matches (an ASCII text's are counted without the regex).
_ASCII_SYMBOL = bytes(c for c in range(128) if _SYMBOL.fullmatch(chr(c)))


def _caps(text: str) -> float:
    upper = _count(text, _ASCII_UPPER, str.isupper)
    cased = upper + _count(text, _ASCII_LOWER, str.islower)
    return upper / cased if cased >= CAPS_MIN_LETTERS else 0.0


#: ASCII bytes to ``a`` where they are word characters (``\w``: letters, digits, ``_``), to a
#: space elsewhere: an ASCII text's words are then counted by where runs of ``a`` start.
_WORD_RUNS = bytes(ord("a") if _WORD.fullmatch(chr(c)) else ord(" ") for c in range(256))


def _count_words(text: str) -> int:
    """``len(_WORD.findall(text))``, without making the words for an ASCII text."""
    if not text.isascii():
        return len(_WORD.findall(text))
    runs = text.encode("ascii").translate(_WORD_RUNS)
    return runs.count(b" a") + (1 if runs[:1] == b"a" else 0)


def _visible(text: str) -> int:
    """Characters that are not white space (``len("".join(text.split()))``)."""
    return len(text) - _count(text, _ASCII_SPACE, str.isspace)


def _noise(text: str) -> float:
    visible = _visible(text)
    if not visible:
        return 0.0
    if text.isascii():
        return _count(text, _ASCII_SYMBOL, str.isspace) / visible  # ASCII: the test is unused
    return len(_SYMBOL.findall(text)) / visible
