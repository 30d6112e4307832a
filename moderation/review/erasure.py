"""Erasure: ``forget_author`` removes one author's texts and personal data from both tiers.

What goes, in Redis:

- every comment hash's submission document is replaced by its anonymised form (text, name,
  e-mail, IP, user agent and referrer gone; ids, article, status and times kept, so every count,
  thread and queue stays exact) — ``Store.replace_doc``, which never recreates a hash;
- the spam state that derives from the texts or names the author: MinHash signatures (with
  digests of the author id and article, ``spam.minhash.party_key``; entries of the
  time-sharded signature hashes, deleted from the comment's shard and every live one,
  ``spam.duplicates.forget_signatures``) and learned-label markers per comment, the per-IP
  velocity sets and IP flood keys of every address the author's comments came from (whole
  keys: their names hold the address; a shared address loses at most one spam window of
  history), the author's flood key;
- kept: the author hash (state and per-status counts: aggregates, no personal data), the
  author's comment-id set (ids only), decisions and events (scores and reasons).

Then the record (SQL): :func:`moderation.record.erasure.forget_author`. Last, an audit entry
``author.forget`` says it happened, with the numbers of comments anonymised in each tier.

Erasure is idempotent and may be run again (e.g. after a comment still being scored was
archived); comments that arrive after it are the author's new data, not erased.
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.messages import anonymised
from moderation.record import Record
from moderation.record import erasure as record_erasure
from moderation.review.context import Review
from moderation.spam.duplicates import forget_signatures
from moderation.spam.velocity import ip_bucket
from moderation.store import audit
from moderation.store.audit import Actor
from moderation.store.codec import as_str
from moderation.store.comments import now_ms
from moderation.store.pseudonyms import Pseudonyms


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one erasure did."""

    author_id: str
    #: Comment hashes anonymised in Redis.
    redis_comments: int
    #: Comment rows anonymised in the record (``None``: no record to erase in).
    record_comments: int | None
    #: Redis keys deleted (learned-label markers, velocity and flood keys) and signatures
    #: deleted from the near-duplicate index.
    keys_deleted: int

    def view(self) -> dict[str, object]:
        return {
            "author_id": self.author_id,
            "redis_comments": self.redis_comments,
            "record_comments": self.record_comments,
            "keys_deleted": self.keys_deleted,
        }


async def forget_author(
    review: Review, record: Record | None, author_id: str, actor: Actor
) -> Erasure:
    """Erase ``author_id``'s texts and personal data (see the module docstring)."""
    keys, redis = review.keys, review.redis
    ids = [as_str(m) for m in await redis.zrange(keys.author_comments(author_id), 0, -1)]
    docs = await review.store.submissions(ids)
    addresses = {
        ip_bucket(r.context.ip) for r in docs.values() if r.context is not None and r.context.ip
    }
    replaced = 0
    for doc in docs.values():
        replaced += await review.store.replace_doc(anonymised(doc))
    # Moderators' notes on the author may quote what the author wrote or who they are.
    doomed = [keys.flood("author", author_id), keys.author_notes(author_id)]
    doomed += [keys.spam_learned(cid) for cid in ids]
    pseudonyms = Pseudonyms(redis, keys)  # those keys name the addresses' keyed hashes
    for bucket in sorted(addresses):
        hashed = await pseudonyms.of(bucket)
        doomed += [keys.spam_ip_posts(hashed), keys.flood("ip", hashed)]
    created = {cid: (docs[cid].created_at if cid in docs else None) for cid in ids}
    deleted = await forget_signatures(
        redis, keys, created, window_s=review.settings.spam_dup_window_s, now_ms=now_ms()
    )
    for start in range(0, len(doomed), 500):
        deleted += int(await redis.delete(*doomed[start : start + 500]))
    archived = await record_erasure.forget_author(record, author_id, keys.site) if record else None
    result = Erasure(author_id, replaced, archived, deleted)
    entry = audit.new_entry(
        actor,
        "author.forget",
        "author",
        author_id,
        detail={k: v for k, v in result.view().items() if k != "author_id"},
    )
    await review.audit.append(entry)
    return result
