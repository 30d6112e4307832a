"""The moderators' work, independent of HTTP: the held queue, decisions, authors, article and
site settings, word lists. ``moderation.api.moderation`` exposes it as JSON, ``moderation.ui``
as web pages; both go through the same functions, so they cannot disagree."""
