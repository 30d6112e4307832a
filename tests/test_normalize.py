"""Normalisation before scoring: evasions folded, ordinary text in any language left alone."""

from __future__ import annotations

import pytest

from moderation.normalize import normalize, normalize_many


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ｆｕｃｋ you", "fuck you"),  # full-width letters (NFKC)
        ("𝐟𝐮𝐜𝐤 off", "fuck off"),  # mathematical bold
        ("f\u200bu\u200cc\u200dk", "fuck"),  # zero-width space / non-joiner / joiner
        ("\u202eevil\u202c text", "evil text"),  # bidi override and pop
        ("id\u00adiot", "idiot"),  # soft hyphen
        ("\ufeffhello", "hello"),  # byte order mark
        ("ѕhit", "shit"),  # Cyrillic dze among Latin letters
        ("іdіot", "idiot"),  # Cyrillic i among Latin letters
        ("sh1t head", "shit head"),  # leetspeak inside a word
        ("@ss", "ass"),
        ("f.u.c.k off", "fuck off"),  # spelled out with separators
        ("f u c k", "fuck"),
        ("fuuuuuuck", "fuuck"),  # repeated letters cut to two
        ("hello  \t  world", "hello world"),
    ],
)
def test_evasions_are_folded(raw: str, folded: str) -> None:
    assert normalize(raw) == folded


@pytest.mark.parametrize(
    "text",
    [
        "3 kids and version 4",  # numbers that are numbers stay
        "Это просто статья",  # Russian stays Cyrillic (no homoglyph folding in one script)
        "Καλή δουλειά",  # Greek
        "naïve café résumé",  # single accents stay
        "Der Artikel ist gut.",
        "plan a or b",  # two single letters are not "spelled out"
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert normalize(text) == text


def test_combining_mark_stacks_are_cut() -> None:
    zalgo = "Z" + "\u0301\u0302\u0303\u0304\u0305\u0306" + "algo"
    assert len(normalize(zalgo)) <= len("Z\u0301algo")


def test_a_batch_is_normalised_as_each_text_alone() -> None:
    # normalize_many skips its costly passes for ASCII texts its array test clears: every
    # kind of text, evasions and the ordinary ones, must come out as normalize makes it.
    texts = [
        "ｆｕｃｋ you", "f.u.c.k off", "f u c k", "fuuuuuuck", "plan a or b", "a b", "x.y.z!",
        "I a b c", "e.g. this", "aaa", "aa", "", " ", "sh1t head", "Это просто статья",
        "s.p.a.m and mooore", "A-B-C-D", "b*a*d", "zzz zz z", "ok. a. b. c", "\t a b c \n",
        "tri ple ttt", "naïve café", "a_b_c", "Hello\x00world",
    ]  # fmt: skip
    expected = [normalize(t) for t in texts]
    assert normalize_many(texts) == expected
    for size in (1, 2, 5):
        got = [n for i in range(0, len(texts), size) for n in normalize_many(texts[i : i + size])]
        assert got == expected
    assert normalize_many([]) == []
