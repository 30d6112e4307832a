"""The Daily Ledger: a small news site that uses the moderation service the way a real one
would. Run it with ``uvicorn --factory news_site:make_app`` (see README.md).

* The front page lists headlines; each "N comments" link is filled by the service's
  ``count.js`` in the reader's browser (one batched request for the whole page).
* An article page shows the headline, byline and body, and the approved comments as threads,
  read server-side through the client library (``moderation.client``).
* The comment form posts to this site, which submits through the client library (waiting up to
  a few seconds for the decision) and sends the reader back to the article, where the outcome
  is shown: published, or "awaiting moderation" for a held comment.

The site key stays on the server: the browser only ever talks to this site and to the
service's public ``count.js`` and counts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from moderation.client import (
    ArticleClosed,
    AsyncModerationClient,
    ModerationClientError,
    NotFound,
    RateLimited,
    ValidationFailed,
)

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Story:
    id: str  # the article id the moderation service knows (slashes and all)
    headline: str
    standfirst: str
    byline: str
    published: str
    body: tuple[str, ...]


STORIES = (
    Story(
        "2026/11/budget",
        "Council passes a budget with more for buses and less for roads",
        "A late amendment moved four million from resurfacing to three new routes.",
        "By Ana Ruiz, City Hall reporter",
        "25 November 2026",
        (
            "The council approved next year's budget on Tuesday night by 31 votes to 18, after "
            "a four-hour debate that ran past midnight.",
            "The largest change came from a late amendment that moves four million from road "
            "resurfacing to three new bus routes serving the eastern estates.",
            "Opposition members called the shift 'a gamble with potholes'; the transport "
            "committee's chair said the routes would pay for themselves within five years.",
        ),
    ),
    Story(
        "2026/11/river-festival",
        "River festival returns after a three-year break",
        "Boat races, a night market and fireworks over the old bridge.",
        "By Tom Becker",
        "24 November 2026",
        (
            "The river festival is back this weekend for the first time since the floods.",
            "Organisers expect forty thousand visitors over two days; the old bridge closes to "
            "traffic from Saturday noon.",
        ),
    ),
    Story(
        "2026/11/library-hours",
        "Central library to open on Sundays from January",
        "A pilot funded by a local trust will run for six months.",
        "By Priya Natarajan",
        "23 November 2026",
        (
            "Readers have asked for it for a decade: from January the central library opens "
            "on Sundays, from 11:00 to 17:00.",
        ),
    ),
)
BY_ID = {s.id: s for s in STORIES}

#: What the reader is told after posting, by the comment's status.
OUTCOMES = {
    "approved": ("published", "Thanks — your comment is published."),
    "held": ("held", "Thanks — your comment is awaiting moderation."),
    "pending": ("held", "Thanks — your comment is awaiting moderation."),
    "rejected": ("rejected", "Your comment was not published: it breaks our community rules."),
}


def create_app(
    api_url: str, site_key: str, *, public_api_url: str | None = None, site_url: str = ""
) -> Starlette:
    """``api_url``: where this server reaches the service; ``public_api_url``: where readers'
    browsers do (count.js), if different."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
    env.filters["path"] = lambda value: quote(value, safe="/")
    public = (public_api_url or api_url).rstrip("/")
    mod = AsyncModerationClient(api_url, site_key, timeout=5.0, retries=2)

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = env.get_template(name).render(api=public, stories=STORIES, **context)
        return HTMLResponse(page, status)

    async def front(request: Request) -> Response:
        return render("front.html")

    async def article(request: Request) -> Response:
        story = BY_ID.get(request.path_params["article_id"])
        if story is None:
            return render("missing.html", 404)
        notice = None
        posted = request.query_params.get("posted")
        if posted:
            try:
                mine = await mod.get(posted)
                notice = OUTCOMES.get(mine.status)
            except ModerationClientError:
                notice = None
        error = request.query_params.get("error")
        try:
            threads = (await mod.threads(story.id, limit=50)).comments
            info = await mod.get_article(story.id)
            is_open, count = info.open, info.count
        except ModerationClientError:
            threads, is_open, count = [], True, None  # comments down: the article still shows
        return render(
            "article.html", story=story, threads=threads, open=is_open, count=count,
            notice=notice, error=error,
        )  # fmt: skip

    async def post_comment(request: Request) -> Response:
        # A plain urlencoded form: parsed here, so the example needs no python-multipart.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        story = BY_ID.get(str(form.get("article_id", "")))
        if story is None:
            return render("missing.html", 404)
        back = f"/articles/{quote(story.id, safe='/')}"
        name = str(form.get("name", "")).strip() or "Anonymous"
        parent = str(form.get("parent_id", "")) or None
        try:
            comment = await mod.submit(
                story.id,
                str(form.get("text", "")),
                {"id": "reader-" + name.lower().replace(" ", "-")[:40], "name": name[:80]},
                parent_id=parent,
                context={
                    "ip": request.client.host if request.client else None,
                    "user_agent": request.headers.get("user-agent"),
                    "referrer": request.headers.get("referer"),
                },
                article={"title": story.headline, "url": site_url + back},
                wait=3,
            )
        except ValidationFailed as exc:
            query = urlencode({"error": f"Please check your comment: {exc.message}"})
            return RedirectResponse(f"{back}?{query}#comment-form", 303)
        except ArticleClosed:
            query = urlencode({"error": "Comments on this article are closed."})
            return RedirectResponse(f"{back}?{query}#comment-form", 303)
        except RateLimited:
            query = urlencode({"error": "You are commenting too fast; try again in a minute."})
            return RedirectResponse(f"{back}?{query}#comment-form", 303)
        except (NotFound, ModerationClientError):
            query = urlencode({"error": "Comments are unavailable right now; please try later."})
            return RedirectResponse(f"{back}?{query}#comment-form", 303)
        return RedirectResponse(f"{back}?{urlencode({'posted': comment.id})}#comments", 303)

    return Starlette(
        routes=[
            Route("/", front),
            Route("/articles/{article_id:path}", article),
            Route("/comments", post_comment, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lambda app: _closing(mod),
    )


@contextlib.asynccontextmanager
async def _closing(mod: AsyncModerationClient) -> AsyncIterator[None]:
    yield
    await mod.aclose()


def make_app() -> Starlette:
    """The app as configured by the environment (``uvicorn --factory news_site:make_app``)."""
    return create_app(
        os.environ.get("MODERATION_URL", "http://127.0.0.1:8000"),
        os.environ.get("MODERATION_SITE_KEY", ""),
        public_api_url=os.environ.get("MODERATION_PUBLIC_URL"),
        site_url=os.environ.get("NEWS_SITE_URL", "http://127.0.0.1:8080"),
    )
