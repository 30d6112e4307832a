"""Scorers: turn a batch of (normalised) texts into per-label probabilities.

``moderation.scoring.base`` defines the contract; ``linear`` is the offline fallback that ships
with alt-profanity-check; ``factory.load_scorer`` picks one from the settings.
"""
