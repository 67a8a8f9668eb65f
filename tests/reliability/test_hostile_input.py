"""Hostile input: mutated images thrown at the upload path, refused requests.

Hypothesis mutates real images (bit flips, truncation, spliced headers, inserted
garbage). Every upload must end in a redirect (accepted) or a 400 with a reason,
never a 500; every accepted one must end done or failed in the worker's code
path without an unhandled error; rejected ones leave no rows and no files.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from backend.profiles import services
from backend.profiles.models import PhotoJob
from tests import images
from tests.reliability.harness import record

pytestmark = pytest.mark.reliability


def _encoded(image_format: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (120, 40, 200)).save(out, format=image_format)
    return out.getvalue()


SEEDS = [images.jpeg(96, 64, orientation=6, gps=True), images.png(96, 64)] + [
    _encoded(f) for f in ("GIF", "WEBP")
]


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "splice"]))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        else:
            data[: min(len(data), 16)] = draw(st.sampled_from(SEEDS))[:16]
    return bytes(data)


class Tally:
    accepted = 0
    rejected = 0
    server_errors = 0
    done = 0
    failed = 0


@pytest.mark.django_db(transaction=True)
def test_mutated_images_never_break_the_web_or_the_worker(alice, media_root, clean_queue):
    client = Client()
    client.force_login(alice)
    tally = Tally()

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=mutated_images())
    def upload_one(data: bytes) -> None:
        before = PhotoJob.objects.count()
        response = client.post(
            reverse("photo_upload"), {"photo": SimpleUploadedFile("x.jpg", data)}
        )
        if response.status_code not in (302, 400):
            tally.server_errors += 1
        assert response.status_code in (302, 400), response.status_code
        if response.status_code == 400:
            tally.rejected += 1
            assert PhotoJob.objects.count() == before
            return
        tally.accepted += 1
        job = PhotoJob.objects.order_by("-created_at").first()
        assert job is not None
        services.photo_job_process(job_id=str(job.pk))  # the worker's code path
        job.refresh_from_db()
        assert job.state in ("done", "failed")
        assert job.original is None
        if job.state == "done":
            tally.done += 1
        else:
            tally.failed += 1
            assert job.error

    upload_one()
    stored = {p.relative_to(media_root).as_posix() for p in media_root.rglob("*.webp")}
    expected = {
        job.output_name(size, "webp")
        for job in PhotoJob.objects.filter(state="done")
        for size in (512, 128)
    }
    record(
        "hostile input: 150 mutated images at the upload path",
        "no 500s or worker crashes; rejects leave nothing; accepted end done or failed",
        {
            "accepted": tally.accepted,
            "rejected_400": tally.rejected,
            "http_500": tally.server_errors,
            "done": tally.done,
            "failed_with_reason": tally.failed,
            "files_not_from_a_done_job": len(stored - expected),
        },
        holds=stored <= expected,
    )
    assert stored <= expected


def test_requests_without_csrf_session_or_ownership_are_refused(alice, bob, client):
    photo = images.jpeg()
    checks = {}
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(alice)
    checks["upload without CSRF token"] = csrf_client.post(
        reverse("photo_upload"), {"photo": SimpleUploadedFile("a.jpg", photo)}
    ).status_code
    checks["upload without a session"] = client.post(
        reverse("photo_upload"), {"photo": SimpleUploadedFile("a.jpg", photo)}
    ).status_code
    checks["job status without a session"] = client.get(reverse("photo_status")).status_code
    checks["event stream without a session"] = client.get("/live/photo-events/").status_code
    bob_client = Client()
    bob_client.force_login(bob)
    alice_client = Client()
    alice_client.force_login(alice)
    alice_client.post(reverse("photo_upload"), {"photo": SimpleUploadedFile("a.jpg", photo)})
    bob_sees = bob_client.get(reverse("photo_status")).json()["job"]
    record(
        "requests without CSRF token, session, or aimed at another user",
        "refused (403 / login redirect); nobody sees another user's job",
        {**checks, "bob sees alice's job": bob_sees is not None},
        holds=checks["upload without CSRF token"] == 403
        and checks["upload without a session"] == 302
        and checks["job status without a session"] == 302
        and checks["event stream without a session"] == 403
        and bob_sees is None,
    )
    assert checks == {
        "upload without CSRF token": 403,
        "upload without a session": 302,
        "job status without a session": 302,
        "event stream without a session": 403,
    }
    assert bob_sees is None


CONTACT_FIELDS = st.fixed_dictionaries(
    {
        "name": st.text(max_size=300),
        "email": st.one_of(st.emails(), st.text(max_size=300)),
        "category": st.one_of(st.sampled_from(["feedback", "bug", "work"]), st.text(max_size=20)),
        "message": st.text(max_size=6000),
        "website": st.one_of(st.just(""), st.text(max_size=20)),
    }
)


@pytest.mark.django_db(transaction=True)
def test_mutated_contact_forms_get_an_answer_never_a_crash(settings, clean_queue):
    from backend.contact.models import ContactMessage

    settings.CONTACT_RATE_LIMIT = 10**6
    client = Client()
    outcomes = {"confirmed": 0, "form_error": 0, "server_error": 0}

    @settings_hypothesis
    @given(fields=CONTACT_FIELDS)
    def submit(fields: dict[str, str]) -> None:
        before = ContactMessage.objects.count()
        response = client.post(reverse("contact"), fields)
        if response.status_code >= 500:
            outcomes["server_error"] += 1
        assert response.status_code in (200, 302, 400), response.status_code
        saved = ContactMessage.objects.count() - before
        if response.status_code == 302:
            outcomes["confirmed"] += 1
            assert saved in (0, 1)  # 0: the honeypot answered as if all was well
            if saved:
                message = ContactMessage.objects.order_by("-created_at").first()
                assert message is not None
                assert "\n" not in message.name and "\r" not in message.email
        else:
            outcomes["form_error"] += 1
            assert saved == 0

    submit()
    queued = len(queued_messages_in_db())
    record(
        "hostile input: 150 fuzzed contact forms",
        "a confirmation or a form error, never a 500; no header-capable field keeps a newline",
        {**outcomes, "messages_saved": ContactMessage.objects.count(), "jobs_queued": queued},
        holds=outcomes["server_error"] == 0 and queued == ContactMessage.objects.count(),
    )
    assert queued == ContactMessage.objects.count()


settings_hypothesis = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def queued_messages_in_db() -> list[dict[str, object]]:
    from tests.conftest import queued_messages

    return queued_messages("contact_send")
