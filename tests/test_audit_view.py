"""Audit entries in words (moderation.ui.audit_view): actions, changes, excerpts; table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.messages import Decision, Reason, Status
from moderation.ui.audit_view import action_text, automatic_row, change_text, excerpt

CHANGES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("article.settings", {}, {"closed": True}, "closed: no → yes"),
    ("article.settings", {"closed": True}, {}, "closed: yes → no"),
    ("article.settings", {}, {"premoderate": True}, "pre-moderate: no → yes"),
    (
        "policy.update",
        {"thresholds": {"toxicity": 0.8}},
        {"thresholds": {"toxicity": 0.7, "insult": 0.5}},
        "threshold insult: default → 0.5; threshold toxicity: 0.8 → 0.7",
    ),
    ("policy.update", {"spam_threshold": 0.5}, {}, "spam hold threshold: 0.5 → default"),
    ("policy.update", {"max_links": 3}, {"max_links": 3}, "no change"),
    ("article.settings", {"closed": False}, {}, "no change"),  # off and absent are the same
    ("comment.approve", {"status": "held"}, {"status": "approved"}, "approved (held → approved)"),
    ("comment.reject", {"status": "approved"}, {"status": "rejected"}, "removed (was published)"),
    ("author.state", {"state": "normal"}, {"state": "banned"}, "standing normal → banned"),
    ("words.update", {}, {"added": ["a", "b"], "removed": ["c"]}, "added a, b; removed c"),
    ("session.sign_in", {}, {}, ""),
]


@pytest.mark.parametrize(("action", "before", "after", "said"), CHANGES)
def test_changes_in_words(
    action: str, before: dict[str, Any], after: dict[str, Any], said: str
) -> None:
    text = change_text({"action": action, "before": before, "after": after})
    assert text == said
    assert "True" not in text and "False" not in text and "None" not in text


@pytest.mark.parametrize(
    ("action", "said"),
    [
        ("comment.approve", "approve"),
        ("article.settings", "article settings"),
        ("session.sign_out", "sign out"),
        ("some.new_thing", "some new thing"),
    ],
)
def test_actions_in_words(action: str, said: str) -> None:
    assert action_text(action) == said


def test_excerpt() -> None:
    assert excerpt("short  text\nhere") == "short text here"
    long = excerpt("word " * 50, limit=20)
    assert len(long) <= 20 and long.endswith("…")


def test_automatic_decision_as_a_history_row() -> None:
    decision = Decision(
        status=Status.HELD,
        by="auto",
        decided_at=1_700_000_000_000,
        reasons=[Reason(code="spam", message="spam 0.98 ≥ threshold 0.50")],
    )
    row = automatic_row(decision, "c1")
    assert (row["actor"], row["action_text"]) == ("automatic check", "held automatically")
    assert row["change"] == "spam 0.98 ≥ threshold 0.50"
    assert row["machine"] is True
