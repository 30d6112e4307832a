"""How every process of the service logs: one line per record, with its process id (a
``moderation run`` or a worker pool interleaves several processes in one output).

Libraries that narrate their own set-up at ``INFO`` are raised to ``WARNING``: Alembic lists
every plugin it loads each time a process checks the record's schema, which told an operator
nothing and buried the lines that do.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
#: Loggers kept at ``WARNING`` whatever the configured level, unless it is ``DEBUG``.
QUIET = ("alembic.runtime.plugins",)


def setup(level: str) -> None:
    """Configure the root logger at ``level`` (a name: ``info``, ``DEBUG``, …) once per process
    (a second call changes nothing, as ``logging.basicConfig`` does)."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
