"""Contact services called directly, on the real database and a real SMTP server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.db import transaction

from backend.contact import services
from backend.contact.mail import MailUnavailable
from backend.contact.models import ContactMessage
from tests.conftest import queued_messages
from tests.contact.conftest import FROM_EMAIL, RECIPIENTS, free_port


def submit(**changes: str) -> ContactMessage:
    fields = {
        "name": "Zoë Visitor",
        "email": "zoe@example.net",
        "category": "feedback",
        "body": "Hello there.",
        **changes,
    }
    return services.contact_message_submit(**fields, ip="192.0.2.1", user=None)


def send(message: ContactMessage) -> ContactMessage:
    services.contact_message_send(message_id=str(message.pk))
    message.refresh_from_db()
    return message


def test_the_admins_get_one_email_with_reply_to_and_a_stable_message_id(smtp_settings, db):
    message = send(submit(category="work", body="Can we talk about a project?\nThanks."))
    assert (message.state, message.attempts, message.last_error) == ("sent", 1, "")
    assert message.sent_at is not None

    [received] = smtp_settings.received
    assert received.rcpt_tos == RECIPIENTS
    email = received.message
    assert email["From"] == FROM_EMAIL
    assert email["To"] == ", ".join(RECIPIENTS)
    [reply_to] = email["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Zoë Visitor", "zoe@example.net")
    assert email["Message-ID"] == f"<contact-{message.id}@lagless.example>"
    assert email["Subject"] == "[lagless] Work enquiry from Zoë Visitor"
    assert "Can we talk about a project?\nThanks." in received.text
    assert str(message.id) in received.text


@pytest.mark.parametrize(
    "name",
    [
        'Zoë "Z" O\'Brien, Jr.',
        "ops@example.org, victim@example.org",
        "Eve <victim@example.org>",
        "<script>alert(1)</script>",
        "李小龙",
    ],
)
def test_any_name_makes_one_reply_to_address_and_no_extra_recipient(smtp_settings, db, name):
    send(submit(name=name))
    [received] = smtp_settings.received
    assert received.rcpt_tos == RECIPIENTS
    [reply_to] = received.message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (name, "zoe@example.net")


def test_header_lines_typed_into_the_message_stay_in_the_body(smtp_settings, db):
    body = "Hi\r\nBcc: victim@example.org\r\nSubject: you won\r\n\r\nmore"
    send(submit(body=body))
    [received] = smtp_settings.received
    assert received.rcpt_tos == RECIPIENTS
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "[lagless] Feedback from Zoë Visitor"
    assert "Bcc: victim@example.org" in received.text


def test_a_second_send_of_a_sent_message_sends_nothing(smtp_settings, db):
    message = send(submit())
    sent_at = message.sent_at
    message = send(message)
    assert smtp_settings.count() == 1
    assert (message.attempts, message.sent_at) == (1, sent_at)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("fault", ["down", "refusing", "timing-out"])
def test_an_unavailable_mail_server_is_recorded_and_raised_for_a_retry(
    smtp_settings, settings, black_hole, db, fault
):
    if fault == "down":
        settings.EMAIL_PORT = free_port()
        expected = "ConnectionRefusedError"
    elif fault == "refusing":
        smtp_settings.refuse_with = "451 4.3.0 Mailbox busy, try later"
        expected = "SMTPDataError"
    else:
        settings.EMAIL_PORT = black_hole
        settings.EMAIL_TIMEOUT = 1
        expected = "timed out"
    message = submit()
    with pytest.raises(MailUnavailable):
        services.contact_message_send(message_id=str(message.pk))
    message.refresh_from_db()
    assert (message.state, message.attempts, message.sent_at) == ("queued", 1, None)
    assert expected in message.last_error
    assert smtp_settings.count() == 0

    smtp_settings.refuse_with = None
    settings.EMAIL_PORT = smtp_settings.port
    message = send(message)
    assert (message.state, message.attempts, message.last_error) == ("sent", 2, "")
    assert smtp_settings.count() == 1


def test_an_email_that_cannot_be_built_fails_at_once_without_a_retry(smtp_settings, db):
    message = submit()
    # Only reachable by bypassing the form, which refuses line breaks.
    ContactMessage.objects.filter(pk=message.pk).update(name="Eve\nBcc: victim@example.org")
    message = send(message)
    assert (message.state, message.attempts) == ("failed", 1)
    assert "BadHeaderError" in message.last_error
    assert "victim" not in message.last_error
    assert smtp_settings.count() == 0


def test_a_malformed_sender_address_fails_at_once_for_an_operator_to_fix(
    smtp_settings, settings, db
):
    message = submit()
    settings.DEFAULT_FROM_EMAIL = "lagless <noreply@>"
    message = send(message)
    assert (message.state, message.attempts) == ("failed", 1)
    assert "ValueError" in message.last_error
    assert smtp_settings.count() == 0


def test_giving_up_fails_a_queued_message_and_keeps_its_last_error(db):
    message = submit()
    ContactMessage.objects.filter(pk=message.pk).update(last_error="ConnectionRefusedError: x")
    services.contact_message_fail(message_id=str(message.pk), reason="gave up after 13 retries")
    message.refresh_from_db()
    assert message.state == "failed"
    assert message.last_error == "gave up after 13 retries; last error: ConnectionRefusedError: x"


def test_giving_up_leaves_a_sent_message_sent(smtp_settings, db):
    message = send(submit())
    services.contact_message_fail(message_id=str(message.pk), reason="gave up")
    message.refresh_from_db()
    assert (message.state, message.last_error) == ("sent", "")


def test_resend_queues_each_failed_message_exactly_once(smtp_settings, db):
    failed = [submit(email=f"f{i}@example.net") for i in range(2)]
    sent = send(submit(email="s@example.net"))
    queued = submit(email="q@example.net")
    for message in failed:
        services.contact_message_fail(message_id=str(message.pk), reason="gave up")
    before = len(queued_messages("contact_send"))

    everything = [m.pk for m in (*failed, sent, queued)]
    assert services.contact_message_resend(message_ids=everything) == 2
    # A double click, or a second operator: nothing is failed any more.
    assert services.contact_message_resend(message_ids=everything) == 0

    new = queued_messages("contact_send")[before:]
    assert sorted(m["args"][0] for m in new) == sorted(str(m.pk) for m in failed)
    states = dict(ContactMessage.objects.values_list("email", "state"))
    assert states == {
        "f0@example.net": "queued",
        "f1@example.net": "queued",
        "s@example.net": "sent",
        "q@example.net": "queued",
    }


def test_a_rolled_back_submission_leaves_neither_row_nor_job(clean_queue):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        submit()
        raise Boom
    assert not ContactMessage.objects.exists()
    assert queued_messages() == []
