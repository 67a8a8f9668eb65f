"""The upload view: cheap checks, a clear error, and nothing left behind on bad input."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backend.profiles.models import PhotoJob, Profile
from tests import images
from tests.conftest import queued_messages

BAD_FILES = {
    "corrupt.jpg": (images.corrupt_jpeg(), "may be damaged"),
    "notes.jpg": (b"this is a text file with a .jpg name\n", "not a JPEG, PNG, WebP or GIF"),
    "bomb.png": (images.png_header_only(20_000, 20_000), "too large"),
    "empty.jpg": (b"", "empty"),
    "huge.jpg": (b"\xff\xd8\xff\xe0" + b"\x00" * (11 * 1024 * 1024), "larger than 10 MB"),
}


def upload(client, name: str, data: bytes, content_type: str = "image/jpeg"):
    return client.post(
        reverse("photo_upload"),
        {"photo": SimpleUploadedFile(name, data, content_type=content_type)},
    )


def test_bad_files_get_a_clear_error_and_leave_nothing_behind(
    alice_client, alice, media_root, clean_queue
):
    for name, (data, message) in BAD_FILES.items():
        response = upload(alice_client, name, data)
        assert response.status_code == 400, name
        body = response.content.decode()
        assert message in body, (name, body[:2000])
        assert 'role="alert"' in body
    assert PhotoJob.objects.count() == 0
    assert queued_messages() == []
    assert list(media_root.rglob("*")) == []
    assert Profile.objects.get(user=alice).photo_name == ""


def test_good_upload_is_staged_and_queued_in_one_go(alice_client, alice, clean_queue):
    data = images.jpeg(1600, 1200)
    response = upload(alice_client, "IMG_0001.jpg", data)
    assert response.status_code == 302
    assert response["Location"] == reverse("settings")
    job = PhotoJob.objects.get()
    assert (job.user_id, job.state, bytes(job.original or b"")) == (alice.pk, "queued", data)
    [message] = queued_messages("photo_process")
    assert message["args"] == [str(job.id)]
    assert message["queue_name"] == "photos"
    assert str(job.message_id) == message["message_id"]
    page = alice_client.get(reverse("settings")).content.decode()
    assert "Your new photo is queued." in page


def test_message_carries_only_the_job_id(alice_client, clean_queue):
    upload(alice_client, "a.jpg", images.jpeg())
    [message] = queued_messages()
    assert message["args"] == [str(PhotoJob.objects.get().id)]
    assert message["kwargs"] == {}


def test_anonymous_visitor_cannot_upload(client, db):
    response = upload(client, "a.jpg", images.jpeg())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert PhotoJob.objects.count() == 0


def test_upload_requires_post(alice_client):
    assert alice_client.get(reverse("photo_upload")).status_code == 405


def test_upload_without_csrf_token_is_refused(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert upload(client, "a.jpg", images.jpeg()).status_code == 403
    assert PhotoJob.objects.count() == 0


def test_one_user_never_sees_or_changes_another_users_photo(
    alice_client, bob_client, alice, bob, clean_queue
):
    upload(alice_client, "alice.jpg", images.jpeg())
    alice_job = PhotoJob.objects.get(user=alice)
    # Bob's status and dashboard speak only of Bob's (absent) job.
    assert bob_client.get(reverse("photo_status")).json()["job"] is None
    assert "queued" not in bob_client.get(reverse("settings")).content.decode()
    upload(bob_client, "bob.jpg", images.jpeg())
    assert PhotoJob.objects.get(user=bob).pk != alice_job.pk
    assert alice_client.get(reverse("photo_status")).json()["job"]["id"] == str(alice_job.pk)


def test_profile_text_is_saved_and_escaped(alice_client, alice):
    response = alice_client.post(
        reverse("settings"), {"display_name": "<script>alert(1)</script>", "bio": "hi"}
    )
    assert response.status_code == 302
    page = alice_client.get(reverse("settings")).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
