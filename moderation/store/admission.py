"""What ``submit.lua`` checks before it stores a comment, and how it says no.

The admission checks of ``POST /v1/comments`` (article or site closed, flood control per author
and per IP address) run inside the submit script, in the same round trip that stores the
comment, so an accepted comment costs one Redis call with the production defaults. This module
holds the checks' parameters (:class:`Admission`, built once per process from the settings) and
the refusal the script answers with (:class:`Refusal`); ``moderation.api.gates`` turns a refusal
into its HTTP error (409 ``article_closed``, 429 ``rate_limited`` with ``Retry-After``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from moderation.keys import ArticleField
from moderation.store import idempotency

#: Minute counters live two hours: enough for "last 60 minutes" figures.
MINUTE_TTL_S = 2 * 3600


class RefusalKind(enum.StrEnum):
    CLOSED = "closed"
    LIMITED = "limited"


@dataclass(frozen=True, slots=True)
class Admission:
    """The checks ``submit.lua`` runs before storing; the zero value checks nothing.

    ``closed_field``: the settings-hash field that closes an article (``"1"``), checked on the
    article's settings and on the site policy ("" = no check). Intervals in ms (0 = that limit is
    off), each with a burst of that many comments.
    """

    closed_field: str = ""
    #: The settings-hash field of "close after N days" (site policy, then the article's), and
    #: the installation's default N (0: never). Counted from the article's ``published`` time,
    #: else its ``first_seen`` (which the script records with the first comment).
    close_after_field: str = ""
    close_after_days: int = 0
    author_interval_ms: int = 0
    author_burst: int = 1
    ip_interval_ms: int = 0
    ip_burst: int = 1

    @property
    def author_limited(self) -> bool:
        return self.author_interval_ms > 0

    @property
    def ip_limited(self) -> bool:
        return self.ip_interval_ms > 0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why ``submit.lua`` refused a comment (nothing was stored).

    For :attr:`RefusalKind.LIMITED`: ``retry_after_ms`` until it would be accepted and
    ``limit``, the limit that refused it (``author`` or ``ip``); for :attr:`RefusalKind.CLOSED`,
    ``reason``.
    """

    kind: RefusalKind
    retry_after_ms: int = 0
    limit: str = ""
    #: For :attr:`RefusalKind.CLOSED`: ``closed`` (a moderator closed the article),
    #: ``site_closed`` (the whole site) or ``expired`` (older than its "close after N days").
    reason: str = ""


def submit_constants(admission: Admission, idem_ttl_s: int) -> dict[str, str | int]:
    """The constants ``submit.lua`` reads from its table ``C``, for ``admission`` and an
    idempotency TTL: baked into the script when it is loaded, never sent per call."""
    span, spans = idempotency.generations(idem_ttl_s)
    return {
        "idem_span": span,
        "idem_spans": spans,
        "minute_ttl": MINUTE_TTL_S,
        "closed": admission.closed_field,
        "author_ms": admission.author_interval_ms,
        "author_burst": admission.author_burst,
        "ip_ms": admission.ip_interval_ms,
        "ip_burst": admission.ip_burst,
        "close_field": admission.close_after_field,
        "close_days": admission.close_after_days,
        "published": ArticleField.PUBLISHED,
        "first_seen": ArticleField.FIRST_SEEN,
    }


_LUA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LUA_SAFE = re.compile(r"[A-Za-z0-9_:.\-]*")


def lua_table(values: Mapping[str, str | int]) -> str:
    """``values`` as a Lua table constructor. Only names, integers and plain strings (letters,
    digits, ``_:.-``) are accepted: these are constants of the code and the settings, and the
    check keeps anything else from ever being spliced into a script's source."""
    parts = []
    for name, value in values.items():
        if not _LUA_NAME.fullmatch(name):
            raise ValueError(f"not a Lua name: {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{name}: only integers and strings are baked into a script")
        if isinstance(value, str) and not _LUA_SAFE.fullmatch(value):
            raise ValueError(f"{name}: {value!r} is not a plain string")
        parts.append(f"{name} = {value}" if isinstance(value, int) else f'{name} = "{value}"')
    return "{" + ", ".join(parts) + "}"
