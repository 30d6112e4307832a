"""The JSON shapes of comments as the API returns them.

``private`` views (site, moderator) carry the author's email, the request context and the full
explanation; ``public`` views (article listings readable by anyone) carry what a page shows.
"""

from __future__ import annotations

from typing import Any

from moderation.messages import Status, StoredComment, iso


def hidden_view(comment_id: str, article_id: str) -> dict[str, Any]:
    """The public stand-in for a top-level comment that is not published (held, rejected)
    but whose thread holds approved replies: where it was, never what it said."""
    return {
        "id": comment_id,
        "article_id": article_id,
        "parent_id": None,
        "text": None,
        "author": None,
        "status": "unavailable",
        "created_at": None,
    }


def comment_view(stored: StoredComment, *, private: bool) -> dict[str, Any]:
    """A deleted comment is a stub: ``text``, ``author`` and ``context`` are null (erased)."""
    r = stored.record
    deleted = stored.status is Status.DELETED
    author: dict[str, Any] = {"id": r.author.id, "name": r.author.name}
    view: dict[str, Any] = {
        "id": r.id,
        "article_id": r.article_id,
        "parent_id": r.parent_id,
        "text": None if deleted else r.text,
        "author": None if deleted else author,
        "status": stored.status.value,
        "created_at": iso(r.created_at),
    }
    if not private:
        return view
    if r.author.email is not None:
        author["email"] = r.author.email
    d = stored.decision
    view.update(
        {
            "updated_at": iso(stored.updated_at),
            "decided_at": iso(d.decided_at) if d else None,
            "decided_by": d.by if d else None,
            "scores": d.scores if d else {},
            "spam_score": d.spam.score if d and d.spam else None,
            "spam_signals": d.spam.signals if d and d.spam else {},
            "reasons": [
                {
                    k: v
                    for k, v in (
                        ("code", x.code),
                        ("message", x.message),
                        ("label", x.label),
                        ("score", x.score),
                        ("threshold", x.threshold),
                        ("words", x.words),
                    )
                    if v is not None
                }
                for x in (d.reasons if d else [])
            ],
            "rules": d.rules if d else [],
            "thresholds": d.thresholds if d else {},
            "spam_threshold": d.spam_threshold if d else None,
            "model": (
                {
                    "name": d.model.name,
                    "version": d.model.version,
                    "device": d.model.device,
                    "runtime": d.model.runtime,
                    "degraded": d.model.degraded,
                }
                if d and d.model
                else None
            ),
            "note": d.note if d else None,
            "site": r.site,
            "revision": r.revision,
            "edited_at": iso(r.edited_at),
            "context": (
                {
                    "ip": r.context.ip,
                    "user_agent": r.context.user_agent,
                    "referrer": r.context.referrer,
                    "page_loaded_at": iso(r.context.page_loaded_at),
                    "honeypot_filled": bool(r.context.honeypot),
                }
                if r.context and not deleted
                else None
            ),
        }
    )
    return view
