"""Every Redis key and channel name the service uses, in one place.

Keeping names here makes the layout reviewable at a glance and keeps a move to Redis Cluster
(hash tags per article) a change to this module alone. All names start with the configured
prefix (``mod`` by default) so one Redis can host several deployments.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Characters that carry meaning in a key name: ``:`` separates its parts, ``{`` and ``}`` mark
#: a Redis Cluster hash tag, ``%`` starts an escape. Escaping exactly these makes the encoding
#: injective and keeps ordinary ids (letters, digits, ``-``, ``_``, ``/``, ``.``) readable.
_RESERVED = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})


def part(value: str) -> str:
    """A user-supplied id as one part of a key name.

    No id can produce another key's name, nor another kind's: an encoded part never contains a
    ``:``, so ``author("x:comments")`` is ``…:author:x%3Acomments``, never the key of author
    ``x``'s comment list, and every key's parts can be read back unambiguously.
    """
    if "%" in value or ":" in value or "{" in value or "}" in value:
        return value.translate(_RESERVED)
    return value


#: Consumer group of the scoring workers on the comment stream.
SCORING_GROUP = "scorers"
#: Consumer group of the webhook senders on the events stream.
WEBHOOK_GROUP = "webhooks"
#: Consumer group of the Coral write-back (``workers.coral``) on the events stream; it exists
#: only while a Coral API is configured (an idle group would hold the stream's trimming back).
CORAL_GROUP = "coral"
#: The delivery queue (``webhook_queue`` & co.) of the Coral write-back: not a registered
#: endpoint (those are ``ep_…``, and ``env``).
CORAL_QUEUE = "coral"
#: Consumer group of the archiver on the events and audit streams (``workers.archiver``).
ARCHIVE_GROUP = "archiver"


class CommentField:
    """Field names of the comment hash (``Keys.comment``): one letter each, since every comment
    pays for them (``bench/storage.py``).

    Python reads and writes them only through ``moderation.store.comments`` and its
    ``transitions`` (and the readers of ``comment_reads.STORED_FIELDS``); the scripts that
    touch the hash (``submit.lua``, ``transition.lua``, ``transition_batch.lua``, ``sweep.lua``)
    spell the same letters. Each fact is stored once: the comment id is the key's, the article
    and the creation time are the submission's (the scripts get them from their caller, who
    read them there: ``CommentRef``).
    """

    #: The submission as accepted, without its id (``store.records``: msgpack).
    DOC = "d"
    STATUS = "s"
    #: Last-change time, epoch ms.
    UPDATED = "u"
    #: The decision in force (``store.decisions`` blob: msgpack, facts by digest).
    DECISION = "x"
    #: The automatic decision once a moderator's replaces it (absent while ``decision`` is the
    #: automatic one: one copy; ``""`` when a moderator decided before any automatic decision).
    AUTO_DECISION = "a"
    #: The reason code a held comment entered the held queue with (``transition.lua`` takes
    #: it off ``Keys.held_counts`` when the comment leaves).
    HELD_REASON = "r"
    #: The revision of the text (``CommentRecord.revision``; absent = 0): an automatic decision
    #: applies only to the revision it scored (``transition.lua``).
    REV = "v"


class ArticleField:
    """Fields of the article hash (``Keys.article``); times in epoch ms."""

    TITLE = "title"
    URL = "url"
    #: When the site says the article was published (``PUT /v1/articles/{id}``).
    PUBLISHED = "published"
    #: When we first heard of it (its first comment or upsert): "close after N days" counts
    #: from ``published``, else from this.
    FIRST_SEEN = "first_seen"
    UPDATED = "updated"


class Counter:
    """Names of the fields of the counters hashes (``Keys.counters``, ``Keys.minute_counters``).

    The Lua scripts increment them; :func:`parse_counter` reads a name back into its parts.
    """

    ACCEPTED = "accepted"
    DEAD_LETTERED = "dead_lettered"
    #: ``decided:<status>`` — every transition into ``status``.
    DECIDED = "decided"
    #: ``<actor kind>:<status>`` — by kind of actor (auto, system, moderator, admin).
    ACTOR_KINDS = ("auto", "system", "moderator", "admin")
    #: ``reason:<code>`` — the primary reason of a transition.
    REASON = "reason"
    #: ``rate_limited`` and ``rate_limited:<author|ip>`` — comments refused by flood control.
    RATE_LIMITED = "rate_limited"
    #: Coral's moderation phase (``api.coral``): answered with our decision, or without one
    #: because it did not come within ``coral_budget_ms``.
    CORAL_ANSWERED = "coral:answered"
    CORAL_MISSED = "coral:missed"

    @staticmethod
    def decided(status: str) -> str:
        return f"{Counter.DECIDED}:{status}"

    @staticmethod
    def by(kind: str, status: str) -> str:
        return f"{kind}:{status}"

    @staticmethod
    def reason(code: str) -> str:
        return f"{Counter.REASON}:{code}"


class HeldCount:
    """Field names of ``Keys.held_counts``: held comments per primary reason (per article:
    ``Keys.held_articles``), moved by ``transition.lua`` in the same script that moves a
    comment in or out of held."""

    REASON = "reason"
    #: The reason of a comment held without a reason code.
    UNSPECIFIED = "unspecified"


def parse_counter(name: str) -> tuple[str, str]:
    """``("decided", "approved")`` for ``decided:approved``; ``(name, "")`` for a plain one."""
    kind, _, rest = name.partition(":")
    return kind, rest


#: Audit targets whose ids are a site's own (``Keys.audit_index`` keeps their lists per site;
#: an entry about one carries its site: ``store.audit``).
SITE_AUDIT_TARGETS = ("author", "article")

#: The site of keys created without ``--site``, of public requests that name none while it is
#: the only site, and of every ``Keys()`` built without one.
DEFAULT_SITE = "default"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under ``prefix``. A site's own keys (its articles, counts, authors' standing,
    policy overrides, idempotency and flood state) live under ``<prefix>:site:<site>:``, so two
    sites with the same article or author id share nothing; ``for_site`` binds another site.
    Everything else (the comment hashes, keyed by our own ids, the queues, streams, API keys,
    spam state and stats) is shared by all sites."""

    prefix: str = "mod"
    site: str = DEFAULT_SITE

    def for_site(self, site: str) -> Keys:
        """The same names, bound to ``site`` (a user-supplied id: encoded with ``part``)."""
        return self if site == self.site else Keys(self.prefix, site)

    @property
    def scope(self) -> str:
        """The prefix of this site's own keys."""
        return f"{self.prefix}:site:{part(self.site)}"

    @property
    def sites(self) -> str:
        """Set of every site id that has (or had) an API key (``store.sites``)."""
        return f"{self.prefix}:sites"

    # --- comments ---------------------------------------------------------------------------
    def comment(self, comment_id: str) -> str:
        """Hash: the submission (verbatim), its status and its decision."""
        return f"{self.prefix}:comment:{part(comment_id)}"

    @property
    def decision_facts(self) -> str:
        """Hash ``digest -> msgpack``: what decisions under one policy, model and ground share
        (``store.decisions.Facts``), stored once and referenced by digest from each decision;
        a field is never changed nor removed (a decision must stay reproducible)."""
        return f"{self.prefix}:decision:facts"

    def idempotency(self, bucket: int) -> str:
        """The stem of one of the site's idempotency buckets (``store.idempotency``):
        ``submit.lua`` appends ``:<generation>`` and keeps there a hash ``<key digest> ->
        <body digest><comment id>``. Only digests of the client's key are stored, never the key;
        scoped to the site (a rotated API key keeps its site's keys)."""
        return f"{self.scope}:idem:{bucket:03x}"

    # --- the pipeline -----------------------------------------------------------------------
    @property
    def stream(self) -> str:
        """Stream of comment ids waiting for an automatic decision."""
        return f"{self.prefix}:stream:comments"

    @property
    def dead_letters(self) -> str:
        """Stream of entries that failed ``max_deliveries`` times (their comments are held)."""
        return f"{self.prefix}:stream:dead"

    @property
    def events(self) -> str:
        """Stream of every status transition: the outbox for webhooks, live views and audit."""
        return f"{self.prefix}:stream:events"

    # --- webhooks (moderation.store.webhooks) ------------------------------------------------
    @property
    def webhook_endpoints(self) -> str:
        """Hash ``endpoint id -> JSON`` of the endpoints registered at run time (``Endpoint``)."""
        return f"{self.prefix}:webhook:endpoints"

    def webhook_queue(self, endpoint_id: str) -> str:
        """Sorted set of one endpoint's undelivered message ids, scored by when the next
        attempt is due (epoch ms); a sender that claims one pushes its score past a lease."""
        return f"{self.prefix}:webhook:{part(endpoint_id)}:queue"

    def webhook_messages(self, endpoint_id: str) -> str:
        """Hash ``message id -> JSON`` (``Delivery``: body, attempts, first attempt, last error)
        of the messages in that endpoint's queue."""
        return f"{self.prefix}:webhook:{part(endpoint_id)}:messages"

    def webhook_failed(self, endpoint_id: str) -> str:
        """Stream of that endpoint's dead-lettered messages (retried for the whole window)."""
        return f"{self.prefix}:webhook:{part(endpoint_id)}:failed"

    def coral_seen(self, digest: str) -> str:
        """String with a TTL: a Coral request body (its SHA-256) seen recently (replays)."""
        return f"{self.prefix}:coral:seen:{digest}"

    def coral_link(self, comment_id: str) -> str:
        """Hash: what ties one of our comments to Coral's (``moderation.store.coral``): the
        story, author and body digest Coral sent, what the phase answered, Coral's comment and
        revision ids once looked up."""
        return f"{self.prefix}:coral:link:{part(comment_id)}"

    @property
    def decided_channel(self) -> str:
        """Pub/sub channel announcing ``<comment id> <status>`` after each transition."""
        return f"{self.prefix}:chan:decided"

    @property
    def key_revoked_channel(self) -> str:
        """Pub/sub channel announcing the digest of each revoked API key (caches drop it)."""
        return f"{self.prefix}:chan:apikey-revoked"

    # --- per article ------------------------------------------------------------------------
    def approved(self, article_id: str) -> str:
        """Sorted set of an article's approved comment ids (all scores 0, ordered by id).

        Comment ids sort by creation time, so lexicographic order is chronological order;
        ``ZCARD`` of this set plus the article's ``archived_counts`` field (the approved ones
        retention moved out) *is* the article's comment count, so counts cannot drift.
        """
        return f"{self.scope}:article:{part(article_id)}:approved"

    @property
    def archived_counts(self) -> str:
        """Hash ``article id -> approved comments that left Redis`` of this site (retention,
        ``sweep.lua`` moves each one from the approved set to here in one script): an
        article's count is ``ZCARD approved`` + this field, exact whatever was swept."""
        return f"{self.scope}:articles:archived"

    @property
    def retention_mark(self) -> str:
        """String: ``<updated ms> <comment id>`` of the last decided comment the retention
        sweep looked at in the record (it goes on from there)."""
        return f"{self.prefix}:retention:mark"

    @property
    def personal_data_mark(self) -> str:
        """String: ``<created ms> <comment id>`` of the last comment whose personal data the
        retention sweep removed (``record.retention``)."""
        return f"{self.prefix}:retention:pd"

    def article(self, article_id: str) -> str:
        """Hash of what the site told us about an article (``ArticleField``)."""
        return f"{self.scope}:article:{part(article_id)}:meta"

    def thread_roots(self, article_id: str) -> str:
        """Sorted set (scores 0, by id) of an article's top-level comments a threaded list
        shows: approved ones, and those (held, rejected) that hold an approved reply, so a
        hidden parent keeps its approved replies reachable. Kept by ``transition.lua``."""
        return f"{self.scope}:article:{part(article_id)}:roots"

    def thread_replies(self, article_id: str, root_id: str) -> str:
        """Sorted set (scores 0, by id) of the approved replies in one thread (any depth)."""
        return f"{self.scope}:article:{part(article_id)}:thread:{part(root_id)}"

    def article_held(self, article_id: str) -> str:
        """Sorted set of an article's held comment ids, scored by creation ms."""
        return f"{self.scope}:article:{part(article_id)}:held"

    def article_settings(self, article_id: str) -> str:
        """Hash of per-article overrides (thresholds, pre-moderation, closed)."""
        return f"{self.scope}:article:{part(article_id)}:settings"

    # --- moderation queues ------------------------------------------------------------------
    @property
    def held(self) -> str:
        """Sorted set of held comment ids, scored by creation time in ms (oldest first)."""
        return f"{self.prefix}:queue:held"

    @property
    def held_risk(self) -> str:
        """Sorted set of held comment ids, scored by risk (riskiest first)."""
        return f"{self.prefix}:queue:held:risk"

    @property
    def held_counts(self) -> str:
        """Hash ``reason:<code>`` → held comments (see ``HeldCount``): the queue's per-reason
        counts at O(1) cost in the queue's size."""
        return f"{self.scope}:queue:held:counts"

    @property
    def held_articles(self) -> str:
        """Sorted set article id → its held comments (members at 0 are removed): the most-held
        articles are one ``ZREVRANGE``, whatever the number of articles or held comments."""
        return f"{self.scope}:queue:held:articles"

    @property
    def pending(self) -> str:
        """Sorted set of undecided comment ids scored by creation ms (oldest undecided age)."""
        return f"{self.prefix}:queue:pending"

    # --- authors ----------------------------------------------------------------------------
    def author(self, author_id: str) -> str:
        """Hash of an author's standing (``state``: banned|trusted|premoderated) and the
        number of their comments in each status, maintained by ``transition.lua``."""
        return f"{self.scope}:author:{part(author_id)}"

    def author_comments(self, author_id: str) -> str:
        """Sorted set of an author's comment ids scored by creation ms (their history)."""
        return f"{self.scope}:author:{part(author_id)}:comments"

    def author_notes(self, author_id: str) -> str:
        """List of moderators' notes on an author, newest first (JSON ``AuthorNote``s,
        trimmed to ``review.notes.MAX_NOTES``)."""
        return f"{self.scope}:author:{part(author_id)}:notes"

    # --- access -----------------------------------------------------------------------------
    def api_key(self, digest: str) -> str:
        """Hash describing one API key, addressed by the SHA-256 of the secret."""
        return f"{self.prefix}:apikey:{digest}"

    @property
    def api_key_index(self) -> str:
        """Hash ``name -> digest`` of every key (names are unique)."""
        return f"{self.prefix}:apikeys"

    # --- runtime policy ---------------------------------------------------------------------
    @property
    def policy(self) -> str:
        """Hash of site-wide policy overrides editable at run time (thresholds, spam level)."""
        return f"{self.scope}:policy"

    # --- DSA: grounds, reader reports, appeals (moderation.store.grounds, .reports) ----------
    @property
    def grounds(self) -> str:
        """String: the site's grounds for restrictions (JSON list of ``Ground``), admin-edited."""
        return f"{self.prefix}:grounds"

    def reports(self, comment_id: str) -> str:
        """Hash of the open reports on one comment: reporter hash -> report JSON."""
        return f"{self.prefix}:reports:{part(comment_id)}"

    @property
    def reported(self) -> str:
        """Sorted set of comments with open reports, scored report count + risk (< 1)."""
        return f"{self.prefix}:reported"

    def report_rate(self, reporter: str) -> str:
        """String counter with a TTL: reports from one reporter (hash) in the current window."""
        return f"{self.prefix}:reportrate:{part(reporter)}"

    @property
    def pseudonym_secret(self) -> str:
        """String: the key of the keyed hashes that stand for IP and e-mail addresses in key
        names (``store.pseudonyms``), made once when first needed."""
        return f"{self.prefix}:pseudonym_secret"

    @property
    def reporter_secret(self) -> str:
        """String: the key of the reporters' keyed hashes, made once when first needed."""
        return f"{self.prefix}:reporter_secret"

    # --- DSA: appeals (Art. 20 internal complaints; moderation.store.appeals) ----------------
    def appeal(self, appeal_id: str) -> str:
        """String: one appeal (JSON of ``Appeal``: the decision appealed, the author's text,
        the outcome and the moderator's answer)."""
        return f"{self.prefix}:appeal:{part(appeal_id)}"

    def comment_appeals(self, comment_id: str) -> str:
        """Hash of one comment's appeals: ``open`` -> the open appeal's id (one at a time), and
        ``<decided_at of the decision appealed>`` -> appeal id (each decision once)."""
        return f"{self.prefix}:appeals:comment:{part(comment_id)}"

    @property
    def appeals_open(self) -> str:
        """Sorted set: the Appeals queue, open appeal ids scored by filing ms (oldest first)."""
        return f"{self.prefix}:appeals:open"

    @property
    def appeals_decided(self) -> str:
        """Sorted set of decided appeal ids scored by decision ms (newest last)."""
        return f"{self.prefix}:appeals:decided"

    # --- moderation: review queue, sessions, word lists, audit ---------------------------
    @property
    def configured_articles(self) -> str:
        """Set of article ids whose settings hash holds at least one override."""
        return f"{self.scope}:articles:configured"

    @property
    def audit(self) -> str:
        """Stream of every moderator and admin action (who, when, what, why, before/after)."""
        return f"{self.prefix}:stream:audit"

    def audit_index(self, kind: str, value: str) -> str:
        """List of audit stream ids about one target or by one actor, newest first (capped).

        ``kind`` is ``comment``, ``author``, ``article``, ``policy``, ``words``, ``session``,
        ``actor``, or ``type`` (``value`` then names a target type: every entry about one).
        An author's or an article's list is its site's (the ids are the site's own).
        """
        base = self.scope if kind in SITE_AUDIT_TARGETS else self.prefix
        return f"{base}:audit:{part(kind)}:{part(value)}"

    def session(self, digest: str) -> str:
        """Hash of one signed-in web session, addressed by the SHA-256 of its cookie value."""
        return f"{self.prefix}:session:{digest}"

    def account(self, name: str) -> str:
        """String: one moderator or admin account (JSON ``store.accounts.Account``)."""
        return f"{self.prefix}:account:{part(name)}"

    @property
    def account_index(self) -> str:
        """Set of every account's name."""
        return f"{self.prefix}:accounts"

    def account_sessions(self, name: str) -> str:
        """Set of the session digests (``session``) an account signed in with; stale members
        are pruned when listed."""
        return f"{self.prefix}:account:{part(name)}:sessions"

    def sign_in_link(self, digest: str) -> str:
        """String with a TTL: the account a one-time sign-in link opens, addressed by the
        SHA-256 of the link's token; deleted by its first use."""
        return f"{self.prefix}:signinlink:{digest}"

    def words(self, kind: str) -> str:
        """Set of normalised entries of a word list (``kind``: ``banned`` or ``suspect``)."""
        return f"{self.prefix}:words:{part(kind)}"

    @property
    def words_version(self) -> str:
        """String changed on every word-list edit; workers reload the lists when it changes."""
        return f"{self.prefix}:words:version"

    def spam_domains(self, kind: str) -> str:
        """Set of domains on the spam ``allow`` or ``deny`` list edited at run time (the
        settings' lists apply as well)."""
        return f"{self.prefix}:spam:domains:{part(kind)}"

    @property
    def spam_domains_version(self) -> str:
        """String changed on every edit of the run-time domain lists; scorers reload on change."""
        return f"{self.prefix}:spam:domains:version"

    @property
    def escalated(self) -> str:
        """Sorted set of held comment ids a moderator sent to the admins, scored by when."""
        return f"{self.prefix}:queue:escalated"

    @property
    def escalations(self) -> str:
        """Hash comment id → JSON ``Escalation`` (who sent it up, when, their note)."""
        return f"{self.prefix}:queue:escalations"

    # --- workers and stats ------------------------------------------------------------------
    def worker(self, name: str) -> str:
        """Hash of one worker's heartbeat and facts; its TTL removes it when the worker dies."""
        return f"{self.prefix}:worker:{part(name)}"

    @property
    def workers(self) -> str:
        """Sorted set of worker names scored by last heartbeat (seconds since the epoch)."""
        return f"{self.prefix}:workers"

    @property
    def counters(self) -> str:
        """Hash of monotonic counters (accepted, decided:<status>, dead_lettered, …)."""
        return f"{self.prefix}:stats:counters"

    def minute_counters(self, minute: int) -> str:
        """Hash of counters for one minute (``minute`` = epoch seconds // 60); expires."""
        return f"{self.prefix}:stats:minute:{minute}"

    @property
    def auto_latency(self) -> str:
        """List of recent automatic time-to-decision samples in ms (capped)."""
        return f"{self.prefix}:stats:auto_latency"

    @property
    def metrics(self) -> str:
        """Hash of cluster-wide Prometheus counters and histogram buckets (``metrics.Recorder``)."""
        return f"{self.prefix}:stats:metrics"

    @property
    def stats_samples(self) -> str:
        """Stream of the dashboard's gauge samples (``ops.samples``), capped by count."""
        return f"{self.prefix}:stats:samples"

    @property
    def stats_sample_lock(self) -> str:
        """String with a short TTL: taken by the API process that samples this interval."""
        return f"{self.prefix}:stats:samples:lock"

    @property
    def human_latency(self) -> str:
        """List of recent held-to-moderator-decision samples in ms (capped)."""
        return f"{self.prefix}:stats:human_latency"

    # --- spam -------------------------------------------------------------------------------
    @property
    def spam_weights(self) -> str:
        """Hash ``feature index -> learned weight`` of the online spam model (see spam.model)."""
        return f"{self.prefix}:spam:model:v1:w"

    @property
    def spam_gradients(self) -> str:
        """Hash ``feature index -> sum of squared gradients`` (the model's per-feature step)."""
        return f"{self.prefix}:spam:model:v1:g2"

    @property
    def spam_model_meta(self) -> str:
        """Hash of the spam model's counters (``spam``/``ham`` examples learned)."""
        return f"{self.prefix}:spam:model:v1:meta"

    def spam_lsh(self, width_ms: int, shard: int) -> str:
        """Hash: the MinHash LSH index of the comments created in one time shard (``shard`` =
        creation ms // ``width_ms``): packed entries grouped by band bucket, plus the
        shard's comment count (``moderation.spam.lsh``; expires whole). ``v3``: band
        buckets of 16-bit MinHash values, 14-byte entries with 6-byte refs."""
        return f"{self.prefix}:spam:lsh:v3:{int(width_ms)}:{int(shard)}"

    def spam_signatures(self, width_ms: int, shard: int) -> str:
        """Hash ``comment ref -> MinHash signature, author, article, comment id`` of the
        comments created in one time shard (``moderation.spam.lsh``; expires whole). ``v3``:
        16-bit MinHash values, 6-byte refs, the id packed (``ids.pack_id``)."""
        return f"{self.prefix}:spam:sig:v3:{int(width_ms)}:{int(shard)}"

    def spam_ip_posts(self, ip: str) -> str:
        """Sorted set of the comments from one IP address (members: the end of each id,
        ``spam.velocity.ip_member``) scored by creation ms (velocity);
        ``ip`` is the address' keyed hash (``store.pseudonyms``), never the address."""
        return f"{self.prefix}:spam:ip:{part(ip)}"

    def spam_learned(self, comment_id: str) -> str:
        """String: the label the spam model last learned for a comment (feedback idempotency)."""
        return f"{self.prefix}:spam:learned:{part(comment_id)}"

    def flood(self, kind: str, value: str) -> str:
        """String: the flood-control state (theoretical arrival time, ms) of one author or IP
        (``kind`` ``ip``: ``value`` is the address' keyed hash, ``store.pseudonyms``)."""
        return f"{self.scope}:flood:{part(kind)}:{part(value)}"

    def auth_failures(self, bucket: str) -> str:
        """String counter with a TTL: failed sign-ins and unknown API keys from one client
        address (the keyed hash of its ``ip_bucket``) in the current window
        (``store.auth_failures``)."""
        return f"{self.prefix}:authfail:{part(bucket)}"
