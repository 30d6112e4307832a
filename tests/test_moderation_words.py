"""Word-list matching and highlighting (pure functions)."""

from __future__ import annotations

import random
import re
import string

import pytest
from markupsafe import Markup

from moderation.errors import ValidationFailed
from moderation.normalize import normalize
from moderation.store.wordlists import WordMatcher, canonical, words_of
from moderation.ui.highlight import Segment, segments, to_html

_WORD = re.compile(r"\w+")


def slow_words(text: str) -> list[str]:
    return _WORD.findall(normalize(text).casefold())


def test_fast_path_gives_the_normalisers_words() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + "0123456789.,;:!?'’#\"()[]@$|-_* \u200b"
    samples = [
        "idiot", "idiot,", "(idiot)", '"Idiot"', "[x]", "a.", "f.u.c.k", "f.u.", "baaad",
        "Baaad.", "sh1t", "@ss", "a$$", "it's", "I", "ok?!", "ｆｕｃｋ", "d\u200burian",
        "a b c", "hello world", "AAAh", "aAAa", "don't", "#tag", "'it’s'", "o'o'o",
    ]  # fmt: skip
    samples += ["".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(20_000)]
    for text in samples:
        assert words_of(text) == slow_words(text), repr(text)


def test_matcher_whole_words_phrases_and_evasions() -> None:
    m = WordMatcher.build(banned=["scam coin", "badword"], suspect=["durian"])
    assert m.match("a SCAM   Coin!") == (["scam coin"], [])
    assert m.match("ｂａｄｗｏｒｄ and d\u200burian") == (["badword"], ["durian"])
    assert m.match("b.a.d.w.o.r.d") == (["badword"], [])
    assert m.match("badwords, durians, coin then scam") == ([], [])
    assert m.match("b4dw0rd") == (["badword"], [])
    assert WordMatcher.build([], []).match("anything") == ([], [])


def test_entries_are_stored_canonically_and_validated() -> None:
    assert canonical("  Red   HERRING ") == "red herring"
    assert canonical("ｆｕｌｌ") == "full"
    for bad in ("!!!", "", "x" * 101, "one two three four five six seven"):
        with pytest.raises(ValidationFailed):
            canonical(bad)


@pytest.mark.parametrize("masked", ["f*cking", "f**k", "*idiot*", "red * herring"])
def test_a_wildcard_is_refused_not_stored_as_two_words(masked: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        canonical(masked, "add")
    assert refused.value.field == "add"
    assert "'*'" in str(refused.value) and "write the word in full" in str(refused.value)
    # Other symbols still separate words, as they do in comments.
    assert canonical("e-mail") == "e mail"
    assert canonical("really?") == "really"


def test_segments_mark_links_and_matched_words_in_the_verbatim_text() -> None:
    text = "You (idiot), see www.example.com or javascript:alert(1) and I D I O T"
    segs = segments(text, {"suspect": ["idiot"]})
    assert "".join(s.text for s in segs) == text  # nothing lost or changed
    marked = [(s.text, s.kind) for s in segs if s.kind]
    assert marked == [
        ("idiot", "suspect"),
        ("www.example.com", "link"),
        ("javascript:alert(1)", "link"),
        ("I D I O T", "suspect"),
    ]
    assert segments("plain text") == [Segment("plain text")]


def test_html_of_segments_escapes_everything() -> None:
    html = to_html(segments('<b>x</b> "q" <img onerror=1> https://e.x/?a=<s>', {}))
    assert isinstance(html, Markup)
    assert "<b>" not in html and "<img" not in html and "<s>" not in html
    assert "&lt;b&gt;x&lt;/b&gt; &#34;q&#34;" in html
    assert html.count("<mark ") == 1
    hostile = to_html([Segment("t", "link", '"><script>')])
    assert "<script>" not in hostile
