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
import unicodedata

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
    if not text.isascii():  # ASCII has no invisible, compatibility or combining characters
        text = _INVISIBLE.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        text = _cut_combining(text)
    # Whitespace collapsed first, so "f\ru\rc\rk" is spelled out like "f u c k" and a second
    # pass finds nothing new (idempotence).
    text = _collapse_spaces(text)
    text = _SPELLED.sub(_join_spelled, text)
    if _CANDIDATE_CHAR.search(text) is not None:
        text = _CANDIDATE.sub(_fold_match, text)
    text = _REPEATS.sub(r"\1\1", text)
    # ``_SPACES.sub(" ", text).strip()``: str.split() and the regex's \s both split on
    # Unicode white space (Py_UNICODE_ISSPACE), and this costs a fraction of the regex.
    return " ".join(text.split())


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
