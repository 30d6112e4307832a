"""The feedback hook: moderator decisions teach the spam model.

Called by the moderation actions (approve a held comment → ham; reject with reason ``spam`` →
spam). The learning itself belongs to the spam model; see the spam issue.
"""

from __future__ import annotations

from typing import Literal

from redis.asyncio import Redis

from moderation.keys import Keys
from moderation.messages import CommentRecord

Label = Literal["spam", "ham"]


async def record_feedback(redis: Redis, keys: Keys, record: CommentRecord, label: Label) -> None:
    """Teach the shared spam model that ``record`` is ``label``.

    Not yet implemented: the spam issue replaces this body with the online learner's update.
    Until then moderator labels are not learned from (the decision itself is still recorded).
    """
    return None
