"""The catalogue's second half (``operations``): the moderators' tools, the DSA's reports,
statements and transparency, appeals, Coral Talk, webhooks and accounts."""

from __future__ import annotations

from moderation.api import schemas as s
from moderation.api import schemas_admin as sa
from moderation.api import schemas_review as sr
from moderation.api import schemas_tools as st
from moderation.api.accounts import AccountIn, AccountPatch
from moderation.api.dsa import GroundsIn
from moderation.api.operation import CURSOR, LIMIT, MOD, Op, Param
from moderation.api.webhooks import EndpointIn, EndpointPatch, ReplayIn
from moderation.record.transparency import TransparencyReport
from moderation.review.appeals import AppealDecisionIn, AppealIn
from moderation.review.domains import DomainsEditIn
from moderation.review.escalation import EscalateIn
from moderation.review.reports import ReportDecisionIn, ReportIn

#: (method, path as Starlette declares it) -> what it does.
MORE: dict[tuple[str, str], Op] = {
    # Moderators' tools (moderation.api.tools)
    ("GET", "/v1/moderation/published"): Op(
        "An article's published comments, newest first (Redis and the record), searchable",
        "moderator",
        sr.ReviewPage,
        errors=(*MOD, 400, 422),
        params=(
            Param("article", "query", "the article id (required)"),
            Param("q", "query", "words that must all occur in the text"),
            Param("author", "query", "an author id"),
            Param("from", "query", "created at or after (ISO 8601; UTC if no offset)"),
            Param("to", "query", "created before (ISO 8601; UTC if no offset)"),
            LIMIT,
            CURSOR,
        ),
    ),
    ("GET", "/v1/moderation/comments/{comment_id}/copies"): Op(
        "A held comment's held near duplicates: the ids to decide together",
        "moderator",
        st.Copies,
        errors=(*MOD, 404),
    ),
    ("POST", "/v1/moderation/comments/{comment_id}/escalate"): Op(
        "Send a held comment to the admins with a note (audited); 409 if it is not held",
        "moderator",
        st.Escalated,
        201,
        EscalateIn,
        (*MOD, 404, 409, 415, 422),
    ),
    ("GET", "/v1/moderation/escalated"): Op(
        "Escalated comments still held, oldest first, with who sent them and why",
        "admin",
        st.EscalatedList,
        errors=MOD,
    ),
    ("GET", "/v1/moderation/spam-domains"): Op(
        "The spam allow and deny domain lists (run-time and from the settings)",
        "admin",
        st.SpamDomains,
        errors=MOD,
    ),
    ("PATCH", "/v1/moderation/spam-domains/{kind}"): Op(
        "Add or remove domains of the spam `allow` or `deny` list (audited)",
        "admin",
        st.DomainsEdit,
        request=DomainsEditIn,
        errors=(*MOD, 415, 422),
    ),
    ("GET", "/openapi.json"): Op("This document", "public", s.AnyObject),
    # DSA (moderation.api.dsa)
    ("POST", "/v1/comments/{comment_id}/reports"): Op(
        "A reader reports a published comment (public, CORS); 201 with a receipt id",
        "public",
        sr.ReportReceipt,
        201,
        ReportIn,
        (400, 404, 409, 413, 415, 422, 429, 503),
    ),
    ("GET", "/v1/comments/{comment_id}/statement"): Op(
        "The statement of reasons of the restriction in force (DSA Art. 17)",
        "readers",
        sr.StatementView,
        errors=(401, 403, 404, 503),
    ),
    ("GET", "/v1/moderation/reported"): Op(
        "The Reported queue: comments with open reports, most reported then riskiest",
        "moderator",
        sr.ReportedPage,
        errors=(*MOD, 400, 422),
        params=(LIMIT, Param("offset", "query", "position in the queue", "integer")),
    ),
    ("POST", "/v1/moderation/reported/{comment_id}/decision"): Op(
        "Keep a reported comment (reports dismissed) or remove it; reporters are told",
        "moderator",
        sr.ReportOutcome,
        request=ReportDecisionIn,
        errors=(*MOD, 404, 409, 415, 422),
    ),
    ("GET", "/v1/moderation/transparency"): Op(
        "The DSA Art. 15 transparency report's figures for a period (as `moderation report`)",
        "admin",
        TransparencyReport,
        errors=(*MOD, 422),
        params=(
            Param("from", "query", "start, YYYY-MM-DD or ISO time (default: 1 January)"),
            Param("to", "query", "end, excluded, YYYY-MM-DD or ISO time (default: tomorrow)"),
        ),
    ),
    ("GET", "/v1/moderation/grounds"): Op(
        "The grounds of restrictions: laws and community-rule clauses",
        "moderator",
        sr.Grounds,
        errors=MOD,
    ),
    ("PUT", "/v1/moderation/grounds"): Op(
        "Replace the list of grounds",
        "admin",
        sr.Grounds,
        request=GroundsIn,
        errors=(*MOD, 415, 422),
    ),
    # DSA Art. 20 appeals (moderation.api.appeals)
    ("POST", "/v1/comments/{comment_id}/appeals"): Op(
        "The site files its author's appeal of the decision restricting a comment, within "
        "MODERATION_APPEAL_WINDOW_MONTHS of it; 201 with the appeal",
        "site", st.Appeal, 201, AppealIn, (400, 401, 403, 404, 409, 413, 415, 422, 503),
    ),
    ("GET", "/v1/moderation/appeals"): Op(
        "The Appeals queue (open, oldest first) or the decided appeals (newest first)",
        "moderator", st.AppealList, errors=(*MOD, 400, 422),
        params=(
            Param("status", "query", "`open` (default) or `decided`"),
            LIMIT,
            Param("offset", "query", "position in the list", "integer"),
        ),
    ),
    ("GET", "/v1/moderation/appeals/{appeal_id}"): Op(
        "One appeal: the decision appealed with its statement, the author's text, the outcome",
        "moderator", st.AppealWithComment, errors=(*MOD, 404),
    ),
    ("POST", "/v1/moderation/appeals/{appeal_id}/decision"): Op(
        "Uphold the decision or reverse it (the comment is published again), with a reasoned "
        "answer; 403 for whoever took the decision, 409 once decided",
        "moderator", st.AppealOutcome, request=AppealDecisionIn,
        errors=(*MOD, 404, 409, 415, 422),
    ),
    ("POST", "/v1/coral/moderate"): Op(
        "Coral Talk's external moderation phase (X-Coral-Signature; see the README)", "coral",
        sa.CoralAnswer, errors=(400, 401, 409, 413, 422, 429, 503),
    ),
    ("GET", "/v1/moderation/webhooks"): Op(
        "Webhook endpoints, with each one's backlog and failures", "admin", sa.EndpointList,
        errors=MOD,
    ),
    ("POST", "/v1/moderation/webhooks"): Op(
        "Register a webhook endpoint; the answer shows its whsec_ secret once", "admin",
        sa.Endpoint, 201, EndpointIn, (*MOD, 415, 422),
    ),
    ("GET", "/v1/moderation/webhooks/{endpoint_id}"): Op(
        "One webhook endpoint", "admin", sa.Endpoint, errors=(*MOD, 404)
    ),
    ("PATCH", "/v1/moderation/webhooks/{endpoint_id}"): Op(
        "Change an endpoint's URL, events or description", "admin", sa.Endpoint,
        request=EndpointPatch, errors=(*MOD, 404, 409, 415, 422),
    ),
    ("DELETE", "/v1/moderation/webhooks/{endpoint_id}"): Op(
        "Remove an endpoint with its queue and failures", "admin", None, 204,
        errors=(*MOD, 404, 409),
    ),
    ("POST", "/v1/moderation/webhooks/{endpoint_id}/rotate"): Op(
        "A new secret (shown once); the previous one signs beside it for the grace period",
        "admin", sa.Endpoint, errors=(*MOD, 404, 409),
    ),
    ("GET", "/v1/moderation/webhooks/{endpoint_id}/failures"): Op(
        "Dead-lettered messages of an endpoint, oldest first", "admin", sa.FailureList,
        errors=(*MOD, 404, 422), params=(LIMIT,),
    ),
    ("POST", "/v1/moderation/webhooks/{endpoint_id}/replay"): Op(
        "Send dead-lettered messages again (all, or those named)", "admin", sa.Replayed,
        request=ReplayIn, errors=(*MOD, 404, 415, 422),
    ),
    ("GET", "/v1/moderation/accounts"): Op(
        "Moderators' and admins' accounts, each with its live web sessions", "admin",
        st.AccountList, errors=MOD,
    ),
    ("POST", "/v1/moderation/accounts"): Op(
        "Create an account (with a password, or a one-time sign-in link: link=true)", "admin",
        st.Account, 201, AccountIn, (*MOD, 409, 415, 422),
    ),
    ("PATCH", "/v1/moderation/accounts/{name}"): Op(
        "Disable or enable an account (disabling signs it out), or set its password", "admin",
        st.Account, request=AccountPatch, errors=(*MOD, 404, 415, 422),
    ),
    ("POST", "/v1/moderation/accounts/{name}/link"): Op(
        "A one-time sign-in link for an account (shown once)", "admin", st.SignInLink, 201,
        errors=(*MOD, 404, 409),
    ),
    ("DELETE", "/v1/moderation/accounts/{name}/sessions/{session_id}"): Op(
        "Revoke one web session of an account (signed out on its next request)", "admin",
        None, 204, errors=(*MOD, 404),
    ),
}  # fmt: skip
