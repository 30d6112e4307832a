"""The spam allow and deny domain lists an admin edits at run time (``/moderate/spam-domains``).

A domain on the *allow* list is never counted as a link against a comment (an official site,
the newsroom's own pages); one on the *deny* list is a strong spam signal. Each list is a Redis
set (``Keys.spam_domains``), and every edit changes ``Keys.spam_domains_version``; the scorer
reads the version at most every :data:`REFRESH_S` seconds and reloads the sets only when it
changed, so an edit applies within seconds and costs nothing per batch. The settings' lists
(``spam_allow_domains``/``spam_deny_domains``) still apply: the run-time lists add to them.

Entries are stored as the matcher compares them: lower case, no scheme, path, port or leading
dot; a domain matches itself and its subdomains.
"""

from __future__ import annotations

import re
import time
from typing import Any

from redis.asyncio import Redis

from moderation.errors import ValidationFailed
from moderation.keys import Keys
from moderation.store.codec import as_str

#: The lists: ``allow`` (links there do not count) and ``deny`` (links there are spam).
DOMAIN_KINDS = ("allow", "deny")
MAX_DOMAINS = 2_000
#: Seconds a scorer trusts its copy of the lists before checking the version again.
REFRESH_S = 2.0

# A host name: labels of letters, digits and hyphens (IDNs as punycode), at least one dot.
_DOMAIN = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}"
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def check_domain_kind(kind: str) -> str:
    if kind not in DOMAIN_KINDS:
        raise ValidationFailed("domain list must be 'allow' or 'deny'", field="kind")
    return kind


def canonical_domain(entry: str, field: str = "add") -> str:
    """The stored form of a domain (``https://www.Example.org/x`` → ``www.example.org``);
    raises :class:`ValidationFailed` naming ``field`` when it is not a host name."""
    raw = entry.strip().lower()
    host = _SCHEME.sub("", raw).split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip(".")
    if not _DOMAIN.fullmatch(host):
        raise ValidationFailed(
            f"{field}: {entry!r} is not a domain name (write it like example.org)", field=field
        )
    return host


async def load_domains(redis: Redis, keys: Keys) -> dict[str, list[str]]:
    """Both run-time lists, sorted."""
    pipe = redis.pipeline(transaction=False)
    for kind in DOMAIN_KINDS:
        pipe.smembers(keys.spam_domains(kind))
    replies = await pipe.execute()
    return {k: sorted(as_str(d) for d in raw) for k, raw in zip(DOMAIN_KINDS, replies, strict=True)}


class DomainCache:
    """A scorer's copy of the run-time lists: the version checked at most every ``refresh_s``,
    the sets read again only when it changed."""

    def __init__(self, refresh_s: float = REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self._checked = float("-inf")
        self._version: Any = None
        self._lists: dict[str, list[str]] = {k: [] for k in DOMAIN_KINDS}

    async def lists(self, redis: Redis, keys: Keys) -> dict[str, list[str]]:
        now = time.monotonic()
        if now - self._checked < self.refresh_s:
            return self._lists
        self._checked = now
        version = await redis.get(keys.spam_domains_version)
        if version != self._version:
            self._lists = (
                await load_domains(redis, keys)
                if version is not None
                else {k: [] for k in DOMAIN_KINDS}
            )
            self._version = version
        return self._lists
