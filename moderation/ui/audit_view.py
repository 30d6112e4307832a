"""Audit entries as the pages show them: the action and the change in words, and a comment
target with its excerpt, author and article rather than a bare id.

:func:`audit_rows` is what every page's audit table reads (``_macros.html``'s ``audit_table``):
each row is :func:`moderation.store.audit.entry_view` plus ``action_text``, ``change`` and, for
a comment, ``comment`` (loaded for the whole page in one read). :func:`automatic_row` is the
automatic decision of a comment in the same shape, so a comment decided by the machine alone
still has a history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import Decision, iso
from moderation.record import Reader
from moderation.review.items import load_items
from moderation.store.audit import AuditEntry, entry_view

#: Characters of a comment shown as the target of an entry.
EXCERPT_CHARS = 80

_ACTIONS = {
    "comment.approve": "approve",
    "comment.reject": "reject",
    "comment.undo": "undo",
    "comment.escalate": "escalate to admins",
    "spam.domains": "spam domains",
    "comment.delete": "delete (site)",
    "comment.edit": "edit (site)",
    "appeal.uphold": "appeal upheld",
    "appeal.reverse": "appeal: decision reversed",
    "author.state": "author standing",
    "author.note": "note on author",
    "article.settings": "article settings",
    "policy.update": "site policy",
    "words.update": "word lists",
    "session.sign_in": "sign in",
    "session.sign_out": "sign out",
    "key.create": "create key",
    "key.revoke": "revoke key",
    "session.revoke": "revoke session",
    "account.create": "create account",
    "account.disable": "disable account",
    "account.enable": "enable account",
    "account.link": "sign-in link",
    "account.password": "set password",
}

#: Settings that are on/off: absent means off.
_SWITCHES = frozenset({"closed", "premoderate"})
_SETTING_NAMES = {
    "premoderate": "pre-moderate",
    "closed": "closed",
    "spam_threshold": "spam hold threshold",
    "spam_reject": "spam reject level",
    "max_links": "links allowed",
}


def action_text(action: str) -> str:
    """``comment.approve`` → "approve"; an unknown action readably (dots and underscores as
    spaces)."""
    return _ACTIONS.get(action) or action.replace(".", " ").replace("_", " ")


def value_text(key: str, value: Any) -> str:
    """One setting's value in words: switches as yes/no (absent is no), numbers plainly,
    anything absent as "default" (the site's, or the built-in one)."""
    if value is None:
        return "no" if key in _SWITCHES else "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def change_text(entry: Mapping[str, Any]) -> str:
    """One line that says what an audit entry changed ("approved (held → approved)",
    "closed: no → yes; threshold toxicity: default → 0.7")."""
    action = str(entry["action"])
    before, after = entry.get("before") or {}, entry.get("after") or {}
    if action == "comment.escalate":
        return "sent to the admins (still held)"
    if action.startswith("comment."):
        frm, to = before.get("status"), after.get("status")
        if frm == "approved" and to == "rejected":
            return "removed (was published)"
        if action == "comment.undo":
            return f"undone: back to the queue ({frm} → {to})"
        verb = {"approve": "approved", "reject": "rejected"}.get(action.split(".", 1)[1], action)
        return f"{verb} ({frm} → {to})" if frm else verb
    if action.startswith("appeal."):
        frm, to = before.get("status"), after.get("status")
        return f"published again ({frm} → {to})" if frm and to else "the decision stands"
    if action == "author.state":
        return f"standing {before.get('state') or 'normal'} → {after.get('state') or 'normal'}"
    if action in ("words.update", "spam.domains"):
        added, removed = after.get("added") or [], after.get("removed") or []
        parts = []
        if added:
            parts.append("added " + ", ".join(added))
        if removed:
            parts.append("removed " + ", ".join(removed))
        return "; ".join(parts) or "no change"
    if action in ("article.settings", "policy.update"):
        return _diff(before, after)
    return ""


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    def flat(d: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in d.items() if k != "thresholds"}
        out.update({f"threshold {k}": v for k, v in (d.get("thresholds") or {}).items()})
        return out

    b, a = flat(before), flat(after)
    parts = []
    for key in sorted(set(b) | set(a)):
        old, new = value_text(key, b.get(key)), value_text(key, a.get(key))
        if old != new:
            parts.append(f"{_SETTING_NAMES.get(key, key.replace('_', ' '))}: {old} → {new}")
    return "; ".join(parts) or "no change"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def audit_rows(
    redis: Redis, keys: Keys, entries: Sequence[AuditEntry], reader: Reader | None = None
) -> list[dict[str, Any]]:
    """The rows of an audit table: every entry in words, comments with their excerpt, author
    and article (one read for the page, and one of the ``reader``'s record for comments gone
    from Redis; a comment neither holds keeps its bare id)."""
    comment_ids = sorted({e.target for e in entries if e.target_type == "comment"})
    found = await load_items(redis, keys, comment_ids)
    records = {
        cid: item.stored.record for cid, item in zip(comment_ids, found, strict=True) if item
    }
    gone = [cid for cid in comment_ids if cid not in records]
    if reader is not None and gone:
        records |= {cid: s.record for cid, s in (await reader.get_many(gone)).items()}
    comments = {}
    for cid in comment_ids:
        if (record := records.get(cid)) is not None:
            comments[cid] = {
                "excerpt": excerpt(record.text),
                "author_id": record.author.id,
                "author_name": record.author.name,
                "article_id": record.article_id,
            }
    rows = []
    for e in entries:
        row = entry_view(e)
        row["action_text"] = action_text(e.action)
        row["change"] = change_text(row)
        row["comment"] = comments.get(e.target) if e.target_type == "comment" else None
        row["machine"] = False
        rows.append(row)
    return rows


def automatic_row(decision: Decision, comment_id: str) -> dict[str, Any]:
    """A comment's automatic decision as an audit table row (the machine writes no audit
    entry; its decision is the comment's first history)."""
    status = decision.status.value
    return {
        "id": "",
        "at": iso(decision.decided_at),
        "actor": "automatic check" if decision.by == "auto" else decision.by,
        "role": "",
        "via": "",
        "action": f"auto.{status}",
        "action_text": f"{status} automatically",
        "target_type": "comment",
        "target": comment_id,
        "reason": None,
        "note": None,
        "change": "; ".join(r.message for r in decision.reasons) or "nothing to hold",
        "comment": None,
        "machine": True,
    }
