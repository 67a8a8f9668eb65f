"""Photo-job state changes published with Postgres NOTIFY, delivered at commit.

Listeners (the dashboard's live stream) get the user and job ids and read the
current state from the database, so a payload never carries user content.
"""

from __future__ import annotations

import json

from django.db import connection

from backend.profiles.models import PhotoJob

PHOTO_JOB_CHANNEL = "lagless_photo_jobs"


def photo_job_notify(job: PhotoJob) -> None:
    payload = json.dumps({"user_id": job.user_id, "job_id": str(job.pk), "state": job.state})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [PHOTO_JOB_CHANNEL, payload])
