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
from dataclasses import dataclass


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
