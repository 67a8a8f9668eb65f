"""Maintenance fixtures: scheduler processes, stored images of a known age, the fake Cloudflare."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone

from backend.maintenance.leader import leader_describe
from backend.maintenance.models import ScheduledRun
from backend.media.storage import photo_storage
from backend.profiles.models import PhotoJob, Profile
from tests import images
from tests.conftest import ROOT, worker_env


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The personas need no real password hashing here; it costs a second per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class SchedulerProcess:
    """`manage.py runperiodiq` in its own process group, on the test database."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runperiodiq"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_scheduler(
    clean_queue: None, media_root: Path, tmp_path: Path
) -> Iterator[Callable[..., SchedulerProcess]]:
    schedulers: list[SchedulerProcess] = []

    def start(**env: str) -> SchedulerProcess:
        log = tmp_path / f"scheduler-{len(schedulers)}.log"
        scheduler = SchedulerProcess(worker_env(media_root, **env), log)
        schedulers.append(scheduler)
        return scheduler

    yield start
    for scheduler in schedulers:
        scheduler.stop()
        sys.stderr.write(f"\n--- {scheduler.log_path.name} ---\n{scheduler.log()[-4000:]}\n")


def leader_pid() -> int | None:
    """The OS pid of the scheduler holding the leader lock, from Postgres itself."""
    holder = leader_describe()
    if holder is None:
        return None
    return int(holder.rsplit("pid=", 1)[1])


def runs(schedule: str) -> list[ScheduledRun]:
    return list(ScheduledRun.objects.filter(schedule=schedule).order_by("tick"))


def done_runs(schedule: str) -> list[ScheduledRun]:
    return [run for run in runs(schedule) if run.state == ScheduledRun.State.DONE]


# -- stored images of a known age ------------------------------------------------------


def photo_job(user: User, state: str = PhotoJob.State.DONE, **fields: Any) -> PhotoJob:
    return PhotoJob.objects.create(
        user=user, state=state, original_format="JPEG", original_bytes=100, **fields
    )


def job_names(job: PhotoJob) -> tuple[str, str]:
    return job.output_name(512, "webp"), job.output_name(128, "webp")


def local_file(media_root: Path, name: str, *, age: timedelta) -> Path:
    path = media_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.png(8, 8))
    stamp = (timezone.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def profile_pointing_at(user: User, job: PhotoJob, alias: str) -> Profile:
    photo, thumb = job_names(job)
    return Profile.objects.create(
        user=user, photo_storage=alias, photo_name=photo, photo_thumb_name=thumb, photo_job=job
    )


def foreign_name() -> str:
    """A name under avatars/ that matches no job row at all."""
    return f"avatars/999/{uuid.uuid4()}/512.webp"


def scheduled_run_at(schedule: str, tick: datetime) -> ScheduledRun:
    return ScheduledRun.objects.create(
        schedule=schedule, tick=tick, state=ScheduledRun.State.DONE, executions=1
    )


# -- the fake Cloudflare -----------------------------------------------------------------


def cf_upload(name: str) -> str:
    return photo_storage("cloudflare_images").save(name, ContentFile(images.png(8, 8), name=name))
