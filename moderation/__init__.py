"""Self-hosted comment moderation for news sites."""

__version__ = "0.1.0"
