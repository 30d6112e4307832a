"""Text normalisation applied before scoring; the stored comment keeps the original text.

The aim is to undo the cheap tricks people use to slip past classifiers, without damaging
ordinary text in any language:

* NFKC folds full-width, circled, mathematical-alphabet and other compatibility letters
  (``ｆｕｃｋ``, ``𝐟𝐮𝐜𝐤``) to plain ones.
* Invisible characters are dropped: zero-width spaces and joiners, soft hyphens, bidi
  embeddings/overrides/isolates, variation selectors and tag characters.
* Stacks of combining marks ("Zalgo") are cut to one mark; single accents stay.
* Homoglyphs are folded **only inside words that mix scripts** (a Cyrillic ``а`` among Latin
  letters), so genuine Russian or Greek text is left intact for the multilingual model.
* Leetspeak is folded **only inside words that mix letters with digits or symbols**
  (``sh1t``, ``@ss``), so "3 kids" or "version 4" keep their numbers.
* Letters spelled out with separators (``f.u.c.k``, ``f u c k``) are joined.
* Runs of one repeated letter are cut to two (``fuuuuck`` → ``fuuck``).
* Whitespace runs collapse to single spaces.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

_INVISIBLE = re.compile(
    "["
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # arabic letter mark
    "\u115f\u1160\u3164\uffa0"  # hangul fillers
    "\u180e"  # mongolian vowel separator
    "\u200b-\u200f"  # zero-width space/joiners, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # bidi isolates
    "\ufe00-\ufe0f"  # variation selectors
    "\ufeff"  # byte order mark / zero-width no-break space
    "\U000e0000-\U000e007f"  # tag characters
    "\U000e0100-\U000e01ef"  # variation selectors supplement
    "]"
)


def first_invisible(value: str) -> str | None:
    """The first invisible or direction-changing character of ``value`` (zero-width, bidi
    marks, embeddings, overrides and isolates, soft hyphen, variation selectors, any other
    Unicode *format* character), or None. Ids must have none: ``h-\u200bauthor`` looks
    exactly like ``h-author`` and would dodge its ban."""
    found = _INVISIBLE.search(value)
    if found is not None:
        return found.group()
    for ch in value:
        if unicodedata.category(ch) == "Cf":
            return ch
    return None


# Confusable letters of other scripts that render like Latin ones.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "ɡ": "g",
        "һ": "h",
        "ԛ": "q",
        "ԝ": "w",
        "ү": "y",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "У": "Y",
        "Х": "X",
        "Ѕ": "S",
        "І": "I",
        "Ј": "J",
        # Greek
        "α": "a",
        "ο": "o",
        "ρ": "p",
        "ν": "v",
        "τ": "t",
        "ι": "i",
        "κ": "k",
        "υ": "u",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Ζ": "Z",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Υ": "Y",
        "Χ": "X",
    }
)

_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "€": "e",
    }
)
_LEET_CHARS = frozenset("013457@$!|€")

# Words _fold_word may change: those with a leet character or a non-ASCII letter (homoglyphs);
# the others are skipped without a Python call. Anchored at word starts so a long word without
# candidates is scanned once, not once per position.
_CANDIDATE = re.compile(r"(?<!\S)[^\s013457@$!|€\x80-\U0010ffff]*[013457@$!|€\x80-\U0010ffff]\S*")
# Three or more single letters separated by one separator each: "f.u.c.k", "f u c k", "f-u-c-k".
_SPELLED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][ .\-_*]){2,}[^\W\d_](?![^\W\d_])")
# Any character _CANDIDATE needs: a text without one skips that pass.
_CANDIDATE_CHAR = re.compile(r"[013457@$!|€\x80-\U0010ffff]")
# Those an ASCII text can hold (taken from the class itself): ten substring searches cost a
# third of the class's scan, which tries every position.
_ASCII_CANDIDATES = tuple(c for c in map(chr, range(128)) if _CANDIDATE_CHAR.match(c))
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[ .\-_*]")
# Trailing punctuation of a word is not leet ("great!" keeps its "!").
_EDGE_PUNCT = re.compile(r"^(.*?[^\W_]|[^\W_]?)([!?.,;:]*)$", re.S)


def _script(ch: str) -> str:
    """A coarse script tag for letters: LATIN, CYRILLIC, GREEK or OTHER."""
    name = unicodedata.name(ch, "")
    for script in ("LATIN", "CYRILLIC", "GREEK"):
        if name.startswith(script):
            return script
    return "OTHER"


def _fold_word(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return word
    scripts = {_script(c) for c in letters}
    if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
        word = word.translate(_HOMOGLYPHS)
    if any(c in _LEET_CHARS for c in word):
        match = _EDGE_PUNCT.match(word)
        core, tail = (match.group(1), match.group(2)) if match else (word, "")
        if any(c.isalpha() for c in core) and any(c in _LEET_CHARS for c in core):
            word = core.translate(_LEET) + tail
    return word


def _cut_combining(text: str) -> str:
    out: list[str] = []
    run = 0
    for ch in text:
        if unicodedata.combining(ch):
            run += 1
            if run > 1:
                continue
        else:
            run = 0
        out.append(ch)
    return "".join(out)


def normalize(text: str) -> str:
    """The text a scorer sees. Idempotent: ``normalize(normalize(t)) == normalize(t)``."""
    text = _SPELLED.sub(_join_spelled, _fold_chars(text))
    text = _fold_words(text)
    return _finish(_REPEATS.sub(r"\1\1", text))


def normalize_many(texts: Sequence[str]) -> list[str]:
    """:func:`normalize` of each text (equal results), for a batch: the two passes that cost
    the most per character (spelled-out letters, repeated letters) first look for what they
    could change in all the batch's ASCII texts at once, with array operations, and run only
    on the texts where it may be (and on every non-ASCII one)."""
    out = [_fold_chars(text) for text in texts]
    for i in _may_have(out, _spelled_at):
        out[i] = _SPELLED.sub(_join_spelled, out[i])
    out = [_fold_words(text) for text in out]
    for i in _may_have(out, _repeats_at):
        out[i] = _REPEATS.sub(r"\1\1", out[i])
    return [_finish(text) for text in out]


def _fold_chars(text: str) -> str:
    if not text.isascii():  # ASCII has no invisible, compatibility or combining characters
        text = _INVISIBLE.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        text = _cut_combining(text)
    # Whitespace collapsed first, so "f\ru\rc\rk" is spelled out like "f u c k" and a second
    # pass finds nothing new (idempotence).
    return _collapse_spaces(text)


def _fold_words(text: str) -> str:
    if text.isascii():
        if not any(map(text.__contains__, _ASCII_CANDIDATES)):
            return text
    elif _CANDIDATE_CHAR.search(text) is None:
        return text
    return _CANDIDATE.sub(_fold_match, text)


def _finish(text: str) -> str:
    # ``_SPACES.sub(" ", text).strip()``: str.split() and the regex's \s both split on
    # Unicode white space (Py_UNICODE_ISSPACE), and this costs a fraction of the regex.
    return " ".join(text.split())


# --- batch gates ------------------------------------------------------------------------------
# In ASCII, _SPELLED's and _REPEATS' letters ([^\W\d_]) are exactly [A-Za-z].
_LETTER = np.zeros(256, dtype=bool)
_LETTER[list(string.ascii_letters.encode())] = True
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[list(b" .-_*")] = True


def _spelled_at(a: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where an ASCII _SPELLED match can start: a letter not after a letter, then separator,
    letter, separator, letter (every match begins so; texts are joined by NUL, neither letter
    nor separator, so no window spans two)."""
    letter, sep = _LETTER[a], _SEPARATOR[a]
    n = len(a) - 4
    if n <= 0:
        return np.zeros(0, dtype=bool)
    at = letter[:n] & sep[1 : n + 1] & letter[2 : n + 2] & sep[3 : n + 3] & letter[4 : n + 4]
    at[1:] &= ~letter[: n - 1]
    return at


def _repeats_at(a: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where an ASCII _REPEATS match can start: three times the same letter."""
    n = len(a) - 2
    if n <= 0:
        return np.zeros(0, dtype=bool)
    at: npt.NDArray[np.bool_] = _LETTER[a[:n]] & (a[:n] == a[1 : n + 1])
    at &= a[1 : n + 1] == a[2 : n + 2]
    return at


def _may_have(
    texts: list[str], starts_at: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.bool_]]
) -> list[int]:
    """The indices of ``texts`` a pass may change: every non-ASCII one, and the ASCII ones
    where ``starts_at`` (an array test over their bytes, joined by NUL) finds a start."""
    ascii_ids = [i for i, t in enumerate(texts) if t.isascii()]
    may = [i for i, t in enumerate(texts) if not t.isascii()]
    if ascii_ids:
        joined = "\0".join(texts[i] for i in ascii_ids).encode("ascii")
        hits = np.flatnonzero(starts_at(np.frombuffer(joined, dtype=np.uint8)))
        if len(hits):
            lengths = np.fromiter((len(texts[i]) + 1 for i in ascii_ids), dtype=np.int64)
            firsts = np.cumsum(lengths) - lengths
            owners = np.unique(np.searchsorted(firsts, hits, side="right") - 1)
            may.extend(ascii_ids[k] for k in owners.tolist())
    return sorted(may)


def _collapse_spaces(text: str) -> str:
    """``_SPACES.sub(" ", text)``: every run of white space one space, ends kept."""
    inner = " ".join(text.split())
    if not inner:
        return " " if text else ""
    if text[0].isspace():
        inner = " " + inner
    if text[-1].isspace():
        inner += " "
    return inner


def _join_spelled(match: re.Match[str]) -> str:
    return _SEPARATORS.sub("", match.group(0))


def _fold_match(match: re.Match[str]) -> str:
    return _fold_word(match.group(0))
