"""A spam decision in words: what a moderator reads instead of the signals dict.

The spam scorer stores, with every decision, the raw signals (``links``, ``honeypot``,
``submit_s``, ``dup_count``, …) and each model feature's contribution to the log-odds
(``contributions``: ``{"honeypot": 6.0, "bias": -2.0, …}``, see
:func:`moderation.spam.explain`). This module is the one place that turns them into plain
language:

* :func:`explain_spam` — one :class:`SignalRow` per *finding* (several features can describe one
  finding: ``has_link`` and ``links`` are both "2 links"), ranked by how much it pushed the
  score, with its value in words and its effect ("raises a lot", "lowers");
* :func:`top_reasons` — the few findings that pushed the score up most, for a queue card.

Pure functions of the stored signals: no Redis, no settings. A signal this module does not know
is still shown (its name, its value in words), never dropped and never as Python syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: How many findings a queue card shows.
CARD_REASONS = 3
#: A contribution (log-odds) smaller than this moved the score too little to be worth a word.
NOTABLE = 0.25

Signals = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One finding: what it is, its value in words, and its effect on the spam score."""

    key: str
    #: What was found, as a phrase ("honeypot field filled").
    text: str
    #: The measured value in words ("yes", "1.2 s", "3"), "" when the phrase says it all.
    value: str
    #: Contribution to the log-odds of spam (None when the model did not weigh it).
    weight: float | None

    @property
    def effect(self) -> str:
        """The weight in words: how much this finding moved the score, and which way."""
        w = self.weight
        if w is None:
            return "not weighed"
        if abs(w) < NOTABLE:
            return "little effect"
        direction = "raises" if w > 0 else "lowers"
        size = " a lot" if abs(w) >= 2.0 else ""
        return f"{direction}{size} ({w:+.1f})"


def _num(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return float(len(value))
    return 0.0


def _plural(n: float, one: str, many: str | None = None) -> str:
    count = int(n)
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _percent(value: Any) -> str:
    return f"{_num(value) * 100:.0f}%"


def words(value: Any) -> str:
    """Any stored signal value in words: booleans as yes/no, lists joined, no brackets."""
    if value is None:
        return "not reported"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(words(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {words(v)}" for k, v in value.items()) if value else "none"
    return str(value)


# ---- the findings ---------------------------------------------------------------------------
# Each finding: its key, the model features it sums, and a function from the signals to its
# phrase and value (or None when the signals show nothing to say).
Phrase = Callable[[Signals], tuple[str, str] | None]


def _links(s: Signals) -> tuple[str, str] | None:
    n = _num(s.get("links"))
    if not n:
        return None
    domains = s.get("domains") or []
    return _plural(n, "link"), words(domains) if domains else ""


def _count(name: str, one: str, many: str | None = None) -> Phrase:
    def phrase(s: Signals) -> tuple[str, str] | None:
        n = _num(s.get(name))
        return (_plural(n, one, many), "") if n else None

    return phrase


def _promo(s: Signals) -> tuple[str, str] | None:
    found = s.get("promo") or []
    if not found and not _num(s.get("promo_score")):
        return None
    quoted = ", ".join(f"“{p}”" for p in found) if isinstance(found, list | tuple) else ""
    return "promotional wording", quoted


def _share(name: str, phrase_text: str) -> Phrase:
    def phrase(s: Signals) -> tuple[str, str] | None:
        value = _num(s.get(name))
        return (phrase_text, _percent(value)) if value else None

    return phrase


def _evasion(s: Signals) -> tuple[str, str] | None:
    kinds = s.get("evasion") or []
    if not kinds:
        return None
    names = {
        "zero_width": "invisible characters inside words",
        "full_width": "full-width letters",
        "mixed_script": "Cyrillic or Greek look-alike letters",
    }
    return "characters disguised to dodge filters", ", ".join(
        names.get(str(k), str(k).replace("_", " ")) for k in kinds
    )


def _short(s: Signals) -> tuple[str, str] | None:
    n = _num(s.get("words"))
    return ("very short", _plural(n, "word")) if 0 < n <= 3 else None


def _duplicates(s: Signals) -> tuple[str, str] | None:
    n = _num(s.get("dup_count"))
    if not n:
        return None
    parts = []
    authors, articles = _num(s.get("dup_authors")), _num(s.get("dup_articles"))
    if authors:
        parts.append(f"by {_plural(authors, 'other author')}")
    if articles:
        parts.append(f"on {_plural(articles, 'other article')}")
    if _num(s.get("dup_cross_post")):
        parts.append("cross-posted by this author")
    times = int(n) + 1
    return f"same text posted {times}×", ", ".join(parts)


def _rate(name: str, what: str) -> Phrase:
    def phrase(s: Signals) -> tuple[str, str] | None:
        n = _num(s.get(name))
        return (f"{_plural(n, 'other comment')} {what} in a short time", "") if n else None

    return phrase


def _honeypot(s: Signals) -> tuple[str, str] | None:
    return ("honeypot field filled (a trap only bots fill in)", "") if s.get("honeypot") else None


def _too_fast(s: Signals) -> tuple[str, str] | None:
    seconds = s.get("submit_s")
    if not s.get("too_fast") or seconds is None:
        return None
    return f"posted {_seconds(_num(seconds))} s after the page loaded", ""


def _seconds(value: float) -> str:
    """Seconds to a tenth, without trailing zeros ("1", "0.5", "12.3")."""
    return f"{value:.1f}".removesuffix(".0")


def _history(name: str, what: str) -> Phrase:
    def phrase(s: Signals) -> tuple[str, str] | None:
        n = _num(s.get(name))
        return (f"author has {_plural(n, f'{what} comment')}", "") if n else None

    return phrase


@dataclass(frozen=True, slots=True)
class Finding:
    key: str
    features: tuple[str, ...]
    phrase: Phrase


FINDINGS: tuple[Finding, ...] = (
    Finding("honeypot", ("honeypot",), _honeypot),
    Finding("too_fast", ("too_fast",), _too_fast),
    Finding("duplicates", ("dup", "dup_authors", "dup_cross_post"), _duplicates),
    Finding("denied_domains", ("denied_domains",), _count("denied_domains", "denied link")),
    Finding("links", ("has_link", "links"), _links),
    Finding("link_share", ("link_share",), _share("link_share", "mostly links")),
    Finding("shorteners", ("shorteners",), _count("shorteners", "shortened link")),
    Finding("obfuscated", ("obfuscated",), _count("obfuscated", "disguised link or address")),
    Finding("emails", ("emails",), _count("emails", "e-mail address", "e-mail addresses")),
    Finding("phones", ("phones",), _count("phones", "phone number")),
    Finding("promo", ("promo",), _promo),
    Finding("caps", ("caps",), _share("caps", "shouting in capitals")),
    Finding("noise", ("noise",), _share("noise", "full of symbols")),
    Finding("evasion", ("evasion",), _evasion),
    Finding("author_rate", ("author_rate",), _rate("author_rate", "by this author")),
    Finding("ip_rate", ("ip_rate",), _rate("ip_rate", "from the same address")),
    Finding("author_rejected", ("author_rejected",), _history("author_rejected", "rejected")),
    Finding("author_approved", ("author_approved",), _history("author_approved", "approved")),
    Finding("short", ("short",), _short),
)

#: Raw signals that a finding above already puts into words (not listed again as facts).
_COVERED = frozenset(
    {
        "honeypot",
        "too_fast",
        "submit_s",
        "dup_count",
        "dup_authors",
        "dup_articles",
        "dup_cross_post",
        "dup_similarity",
        "links",
        "domains",
        "link_share",
        "shorteners",
        "denied_domains",
        "obfuscated",
        "emails",
        "phones",
        "promo",
        "promo_score",
        "caps",
        "noise",
        "evasion",
        "author_rate",
        "ip_rate",
        "author_rejected",
        "author_approved",
        "words",
        "contributions",
        "text_logit",
        "learned_from",
        "error",
    }
)

#: Other stored signals, in words, for the full table (name → phrase).
_FACTS = {
    "links_allowed": "links to allowed domains (not counted)",
}


def explain_spam(signals: Signals) -> list[SignalRow]:
    """Every finding of a spam result, the strongest push towards spam first, then facts the
    model did not weigh. Empty signals give an empty list."""
    contributions = signals.get("contributions")
    weights: Mapping[str, Any] = contributions if isinstance(contributions, Mapping) else {}
    weighed: list[SignalRow] = []
    if "error" in signals:
        weighed.append(
            SignalRow("error", "spam signals could not be computed", words(signals["error"]), None)
        )
    for finding in FINDINGS:
        said = finding.phrase(signals)
        present = [f for f in finding.features if f in weights]
        if said is None:
            continue
        weight = sum(_num(weights[f]) for f in present) if present else None
        weighed.append(SignalRow(finding.key, said[0], said[1], weight))
    text = signals.get("text_logit")
    if isinstance(text, int | float) and not isinstance(text, bool) and text:
        phrase = (
            "the wording resembles comments moderators rejected as spam"
            if text > 0
            else "the wording resembles comments moderators approved"
        )
        weighed.append(SignalRow("text", phrase, "", float(text)))
    weighed.sort(key=lambda r: -(r.weight if r.weight is not None else 0.0))
    bias = weights.get("bias")
    if isinstance(bias, int | float) and not isinstance(bias, bool):
        # The model's starting point, so that the effects listed add up to the score.
        weighed.append(
            SignalRow("bias", "starting point: most comments are not spam", "", float(bias))
        )
    facts = [
        SignalRow(name, _FACTS.get(name, name.replace("_", " ")), words(value), None)
        for name, value in sorted(signals.items())
        if name not in _COVERED and value
    ]
    learned = signals.get("learned_from")
    if isinstance(learned, int) and not isinstance(learned, bool):
        facts.append(
            SignalRow(
                "learned_from",
                "moderator decisions the spam model has learned from",
                str(learned),
                None,
            )
        )
    return weighed + facts


def top_reasons(signals: Signals, n: int = CARD_REASONS) -> list[str]:
    """The ``n`` findings that pushed the score up most, as short phrases for a queue card
    ("honeypot field filled …", "posted 1 s after the page loaded", "same text posted 4×")."""
    rows = [r for r in explain_spam(signals) if r.weight is not None and r.weight >= NOTABLE]
    # The detail column stays on the comment page, except the phrases found: they are the
    # reason itself.
    return [
        f"{r.text} ({r.value})" if r.key in _CARD_DETAIL and r.value else r.text for r in rows[:n]
    ]


#: Findings whose detail a card shows beside the phrase.
_CARD_DETAIL = frozenset({"promo", "denied_domains"})
