"""Keep two runs of one maintenance job from overlapping, whoever started them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

# First key of every maintenance advisory lock; the second is hashtext(job name).
JOB_LOCK_CLASS = 7_420_502


@contextmanager
def job_lock(job: str) -> Iterator[None]:
    """Hold a session advisory lock named after ``job``, waiting for it if needed.

    A session lock, not a transaction one, because a job commits many small
    transactions. Postgres releases it if the process or connection dies;
    taking it again in the same session nests.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [JOB_LOCK_CLASS, job])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [JOB_LOCK_CLASS, job])
        except DatabaseError:
            # The session is gone, and its locks with it.
            logger.warning("could not release the %s job lock", job, exc_info=True)
