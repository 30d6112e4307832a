"""Offline evaluation of the scorers against labelled data sets (``moderation eval``)."""
