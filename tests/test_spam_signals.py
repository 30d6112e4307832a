"""Each text signal on crafted inputs, evasions included (pure functions, no Redis)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from moderation.messages import Author, CommentRecord, Context
from moderation.normalize import _CANDIDATE, _CANDIDATE_CHAR, _fold_match, _fold_words, normalize
from moderation.spam import context_signals
from moderation.spam.features import (
    MAX_TEXT_CHARS,
    MAX_WORDS,
    PRIORS,
    SIGNAL_FEATURES,
    TEXT_OFFSET,
    _bucket,
    _signal_vector_reference,
    gram_hashes,
    gram_hashes_many,
    signal_vector,
    text_scale,
    text_sets,
    text_vector,
    tokenize,
    tokenize_many,
    vectorize,
)
from moderation.spam.minhash import band_keys, signature, similarity
from moderation.spam.signals import _BARE_GATE, DomainLists, registrable, text_signals


def sig(text: str, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()) -> dict[str, object]:
    return text_signals(text, normalize(text), DomainLists.of(allow, deny)).as_dict()


# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "links", "domains"),
    [
        (
            "Read https://example.com/a and http://www.other.org/b?x=1",
            2,
            ["example.com", "other.org"],
        ),
        ("see www.example.net for details", 1, ["example.net"]),
        ("buy at cheap-pills.com today", 1, ["cheap-pills.com"]),
        ("news.example.co.uk/page says so", 1, ["example.co.uk"]),
        ("two links to one site: https://a.example.com https://b.example.com", 2, ["example.com"]),
        # Not links: sentences, abbreviations, numbers, decimals.
        ("That was good.In my view it is fine.", 0, []),
        ("e.g. this, i.e. that, etc. and so on", 0, []),
        ("It costs 3.50 and weighs 1.2kg", 0, []),
        ("My honest opinion. It's a mediocre song", 0, []),
        ("version 2.0 is out", 0, []),
    ],
)
def test_links_and_domains(text: str, links: int, domains: list[str]) -> None:
    s = sig(text)
    assert s["links"] == links
    assert s["domains"] == domains


def test_shorteners_are_counted() -> None:
    s = sig("free stuff at bit.ly/3xYz and https://tinyurl.com/abc")
    assert s["shorteners"] == 2
    assert s["links"] == 2


def test_allow_listed_domains_do_not_count_as_links() -> None:
    text = "as reported on https://news.example.com/story and https://spam.biz/offer"
    s = sig(text, allow=("example.com",))
    assert s["links"] == 1
    assert s["links_allowed"] == 1
    assert s["domains"] == ["spam.biz"]


def test_deny_listed_domains_match_subdomains() -> None:
    s = sig("visit https://shop.casino-royale.example/win now", deny=("casino-royale.example",))
    assert s["denied_domains"] == 1
    assert sig("visit https://shop.casino-royale.example/win now")["denied_domains"] == 0


def test_link_share_separates_link_drops_from_citations() -> None:
    drop = sig("https://twitter.com/SomeAccount")
    cite = sig(
        "The council's own figures (https://example.org/report) show the deficit grew again, "
        "which contradicts what the mayor said in the interview last week."
    )
    assert drop["link_share"] == 1.0
    assert 0 < float(cite["link_share"]) < 0.3  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "go to hxxp://evil.com/win",
        "go to hxxps://evil.com/win",
        "go to h t t p : / / evil.com/win",
        "go to evil[.]com/win",
        "go to evil(dot)com/win",
        "go to evil [dot] com",
        "go to evil dot com now",
        "go to evil . com/win",
        "go to evil. com",
        "go to w w w . evil.com",
    ],
)
def test_obfuscated_links_are_restored_and_flagged(text: str) -> None:
    s = sig(text)
    assert s["links"] == 1, s
    assert s["domains"] == ["evil.com"]
    assert s["obfuscated"] >= 1  # type: ignore[operator]


def test_zero_width_characters_inside_a_url_do_not_hide_it() -> None:
    s = sig("cheap pills at evil\u200b.com/buy and bit\u200c.ly/x")
    assert s["domains"] == ["evil.com", "bit.ly"]
    assert s["evasion"] == ["zero_width"]


def test_full_width_url_is_folded() -> None:
    s = sig("ｗｗｗ．ｅｖｉｌ．ｃｏｍ")
    assert s["domains"] == ["evil.com"]
    assert "full_width" in s["evasion"]  # type: ignore[operator]


# --- emails and phone numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "emails"),
    [
        ("write to jane.doe+news@example.com", 1),
        ("write to jane [at] example [dot] com", 1),
        ("write to jane(at)example.com", 1),
        ("we met at the station", 0),
    ],
)
def test_emails(text: str, emails: int) -> None:
    s = sig(text)
    assert s["emails"] == emails
    assert s["links"] == 0  # the address's domain is not also a link


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("call +44 7935 454150 now", 1),
        ("call 09061701461 to claim", 1),
        ("ring 555-123-4567 or (020) 7946 0958", 2),
        ("1 753 682 421 views already", 0),  # thousands separators
        ("the 2015-05-29 match", 0),  # a date
        ("it cost 1,234,567 pounds", 0),
        ("in 2014 and 2015", 0),
    ],
)
def test_phones(text: str, phones: int) -> None:
    assert sig(text)["phones"] == phones


# --- promotion, shouting, noise, evasion ---------------------------------------------------------


def test_self_promotion_phrases_and_strength() -> None:
    s = sig("Hey guys check out my new video and subscribe to my channel!!")
    assert {"check out my", "subscribe to my", "my channel"} <= set(s["promo"])  # type: ignore[arg-type]
    assert s["promo_score"] >= 4  # type: ignore[operator]
    weak = sig("Free speech matters more than ever.")
    assert weak["promo"] == ["free"]
    assert weak["promo_score"] == 1
    many_weak = sig("free cash prize winner, click")
    assert many_weak["promo_score"] == 1  # weak words alone never add more than one point
    assert sig("This is my favorite song")["promo"] == []


def test_promotion_is_found_through_leetspeak_and_zero_width() -> None:
    assert "make money" in sig("m4ke m0ney fast")["promo"]  # type: ignore[operator]
    s = sig("cl\u200bick h\u200bere")
    assert s["promo"] == ["click here"]
    assert s["evasion"] == ["zero_width"]


@pytest.mark.parametrize(
    "text",
    [
        "Hey guys check out my new video and subscribe to my channel!!",
        "Earn $500 a day from home, click here",  # a currency sign: the phrase tokens differ
        "Win £1000 now! free € prize",
        "m4ke m0ney fast with crypto",
        "A measured column on the council's budget; nothing to sell here.",
    ],
)
def test_the_tokenisers_words_give_the_same_signals(text: str) -> None:
    r"""The scorer passes the tokeniser's words (they are the same ``\w+`` runs) instead of
    letting the promotion lookup find them again: the signals must not change."""
    normalized = normalize(text)
    words = tokenize(normalized).words
    assert text_signals(text, normalized, None, words) == text_signals(text, normalized)


def test_shouting() -> None:
    assert sig("THIS IS ALL SHOUTING, READ IT NOW")["caps"] == 1.0
    assert sig("This is a calm sentence, read it.")["caps"] < 0.1  # type: ignore[operator]
    assert sig("OK")["caps"] == 0.0  # too short to say anything


def test_character_noise() -> None:
    assert sig("★★★ WIN ★★★ ▬▬▬▬ ░░░░")["noise"] > 0.5  # type: ignore[operator]
    assert (
        sig('A normal sentence, with punctuation; quotes "like this" (and more)!')["noise"] == 0.0
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("fr\u200bee mo\u200dney", "zero_width"),
        ("ｆｒｅｅ ｍｏｎｅｙ", "full_width"),
        ("𝐟𝐫𝐞𝐞 𝐦𝐨𝐧𝐞𝐲", "full_width"),
        ("Frее mоnеy", "mixed_script"),  # Cyrillic е and о among Latin letters
    ],
)
def test_character_evasion_is_reported_and_undone(text: str, kind: str) -> None:
    s = sig(text)
    assert kind in s["evasion"]  # type: ignore[operator]
    assert "free" in s["promo"]  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    [
        "Привет, как дела? Всё хорошо.",  # Russian is not mixed script
        "日本語のテキストＯＫ",  # full-width Latin inside CJK text is ordinary
        "Trailing byte order mark\ufeff",
        "Café, naïve, Zürich",
    ],
)
def test_ordinary_non_ascii_text_is_not_evasion(text: str) -> None:
    assert sig(text)["evasion"] == []


def test_registrable_domain() -> None:
    assert registrable("a.b.example.com") == "example.com"
    assert registrable("news.bbc.co.uk") == "bbc.co.uk"
    assert registrable("example.com") == "example.com"


# --- context ----------------------------------------------------------------------------------


def _record(**context: object) -> CommentRecord:
    return CommentRecord(
        id="01HZZZZZZZZZZZZZZZZZZZZZZZ",
        article_id="a1",
        text="hi",
        author=Author(id="u1", name="U"),
        created_at=1_700_000_010_000,
        site="s",
        context=Context(**context) if context else None,  # type: ignore[arg-type]
    )


def test_honeypot_and_time_to_submit() -> None:
    assert context_signals(_record(), 3.0) == {
        "honeypot": False,
        "submit_s": None,
        "too_fast": False,
    }
    filled = context_signals(_record(honeypot="http://spam"), 3.0)
    assert filled["honeypot"] is True
    assert context_signals(_record(honeypot="   "), 3.0)["honeypot"] is False
    fast = context_signals(_record(page_loaded_at=1_700_000_009_200), 3.0)
    assert fast == {"honeypot": False, "submit_s": 0.8, "too_fast": True}
    human = context_signals(_record(page_loaded_at=1_700_000_000_000 - 60_000), 3.0)
    assert human["submit_s"] == 70.0 and human["too_fast"] is False
    # A page loaded "after" the submission is clock skew: unknown, not suspicious.
    skewed = context_signals(_record(page_loaded_at=1_700_000_060_000), 3.0)
    assert skewed["submit_s"] is None and skewed["too_fast"] is False


# --- features and near-duplicate signatures ------------------------------------------------------


def test_cold_start_score_follows_the_priors() -> None:
    def prob(text: str, **extra: object) -> float:
        s = {**sig(text), **extra}
        z = sum(PRIORS.get(i, 0.0) * v for i, v in signal_vector(s).items())
        return float(1 / (1 + np.exp(-z)))

    assert prob("A thoughtful reply about the council budget and its consequences.") < 0.2
    assert prob("check out my channel") > 0.5
    assert prob("earn money from home: bit.ly/x2") > 0.9
    assert prob("nice", honeypot=True) > 0.9
    assert prob("Great article, thanks for the careful reporting.", too_fast=True) > 0.5


def test_feature_layout_is_fixed() -> None:
    indices = [f.index for f in SIGNAL_FEATURES]
    assert indices == list(range(len(indices)))  # stored weights are addressed by these
    assert len({f.name for f in SIGNAL_FEATURES}) == len(indices)
    x = vectorize(tokenize(normalize("Hello there, world")), {"links": 1, "domains": ["a.com"]})
    assert all(i >= TEXT_OFFSET for i in x if i not in PRIORS)
    text_norm = sum(v * v for i, v in x.items() if i >= TEXT_OFFSET)
    assert text_norm == pytest.approx(1.0)


def test_signal_vector_computes_each_features_value() -> None:
    # signal_vector spells the features' value functions out inline: the two must agree on
    # every kind of value a signal can hold (absent, bool, int, float, list, odd types).
    odd: list[object] = [None, True, False, 0, 1, 2, 3, 4, 7, -1, 0.0, 0.25, 1.5, 9.0, -0.5]
    odd += [float("nan"), float("inf"), [], ["a"], ("a", "b"), "text", np.int64(5), np.float64(2)]
    names = {f.name for f in SIGNAL_FEATURES} | {
        "links", "promo_score", "dup_count", "author_rate", "ip_rate", "author_rejected",
        "author_approved", "link_share", "words", "evasion", "dup_authors", "dup_cross_post",
    }  # fmt: skip
    for i, value in enumerate(odd):
        for name in sorted(names):
            signals = {name: value, "links": odd[(i + 3) % len(odd)]}
            fast, reference = signal_vector(signals), _signal_vector_reference(signals)
            assert list(fast) == list(reference)
            for k in fast:
                assert fast[k] == reference[k] or (
                    fast[k] != fast[k] and reference[k] != reference[k]
                )


def test_batch_tokens_and_text_features_equal_one_by_one() -> None:
    texts = ["", "a", "ab", "spam", "spam spam", "Check out my channel!", "日本語のテキスト 𝐟𝐫𝐞𝐞"]
    texts += ["word " * 400, "x" * 3000, "Ünïcödé and ASCII, mixed: bit.ly/abc"]
    batch = tokenize_many(texts)
    domains = [("a.com",), (), ("x.org", "y.net"), (), (), (), (), (), (), ("bit.ly",)]
    sets = text_sets(batch, domains)
    for text, tokens, doms, features in zip(texts, batch, domains, sets, strict=True):
        one = tokenize(text)
        assert tokens.words == one.words and tokens.joined == one.joined
        assert tokens.grams.dtype == one.grams.dtype and tokens.grams.tolist() == one.grams.tolist()
        vector = text_vector(one, doms)
        assert list(features) == list(vector)  # the same indices, iterated in the same order
        assert all(v == text_scale(features) for v in vector.values())
    padded = [f" {t} " for t in texts]
    assert [a.tolist() for a in gram_hashes_many(padded)] == [
        gram_hashes(t).tolist() for t in padded
    ]
    assert gram_hashes_many([]) == [] and text_sets([], []) == []


def test_hashing_is_stable_across_processes_and_runs() -> None:
    # Fixed values: a change here silently invalidates every stored model and signature, so it
    # must come with new key versions (spam:model:v1, spam:sig:v3, spam:lsh:v3). Python's own
    # hash() is seeded per process and must never be used for these.
    grams = tokenize("spam").grams  # " spam " has the 4-grams " spa", "spam", "pam "
    assert sorted(grams.tolist()) == [
        7022425817040583774,
        11944644664582572679,
        12882532189333573326,
    ]
    assert _bucket("w:spam") == 68572
    sig = signature(grams)
    # The low 16 bits of the 32-bit minima (1165530585, 1969785598, 2010960542, 891259719).
    assert sig[:4].tolist() == [38361, 35582, 53918, 35655]
    assert sig.dtype == np.uint16
    # The band number, then the bucket (CRC-32 of the band's little-endian uint16s).
    assert band_keys(sig)[:2] == [bytes.fromhex("00038ecf3c"), bytes.fromhex("01dfdb1df2")]
    assert sorted(vectorize(tokenize("spam"), {})) == sorted(vectorize(tokenize("SPAM"), {}))


def test_minhash_similarity_is_robust_to_small_edits() -> None:
    base = "Hey music fans, please check out my new single on my channel and subscribe today"
    edited = "Hey music fans, please check out my NEW single on my channel & subscribe today!!"
    other = "The council voted on the budget yesterday and the mayor was not happy about it"

    def s(t: str) -> np.ndarray:
        return signature(tokenize(normalize(t)).grams)

    assert similarity(s(base), s(base)) == 1.0
    assert similarity(s(base), s(edited)) >= 0.7
    assert similarity(s(base), s(other)) < 0.3


@pytest.mark.parametrize(
    "text",
    ["see example.com", "EXAMPLE.COM", "done. Next", "done.Next", "x.", ".com", "1.a",
     "a . b", "é.a", "\u212a.a", "a.\u017f", "...", "v2.io now", "end.", "a.\nb"],
)  # fmt: skip
def test_bare_domain_gate_finds_what_the_class_first_pattern_found(text: str) -> None:
    """The gate is written dot first (a literal-first pattern is searched for its literal);
    it must find exactly what ``[a-z0-9]\\.[a-z]`` (case-insensitive) finds."""
    found = re.search(r"[a-z0-9]\.[a-z]", text, re.I) is not None
    assert (_BARE_GATE.search(text) is not None) == found


@pytest.mark.parametrize("text", ["fr33 m0ney", "great!", "a|b", "plain words", "x@y", "n°1 ok"])
def test_words_without_a_leet_character_are_left_alone_ascii_or_not(text: str) -> None:
    """ASCII texts skip the candidate scan by substring checks, others by the regex: both give
    what the regex alone gave."""
    expected = text if _CANDIDATE_CHAR.search(text) is None else _CANDIDATE.sub(_fold_match, text)
    assert _fold_words(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Hello, World!", "snake_case and CamelCase 42x", "tabs\tand\nlines", "  ", "", "a-b_c.d",
     "café au lait", "ǅemal", "x" * 2100, " ".join(["w"] * 400)],
)  # fmt: skip
def test_words_are_the_regex_words_ascii_or_not(text: str) -> None:
    """ASCII texts are split by a byte table instead of the regex: the same words, cut at the
    same limits."""
    expected = re.findall(r"\w+", text[:MAX_TEXT_CHARS].lower())[:MAX_WORDS]
    assert tokenize(text).words == expected
