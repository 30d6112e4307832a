"""The Coral write-back: our later decisions on comments Coral Talk sent us, applied in Coral
through its GraphQL API (``approveComment`` / ``rejectComment``).

A webhook-style consumer of the events stream (``keys.events``), with its own consumer group
(:data:`~moderation.keys.CORAL_GROUP`) and delivery queue (the webhook queue machinery of
``moderation.store.webhooks`` under the id :data:`~moderation.keys.CORAL_QUEUE`):

* **Fan-out.** Each transition of a *linked* comment (``moderation.store.coral``) to
  ``approved``, ``rejected`` or ``deleted`` becomes one message ``coral_<event id>`` (body
  ``{"comment_id"}``), queued in the ``MULTI`` that acknowledges the events: at least once.
* **Attempt.** The message names the comment; the attempt reads its *current* status and what
  Coral was told, so repeats, replays and reordering converge: approved but Coral was told
  ``withheld`` → ``approveComment``; rejected or deleted and Coral not told ``rejected`` →
  ``rejectComment``; anything else settles as nothing to do. A link whose phase answer is not
  recorded yet is retried. The first attempt that needs Coral's ids looks them up
  (``comments(storyID:)``, the newest 50, matched on author id and the body's text) and keeps them.
* **Retries** like webhooks: backoff ``webhook_backoff_s`` doubling to
  ``webhook_backoff_max_s`` with jitter, for ``webhook_retry_for_s``; then the message is
  dead-lettered (``coral.write_back`` in ``/v1/stats``); admins list and replay failures as
  the read-only webhook endpoint ``coral`` (``/v1/moderation/webhooks/coral/failures``,
  ``…/replay``). A GraphQL answer with ``errors`` is a failure like a non-2xx.

Auth: ``Authorization: Bearer <coral_api_token>`` (a Coral API token). Runs beside the webhook
sender (``moderation webhooks``) when ``coral_api_url`` is set; when it is not, the sender
removes the group so an idle group never holds the stream's trimming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from moderation.errors import REDIS_UNAVAILABLE
from moderation.keys import CORAL_GROUP, CORAL_QUEUE, Keys
from moderation.messages import Status
from moderation.settings import Settings
from moderation.store import coral as links
from moderation.store.codec import as_str
from moderation.store.comments import Store
from moderation.store.webhooks import Delivery, Webhooks, now_ms
from workers.webhooks import next_delay_s

log = logging.getLogger("moderation.coral")

#: The statuses whose arrival may need writing back.
WRITTEN_BACK = frozenset({"approved", "rejected", "deleted"})

APPROVE = """mutation Approve($input: ApproveCommentInput!) {
  approveComment(input: $input) { comment { id status } }
}"""
REJECT = """mutation Reject($input: RejectCommentInput!) {
  rejectComment(input: $input) { comment { id status } }
}"""
FIND = """query Find($story: ID!) {
  comments(storyID: $story, first: 50, orderBy: CREATED_AT_DESC) {
    nodes { id body author { id } revision { id } }
  }
}"""


class Retry(Exception):
    """The attempt failed; try again later (the message is the error kept with it)."""


async def remove_group(redis: Redis, keys: Keys) -> None:
    """Drop the write-back's group (write-back off): its floor no longer holds trimming."""
    with contextlib.suppress(ResponseError):  # no stream yet
        await redis.xgroup_destroy(keys.events, CORAL_GROUP)


class CoralSync:
    def __init__(
        self, settings: Settings, redis: Redis, *, name: str, client: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.store = Store(redis, self.keys)
        self.hooks = Webhooks(redis, self.keys, settings)
        self.name = name
        self.client = client
        self.applied = 0
        self.retried = 0
        self.failed = 0
        self.lease_ms = int(settings.webhook_timeout_s * 2000) + 30_000
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.events, CORAL_GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        await self.ensure_group()
        next_reclaim = 0.0
        while not self._stop.is_set():
            try:
                await self.step(reclaim=time.monotonic() >= next_reclaim)
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self.settings.reclaim_interval_s
            except REDIS_UNAVAILABLE as exc:
                log.warning("redis unavailable (%s); retrying", exc)
                await asyncio.sleep(0.5)

    async def step(self, *, reclaim: bool = False) -> None:
        """Attempt what is due, then read new events until the next message falls due."""
        if reclaim:
            reply: Any = await self.redis.xautoclaim(
                self.keys.events, CORAL_GROUP, self.name,
                min_idle_time=self.settings.reclaim_idle_ms, start_id="0-0",
                count=self.settings.batch_size,
            )  # fmt: skip
            if reply[1]:
                await self.fan_out(reply[1])
        claimed = await self.hooks.claim(
            CORAL_QUEUE, now_ms(), self.lease_ms, self.settings.batch_size
        )
        await asyncio.gather(*(self.attempt(m) for m in claimed))
        due = await self.hooks.next_due([CORAL_QUEUE])
        block = self.settings.block_ms
        if due is not None:
            block = max(1, min(block, due - now_ms()))
        read: Any = await self.redis.xreadgroup(
            CORAL_GROUP, self.name, {self.keys.events: ">"},
            count=self.settings.batch_size, block=block,
        )  # fmt: skip
        if read:
            await self.fan_out(read[0][1])

    async def fan_out(self, raw: Sequence[Any]) -> None:
        """Queue a message per write-back-worthy event of a linked comment and acknowledge the
        events, in one ``MULTI``."""
        # Only the text fields it reads are decoded (the decision is a binary blob).
        wanted = (b"id", b"to", b"type")
        events = [
            (as_str(entry_id), {as_str(k): as_str(v) for k, v in (fields or {}).items()
                                if (k if isinstance(k, bytes) else k.encode()) in wanted})
            for entry_id, fields in raw
        ]  # fmt: skip
        worthy = [
            (entry_id, f["id"])
            for entry_id, f in events
            if f.get("to") in WRITTEN_BACK and f.get("id") and f.get("type") != "report.decided"
        ]
        found = await links.linked(self.redis, self.keys, sorted({c for _, c in worthy}))
        now = now_ms()
        pipe = self.redis.pipeline(transaction=True)
        for entry_id, comment_id in worthy:
            if comment_id in found:
                body = msgspec.json.encode({"comment_id": comment_id}).decode()
                message = Delivery(f"coral_{entry_id}", "coral.sync", body)
                self.hooks.enqueue(pipe, CORAL_QUEUE, message, now)
        if events:
            pipe.xack(self.keys.events, CORAL_GROUP, *[entry_id for entry_id, _ in events])
        await pipe.execute()

    async def attempt(self, message: Delivery) -> bool:
        """Apply one comment's decision in Coral once, then settle the message."""
        now = now_ms()
        if not message.first:
            message.first = now
        comment_id = str(msgspec.json.decode(message.body).get("comment_id", ""))
        try:
            await self.apply(comment_id)
            await self.hooks.delivered(CORAL_QUEUE, message.id)
            self.applied += 1
            return True
        except (Retry, httpx.HTTPError) as exc:
            error = str(exc) if isinstance(exc, Retry) else f"{type(exc).__name__}: {exc}"
        message.attempts += 1
        message.error = error
        due = now + int(next_delay_s(self.settings, message.attempts) * 1000)
        if due - message.first > self.settings.webhook_retry_for_s * 1000:
            await self.hooks.dead_letter(CORAL_QUEUE, message, now)
            self.failed += 1
            log.error("coral write-back of %s dead-lettered after %d attempts (%s)",
                      comment_id, message.attempts, error)  # fmt: skip
        else:
            await self.hooks.retry_later(CORAL_QUEUE, message, due)
            self.retried += 1
            log.info("coral write-back of %s failed (%s); retrying", comment_id, error)
        return False

    async def apply(self, comment_id: str) -> None:
        """Bring Coral in line with the comment's current status (raises :class:`Retry`)."""
        link = await links.load_link(self.redis, self.keys, comment_id)
        if link is None:
            return  # expired: nothing to write back
        if not link.told:
            raise Retry("the phase has not answered Coral yet")
        status = await self.store.status(comment_id)
        if status is None:
            return  # no longer in Redis (retention): its decisions were written back before
        if status is Status.APPROVED and link.told != links.APPROVED:
            action, query = links.APPROVED, APPROVE
        elif status in (Status.REJECTED, Status.DELETED) and link.told != links.REJECTED:
            action, query = links.REJECTED, REJECT
        else:
            return  # Coral already shows what we decided (or there is nothing to say)
        if not link.coral_id:
            link = await self.find(link)
        await self.graphql(query, {"input": {
            "commentID": link.coral_id, "commentRevisionID": link.coral_revision_id,
            "clientMutationId": f"moderation-{comment_id}-{action}",
        }})  # fmt: skip
        await links.update_link(self.redis, self.keys, comment_id, told=action)

    async def find(self, link: links.Link) -> links.Link:
        """Coral's comment and revision ids, by story, author and body; kept in the link."""
        data = await self.graphql(FIND, {"story": link.story_id})
        for node in (data.get("comments") or {}).get("nodes") or []:
            author = (node.get("author") or {}).get("id")
            digest = links.fingerprint(node.get("body") or "")
            revision = (node.get("revision") or {}).get("id")
            if author == link.author_id and digest == link.text_digest and revision:
                ids = {"coral_id": node["id"], "coral_revision_id": revision}
                await links.update_link(self.redis, self.keys, link.comment_id, **ids)
                link.coral_id, link.coral_revision_id = node["id"], revision
                return link
        raise Retry(f"no comment of author {link.author_id} with this text in story "
                    f"{link.story_id} in Coral (yet)")  # fmt: skip

    async def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            self.settings.coral_api_url,
            json={"query": query, "variables": variables},
            headers={
                "Authorization": f"Bearer {self.settings.coral_api_token}",
                "User-Agent": "moderation-coral",
            },
        )
        if not 200 <= response.status_code < 300:
            raise Retry(f"HTTP {response.status_code}")
        try:
            doc = response.json()
        except ValueError:
            raise Retry("the answer is not JSON") from None
        if not isinstance(doc, dict):
            raise Retry("the answer is not a GraphQL result")
        if doc.get("errors"):
            first = doc["errors"][0]
            raise Retry(f"GraphQL error: {first.get('message', first)}"[:300])
        data = doc.get("data")
        return data if isinstance(data, dict) else {}
