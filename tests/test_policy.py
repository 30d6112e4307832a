"""The decision policy (``moderation.pipeline.policy``), table by table: pure functions, no Redis.

Every row names its case and states the exact outcome: status, reasons (whole :class:`Reason`
values, so code, label, score, threshold and message all count), rules and risk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import pytest

from moderation.messages import Reason, SpamResult, Status
from moderation.pipeline.policy import Policy, Verdict, decide, primary_reason
from moderation.settings import DEFAULT_THRESHOLDS, Settings

APPROVED, HELD, REJECTED = Status.APPROVED, Status.HELD, Status.REJECTED

#: The shipped thresholds, written out: a change to the defaults must show up here.
THRESHOLDS = {
    "toxicity": 0.80,
    "severe_toxicity": 0.30,
    "obscene": 0.80,
    "identity_attack": 0.60,
    "insult": 0.60,
    "threat": 0.60,
    "sexual_explicit": 0.60,
}
BASE = Policy(thresholds=THRESHOLDS, spam_threshold=0.5)
#: As BASE, and spam at 0.9 or more is rejected outright.
STRICT = Policy(thresholds=THRESHOLDS, spam_threshold=0.5, spam_reject=0.9)


def tox(label: str, score: float, threshold: float, message: str) -> Reason:
    return Reason(code="toxicity", label=label, score=score, threshold=threshold, message=message)


def spam_hold(score: float, message: str) -> Reason:
    return Reason(code="spam", score=score, threshold=0.5, message=message)


def spam_blatant(score: float, message: str) -> Reason:
    return Reason(code="spam_blatant", score=score, threshold=0.9, message=message)


BANNED_AUTHOR = Reason(code="banned_author", message="author 'u1' is banned")
BANNED_WORDS = Reason(code="banned_words", message="banned word: “idiot”", words=["idiot"])
SUSPECT_WORDS = Reason(code="suspect_words", message="suspect word: “moron”", words=["moron"])
LINKS = Reason(code="too_many_links", message="4 links (held at 3 or more)")


def test_policy_from_settings_takes_the_shipped_defaults() -> None:
    assert DEFAULT_THRESHOLDS == THRESHOLDS
    assert Policy.from_settings(Settings()) == Policy(
        thresholds=THRESHOLDS, spam_threshold=0.5, spam_reject=None, max_links=3
    )
    # spam_reject 0 in the settings means "never reject on spam alone".
    assert Policy.from_settings(Settings(spam_reject=0.0)).spam_reject is None
    assert Policy.from_settings(Settings(spam_reject=0.95)).spam_reject == 0.95


# --- every label below, at and above its threshold ------------------------------------------


LABEL_ROWS: list[tuple[str, float, Reason | None]] = [
    ("toxicity", 0.79, None),
    ("toxicity", 0.80, tox("toxicity", 0.8, 0.8, "toxicity 0.80 ≥ threshold 0.80")),
    ("toxicity", 0.93, tox("toxicity", 0.93, 0.8, "toxicity 0.93 ≥ threshold 0.80")),
    ("severe_toxicity", 0.29, None),
    (
        "severe_toxicity",
        0.30,
        tox("severe_toxicity", 0.3, 0.3, "severe_toxicity 0.30 ≥ threshold 0.30"),
    ),
    (
        "severe_toxicity",
        0.31,
        tox("severe_toxicity", 0.31, 0.3, "severe_toxicity 0.31 ≥ threshold 0.30"),
    ),
    ("obscene", 0.7999, None),
    ("obscene", 0.80, tox("obscene", 0.8, 0.8, "obscene 0.80 ≥ threshold 0.80")),
    ("obscene", 1.0, tox("obscene", 1.0, 0.8, "obscene 1.00 ≥ threshold 0.80")),
    ("identity_attack", 0.59, None),
    (
        "identity_attack",
        0.60,
        tox("identity_attack", 0.6, 0.6, "identity_attack 0.60 ≥ threshold 0.60"),
    ),
    (
        "identity_attack",
        0.75,
        tox("identity_attack", 0.75, 0.6, "identity_attack 0.75 ≥ threshold 0.60"),
    ),
    ("insult", 0.5999, None),
    ("insult", 0.60, tox("insult", 0.6, 0.6, "insult 0.60 ≥ threshold 0.60")),
    ("insult", 0.88, tox("insult", 0.88, 0.6, "insult 0.88 ≥ threshold 0.60")),
    ("threat", 0.0, None),
    ("threat", 0.60, tox("threat", 0.6, 0.6, "threat 0.60 ≥ threshold 0.60")),
    ("threat", 0.61, tox("threat", 0.61, 0.6, "threat 0.61 ≥ threshold 0.60")),
    ("sexual_explicit", 0.59, None),
    (
        "sexual_explicit",
        0.60,
        tox("sexual_explicit", 0.6, 0.6, "sexual_explicit 0.60 ≥ threshold 0.60"),
    ),
    (
        "sexual_explicit",
        0.99,
        tox("sexual_explicit", 0.99, 0.6, "sexual_explicit 0.99 ≥ threshold 0.60"),
    ),
    # Labels the policy has no threshold for never hold, however high.
    ("profanity", 0.99, None),
    ("", 1.0, None),
]


@pytest.mark.parametrize(
    ("label", "score", "held_by"),
    LABEL_ROWS,
    ids=[
        f"{label or 'no label'} {score} {'holds' if r else 'passes'}"
        for label, score, r in LABEL_ROWS
    ],
)
def test_each_label_holds_at_and_above_its_threshold(
    label: str, score: float, held_by: Reason | None
) -> None:
    verdict = decide(BASE, {label: score}, SpamResult(score=0.0))
    if held_by is None:
        assert verdict == Verdict(status=APPROVED, reasons=[], risk=score, rules=[])
    else:
        assert verdict == Verdict(status=HELD, reasons=[held_by], risk=score, rules=[])


# --- the whole decision ----------------------------------------------------------------------


class Case(NamedTuple):
    policy: Policy
    scores: Mapping[str, float]
    spam: float
    rule_hits: Mapping[str, str | Reason] | None
    rejections: Mapping[str, str | Reason] | None
    ignore_spam: bool
    # expected
    status: Status
    reasons: list[Reason]
    rules: list[str]
    risk: float


DECIDE_CASES = {
    "nothing at all is approved": Case(BASE, {}, 0.0, None, None, False, APPROVED, [], [], 0.0),
    "empty scores: risk is the spam score": Case(
        BASE, {}, 0.2, None, None, False, APPROVED, [], [], 0.2
    ),
    "empty rule maps count as none": Case(BASE, {}, 0.0, {}, {}, False, APPROVED, [], [], 0.0),
    "scores below every threshold": Case(
        BASE,
        {"toxicity": 0.45, "insult": 0.3, "threat": 0.01},
        0.1,
        None,
        None,
        False,
        APPROVED,
        [],
        [],
        0.45,
    ),
    "risk is the highest score, spam included": Case(
        BASE, {"insult": 0.3, "toxicity": 0.2}, 0.4, None, None, False, APPROVED, [], [], 0.4
    ),
    "risk counts labels without a threshold": Case(
        BASE, {"profanity": 0.97}, 0.1, None, None, False, APPROVED, [], [], 0.97
    ),
    "risk rounds to 6 places, a reason's score to 4": Case(
        BASE,
        {"insult": 0.612345678},
        0.0,
        None,
        None,
        False,
        HELD,
        [tox("insult", 0.6123, 0.6, "insult 0.61 ≥ threshold 0.60")],
        [],
        0.612346,
    ),
    "spam just below its threshold": Case(
        BASE, {}, 0.4999, None, None, False, APPROVED, [], [], 0.4999
    ),
    "spam at its threshold holds (not a rule)": Case(
        BASE,
        {},
        0.5,
        None,
        None,
        False,
        HELD,
        [spam_hold(0.5, "spam 0.50 ≥ threshold 0.50")],
        [],
        0.5,
    ),
    "spam under the reject level only holds": Case(
        STRICT,
        {},
        0.8999,
        None,
        None,
        False,
        HELD,
        [spam_hold(0.8999, "spam 0.90 ≥ threshold 0.50")],
        [],
        0.8999,
    ),
    "spam at the reject level is rejected as blatant": Case(
        STRICT,
        {},
        0.9,
        None,
        None,
        False,
        REJECTED,
        [spam_blatant(0.9, "spam 0.90 ≥ reject level 0.90")],
        ["spam_blatant"],
        0.9,
    ),
    "without a reject level even certain spam only holds": Case(
        BASE,
        {},
        1.0,
        None,
        None,
        False,
        HELD,
        [spam_hold(1.0, "spam 1.00 ≥ threshold 0.50")],
        [],
        1.0,
    ),
    "ignore_spam (trusted) skips the spam hold": Case(
        BASE, {}, 0.7, None, None, True, APPROVED, [], [], 0.7
    ),
    "ignore_spam (trusted) skips the blatant rejection, risk keeps spam": Case(
        STRICT, {"insult": 0.1}, 0.99, None, None, True, APPROVED, [], [], 0.99
    ),
    "ignore_spam (trusted) still holds toxicity": Case(
        STRICT,
        {"threat": 0.7},
        0.99,
        None,
        None,
        True,
        HELD,
        [tox("threat", 0.7, 0.6, "threat 0.70 ≥ threshold 0.60")],
        [],
        0.99,
    ),
    "a rule hit holds with its message as the reason": Case(
        BASE,
        {},
        0.0,
        {"premoderated_article": "article 'a1' is pre-moderated"},
        None,
        False,
        HELD,
        [Reason(code="premoderated_article", message="article 'a1' is pre-moderated")],
        ["premoderated_article"],
        0.0,
    ),
    "a rule hit's Reason passes through unchanged": Case(
        BASE,
        {},
        0.0,
        {"suspect_words": SUSPECT_WORDS},
        None,
        False,
        HELD,
        [SUSPECT_WORDS],
        ["suspect_words"],
        0.0,
    ),
    "a rejection rejects with its message as the reason": Case(
        BASE,
        {},
        0.0,
        None,
        {"banned_author": "author 'u1' is banned"},
        False,
        REJECTED,
        [BANNED_AUTHOR],
        ["banned_author"],
        0.0,
    ),
    "a rejection's Reason passes through unchanged": Case(
        BASE,
        {},
        0.0,
        None,
        {"banned_words": BANNED_WORDS},
        False,
        REJECTED,
        [BANNED_WORDS],
        ["banned_words"],
        0.0,
    ),
    "a rejection beats toxicity, spam and rule holds": Case(
        BASE,
        {"insult": 0.7},
        0.6,
        {"too_many_links": LINKS},
        {"banned_author": "author 'u1' is banned"},
        False,
        REJECTED,
        [
            BANNED_AUTHOR,
            tox("insult", 0.7, 0.6, "insult 0.70 ≥ threshold 0.60"),
            spam_hold(0.6, "spam 0.60 ≥ threshold 0.50"),
            LINKS,
        ],
        ["banned_author", "too_many_links"],
        0.7,
    ),
    "blatant spam beats a rule hold": Case(
        STRICT,
        {},
        0.95,
        {"too_many_links": LINKS},
        None,
        False,
        REJECTED,
        [spam_blatant(0.95, "spam 0.95 ≥ reject level 0.90"), LINKS],
        ["spam_blatant", "too_many_links"],
        0.95,
    ),
    "order: rejections, labels sorted by name, spam, rule hits as given": Case(
        STRICT,
        {"threat": 0.65, "insult": 0.61, "toxicity": 0.2, "identity_attack": 0.9},
        0.92,
        {"too_many_links": LINKS, "premoderated_article": "article 'a1' is pre-moderated"},
        {"banned_words": BANNED_WORDS, "banned_author": "author 'u1' is banned"},
        False,
        REJECTED,
        [
            BANNED_WORDS,
            BANNED_AUTHOR,
            tox("identity_attack", 0.9, 0.6, "identity_attack 0.90 ≥ threshold 0.60"),
            tox("insult", 0.61, 0.6, "insult 0.61 ≥ threshold 0.60"),
            tox("threat", 0.65, 0.6, "threat 0.65 ≥ threshold 0.60"),
            spam_blatant(0.92, "spam 0.92 ≥ reject level 0.90"),
            LINKS,
            Reason(code="premoderated_article", message="article 'a1' is pre-moderated"),
        ],
        ["banned_words", "banned_author", "spam_blatant", "too_many_links", "premoderated_article"],
        0.92,
    ),
    "several labels over: each is a reason, in name order": Case(
        BASE,
        {"toxicity": 0.95, "severe_toxicity": 0.31, "obscene": 0.81},
        0.0,
        None,
        None,
        False,
        HELD,
        [
            tox("obscene", 0.81, 0.8, "obscene 0.81 ≥ threshold 0.80"),
            tox("severe_toxicity", 0.31, 0.3, "severe_toxicity 0.31 ≥ threshold 0.30"),
            tox("toxicity", 0.95, 0.8, "toxicity 0.95 ≥ threshold 0.80"),
        ],
        [],
        0.95,
    ),
}


@pytest.mark.parametrize("case", list(DECIDE_CASES.values()), ids=list(DECIDE_CASES))
def test_decide(case: Case) -> None:
    verdict = decide(
        case.policy,
        case.scores,
        SpamResult(score=case.spam),
        rule_hits=case.rule_hits,
        rejections=case.rejections,
        ignore_spam=case.ignore_spam,
    )
    assert verdict == Verdict(
        status=case.status, reasons=case.reasons, risk=case.risk, rules=case.rules
    )


def test_decide_keeps_the_rules_own_reason_objects() -> None:
    verdict = decide(
        BASE,
        {},
        SpamResult(score=0.0),
        rule_hits={"suspect_words": SUSPECT_WORDS},
        rejections={"banned_words": BANNED_WORDS},
    )
    assert verdict.reasons[0] is BANNED_WORDS
    assert verdict.reasons[1] is SUSPECT_WORDS


# --- primary_reason --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        ([], ""),
        ([tox("insult", 0.7, 0.6, "m")], "toxicity:insult"),
        ([spam_hold(0.6, "m")], "spam"),
        ([spam_blatant(0.95, "m"), LINKS], "spam_blatant"),
        ([BANNED_AUTHOR, tox("threat", 0.9, 0.6, "m")], "banned_author"),
        ([SUSPECT_WORDS], "suspect_words"),
        ([Reason(code="x", message="m", label="")], "x"),
    ],
    ids=[
        "no reason",
        "toxicity names its label",
        "spam",
        "only the first reason counts",
        "a rejection before a label",
        "a rule's ready Reason",
        "an empty label is no label",
    ],
)
def test_primary_reason(reasons: list[Reason], expected: str) -> None:
    status = HELD if reasons else APPROVED
    assert primary_reason(Verdict(status=status, reasons=reasons, risk=0.0, rules=[])) == expected


# --- overlay ---------------------------------------------------------------------------------

#: The policy overlays start from in these tables.
START = Policy(
    thresholds={"toxicity": 0.8, "insult": 0.6}, spam_threshold=0.5, spam_reject=0.95, max_links=3
)


def start_with(**changes: Any) -> Policy:
    fields: dict[str, Any] = {
        "thresholds": {"toxicity": 0.8, "insult": 0.6},
        "spam_threshold": 0.5,
        "spam_reject": 0.95,
        "max_links": 3,
    }
    fields.update(changes)
    return Policy(**fields)


OVERLAY_CASES: dict[str, tuple[dict[Any, Any], Policy]] = {
    "unknown fields change nothing": ({"colour": "blue", "threshold": "0.1"}, START),
    "a label's threshold": (
        {"threshold:insult": "0.4"},
        start_with(
            thresholds={"toxicity": 0.8, "insult": 0.4}, sources={"threshold:insult": "site"}
        ),
    ),
    "a threshold for a label without one": (
        {"threshold:threat": "0.7"},
        start_with(
            thresholds={"toxicity": 0.8, "insult": 0.6, "threat": 0.7},
            sources={"threshold:threat": "site"},
        ),
    ),
    "bytes as Redis returns them": (
        {b"threshold:toxicity": b"0.65", b"spam_threshold": b"0.35"},
        start_with(
            thresholds={"toxicity": 0.65, "insult": 0.6},
            spam_threshold=0.35,
            sources={"threshold:toxicity": "site", "spam_threshold": "site"},
        ),
    ),
    "thresholds 0 and 1 are in range": (
        {"threshold:insult": "0", "threshold:toxicity": "1"},
        start_with(
            thresholds={"toxicity": 1.0, "insult": 0.0},
            sources={"threshold:insult": "site", "threshold:toxicity": "site"},
        ),
    ),
    "out-of-range thresholds are ignored": (
        {"threshold:insult": "1.5", "threshold:toxicity": "-0.1", "spam_threshold": "2"},
        START,
    ),
    "non-numeric thresholds are ignored": (
        {
            "threshold:insult": "high",
            "threshold:toxicity": "",
            "threshold:threat": "nan",
            "spam_threshold": "inf",
        },
        START,
    ),
    "spam_threshold": (
        {"spam_threshold": "0.25"},
        start_with(spam_threshold=0.25, sources={"spam_threshold": "site"}),
    ),
    "spam_reject lowered": (
        {"spam_reject": "0.8"},
        start_with(spam_reject=0.8, sources={"spam_reject": "site"}),
    ),
    "spam_reject cleared by an empty value": (
        {"spam_reject": ""},
        start_with(spam_reject=None, sources={"spam_reject": "site"}),
    ),
    "spam_reject cleared by a malformed value": (
        {"spam_reject": "off"},
        start_with(spam_reject=None, sources={"spam_reject": "site"}),
    ),
    "spam_reject cleared by an out-of-range value": (
        {"spam_reject": "1.5"},
        start_with(spam_reject=None, sources={"spam_reject": "site"}),
    ),
    "max_links": ({"max_links": "5"}, start_with(max_links=5, sources={"max_links": "site"})),
    "max_links 0 (links never hold)": (
        {"max_links": "0"},
        start_with(max_links=0, sources={"max_links": "site"}),
    ),
    "max_links must be digits only": (
        {"max_links": "-1"},
        START,
    ),
    "max_links is not a decimal": ({"max_links": "2.5"}, START),
    "max_links is not a word": ({"max_links": "five"}, START),
    "max_links takes no spaces": ({"max_links": " 4"}, START),
    "premoderate on (no source recorded)": ({"premoderate": "1"}, start_with(premoderate=True)),
    "premoderate needs exactly 1": ({"premoderate": "yes"}, START),
    "closed on (no source recorded)": ({b"closed": b"1"}, start_with(closed=True)),
    "closed 0 stays open": ({"closed": "0"}, START),
}


@pytest.mark.parametrize(
    ("overrides", "expected"), list(OVERLAY_CASES.values()), ids=list(OVERLAY_CASES)
)
def test_overlay(overrides: dict[Any, Any], expected: Policy) -> None:
    assert START.overlay(overrides, "site") == expected


def test_overlay_ignores_a_superscript_max_links() -> None:
    """``str.isdigit`` accepts ``²``, which ``int`` refuses: the value is ignored, not fatal."""
    assert START.overlay({"max_links": "²"}, "site") == START


def test_overlay_with_nothing_is_the_same_policy() -> None:
    assert START.overlay({}, "site") is START


def test_overlay_leaves_the_policy_it_starts_from_alone() -> None:
    START.overlay({"threshold:insult": "0.1", "max_links": "9"}, "article")
    assert START.thresholds == {"toxicity": 0.8, "insult": 0.6}
    assert (START.max_links, START.sources) == (3, {})


SITE = {"threshold:insult": "0.5", "spam_threshold": "0.4", "premoderate": "1", "max_links": "4"}


@pytest.mark.parametrize(
    ("article", "expected"),
    [
        (
            {},
            start_with(
                thresholds={"toxicity": 0.8, "insult": 0.5},
                spam_threshold=0.4,
                max_links=4,
                premoderate=True,
                sources={"threshold:insult": "site", "spam_threshold": "site", "max_links": "site"},
            ),
        ),
        (
            {"threshold:insult": "0.3", "max_links": "1", "closed": "1"},
            start_with(
                thresholds={"toxicity": 0.8, "insult": 0.3},
                spam_threshold=0.4,
                max_links=1,
                premoderate=True,
                closed=True,
                sources={
                    "threshold:insult": "article",
                    "spam_threshold": "site",
                    "max_links": "article",
                },
            ),
        ),
        (
            {"premoderate": "0", "threshold:insult": "bad", "spam_reject": "0.99"},
            start_with(
                thresholds={"toxicity": 0.8, "insult": 0.5},
                spam_threshold=0.4,
                spam_reject=0.99,
                max_links=4,
                sources={
                    "threshold:insult": "site",
                    "spam_threshold": "site",
                    "max_links": "site",
                    "spam_reject": "article",
                },
            ),
        ),
    ],
    ids=[
        "article without overrides keeps the site's",
        "article overrides the site, sources say which",
        "article turns pre-moderation off; its bad value keeps the site's",
    ],
)
def test_overlay_site_then_article(article: dict[str, str], expected: Policy) -> None:
    assert START.overlay(SITE, "site").overlay(article, "article") == expected
