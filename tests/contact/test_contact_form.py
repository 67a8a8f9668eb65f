"""The contact form in one process: what is saved and queued, and what is refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backend.contact.models import ContactMessage
from tests.conftest import queued_messages

VALID = {
    "name": "Zoë Visitor",
    "email": "zoe@example.net",
    "category": "bug",
    "message": "The photo page says 'queued' forever.\nSteps: upload, wait.",
}


def post(client: Client, **changes: str):
    return client.post(reverse("contact"), {**VALID, **changes}, REMOTE_ADDR="192.0.2.10")


def nothing_saved_or_queued() -> bool:
    return not ContactMessage.objects.exists() and queued_messages("contact_send") == []


def test_visitors_and_signed_in_users_find_the_form_from_every_page(client, alice_client, db):
    for page_client in (client, alice_client):
        page = page_client.get(reverse("login")).content.decode()
        assert f'href="{reverse("contact")}"' in page
    page = client.get(reverse("contact"))
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("Your name", "Your email address", "What is it about?", "Message"):
        assert label in html
    assert 'value="alice@example.com"' not in html
    assert 'value="alice@example.com"' in alice_client.get(reverse("contact")).content.decode()


def test_a_message_is_saved_and_queued_at_once_and_the_visitor_sees_a_confirmation(
    client, db, settings
):
    settings.DEFAULT_FROM_EMAIL = "lagless <noreply@mail.lagless.example>"
    response = post(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("contact_thanks")
    assert "Your message has been received" in client.get(response["Location"]).content.decode()

    message = ContactMessage.objects.get()
    assert (message.name, message.email, message.category) == (
        "Zoë Visitor",
        "zoe@example.net",
        "bug",
    )
    assert message.body == VALID["message"]
    assert (message.state, message.attempts, message.sent_at) == ("queued", 0, None)
    # The site's mail domain, as receiving servers expect.
    assert message.message_id_header == f"<contact-{message.id}@mail.lagless.example>"
    assert message.ip == "192.0.2.10"
    assert message.user is None


def test_the_queue_message_carries_only_the_row_id(client, db):
    post(client)
    message = ContactMessage.objects.get()
    [queued] = queued_messages("contact_send")
    assert queued["queue_name"] == "email"
    assert queued["args"] == [str(message.id)]
    assert queued["kwargs"] == {}
    serialized = json.dumps(queued)
    for private in ("zoe@example.net", "Zoë", "Zo\\u00eb", "forever", "192.0.2.10"):
        assert private not in serialized


def test_a_signed_in_users_message_records_who_sent_it(alice_client, alice):
    post(alice_client)
    assert ContactMessage.objects.get().user == alice


@pytest.mark.parametrize("field", ["name", "email", "category"])
@pytest.mark.parametrize(
    "breaker", ["\r\n", "\n", "\r", "\u2028", "\x85"], ids=["crlf", "lf", "cr", "ls", "nel"]
)
def test_a_line_break_in_any_header_field_is_a_form_error_and_nothing_is_saved(
    client, db, field, breaker
):
    value = f"{VALID[field]}{breaker}Bcc: victim@example.org"
    response = post(client, **{field: value})
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{field}-error"' in html
    assert 'role="alert"' in html
    if field != "category":
        assert "on one line, without line breaks" in html
    assert nothing_saved_or_queued()


@pytest.mark.parametrize("field", ["name", "email"])
def test_a_trailing_newline_is_refused_too_not_silently_stripped(client, db, field):
    response = post(client, **{field: VALID[field] + "\n"})
    assert response.status_code == 400
    assert "on one line, without line breaks" in response.content.decode()
    assert nothing_saved_or_queued()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "n" * 101),
        ("email", "e" * 64 + "@" + "d" * 186 + ".org"),
        ("message", "m" * 5001),
        ("name", ""),
        ("message", "   "),
    ],
    ids=["name-too-long", "email-too-long", "message-too-long", "name-empty", "message-blank"],
)
def test_every_field_has_limits(client, db, field, value):
    response = post(client, **{field: value})
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.content.decode()
    assert nothing_saved_or_queued()


@pytest.mark.parametrize(
    "email", ["not-an-address", "zoe@", "@example.net", "zoe@example..net", "zoe example@x.org"]
)
def test_an_invalid_email_address_is_refused(client, db, email):
    response = post(client, email=email)
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert nothing_saved_or_queued()


def test_the_longest_allowed_values_are_accepted(client, db):
    response = post(client, name="n" * 100, message="m" * 5000)
    assert response.status_code == 302
    assert ContactMessage.objects.get().body == "m" * 5000


def test_the_honeypot_is_hidden_from_people_and_says_to_leave_it_empty(client, db):
    html = client.get(reverse("contact")).content.decode()
    trap = html[html.index('<div class="trap"') : html.index('<button type="submit"')]
    assert 'aria-hidden="true"' in trap
    assert "left: -10000px" in trap
    assert "Leave this field empty" in trap
    assert 'name="website"' in trap
    assert 'tabindex="-1"' in trap
    assert 'autocomplete="off"' in trap


def test_a_bot_filling_the_honeypot_gets_the_confirmation_and_nothing_is_kept(client, db):
    response = post(client, website="https://spam.example")
    assert response.status_code == 302
    assert response["Location"] == reverse("contact_thanks")
    assert nothing_saved_or_queued()


def test_a_bot_filling_the_honeypot_and_garbage_elsewhere_learns_nothing(client, db):
    response = post(client, website="x", email="not-an-address")
    assert response.status_code == 302
    assert nothing_saved_or_queued()


def test_the_rate_limit_counts_by_address_and_by_client_ip(client, db, settings):
    settings.CONTACT_RATE_LIMIT = 2
    settings.CONTACT_RATE_WINDOW_MINUTES = 30

    def send(email: str, ip: str) -> int:
        data = {**VALID, "email": email}
        return int(client.post(reverse("contact"), data, REMOTE_ADDR=ip).status_code)

    assert send("a@example.net", "198.51.100.1") == 302
    assert send("a@example.net", "198.51.100.2") == 302
    # The address has used its two; the case of the address does not matter.
    limited = client.post(
        reverse("contact"), {**VALID, "email": "A@Example.NET"}, REMOTE_ADDR="198.51.100.3"
    )
    assert limited.status_code == 429
    assert "several messages in a short time" in limited.content.decode()
    assert 'value="Zoë Visitor"' in limited.content.decode()  # what was typed is kept
    assert send("b@example.net", "198.51.100.4") == 302
    assert send("c@example.net", "198.51.100.4") == 302
    # That IP has used its two, whatever address it claims.
    assert send("d@example.net", "198.51.100.4") == 429
    assert ContactMessage.objects.count() == 4
    assert len(queued_messages("contact_send")) == 4

    # Outside the window the old messages no longer count.
    ContactMessage.objects.update(created_at=timezone.now() - timedelta(minutes=31))
    assert send("a@example.net", "198.51.100.4") == 302
