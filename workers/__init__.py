"""Worker processes' entry points (``moderation worker`` runs ``workers.scoring``)."""
