"""Contact emails sent by a real worker process, on the real broker, to a real SMTP server."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backend.contact.models import ContactMessage
from tests.conftest import queued_messages, wait_for
from tests.contact.conftest import FROM_EMAIL, RECIPIENTS

pytestmark = pytest.mark.worker

# A worker takes a few seconds to boot.
BOOT = 60.0
FORM = {
    "name": "Zoë Visitor",
    "email": "zoe@example.net",
    "category": "feedback",
    "message": "Lovely site.\nOne thing: the photo took a while.",
}


def submit(client) -> ContactMessage:
    response = client.post(reverse("contact"), FORM)
    assert response.status_code == 302
    assert response["Location"] == reverse("contact_thanks")
    return ContactMessage.objects.get()


def in_state(message: ContactMessage, state: str) -> ContactMessage | None:
    message.refresh_from_db()
    return message if message.state == state else None


def drained() -> bool:
    """No job waiting or running (a dead-lettered one stays, `rejected`)."""
    return all(m["_state"] not in ("queued", "consumed") for m in queued_messages())


def test_the_admins_receive_exactly_one_email_with_the_visitors_text(
    client, settings, clean_queue, smtp_server, smtp_worker
):
    settings.DEFAULT_FROM_EMAIL = FROM_EMAIL
    # No worker yet: the visitor's answer cannot have waited for the email.
    message = submit(client)
    assert message.state == "queued"
    assert smtp_server.count() == 0

    smtp_worker()
    wait_for(lambda: in_state(message, "sent"), timeout=BOOT, what="the email to be sent")
    wait_for(drained, what="the job to be acknowledged")
    assert message.attempts == 1
    [received] = smtp_server.received
    assert received.rcpt_tos == RECIPIENTS
    [reply_to] = received.message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Zoë Visitor", "zoe@example.net")
    assert received.message["Message-ID"] == f"<contact-{message.id}@lagless.example>"
    assert "Lovely site.\nOne thing: the photo took a while." in received.text


def test_a_message_sent_while_the_mail_server_is_down_arrives_once_when_it_is_back(
    client, clean_queue, smtp_server, smtp_worker
):
    smtp_server.stop()
    message = submit(client)
    smtp_worker(CONTACT_MIN_BACKOFF_MS="100")

    def failed_twice() -> bool:
        message.refresh_from_db()
        return message.attempts >= 2

    wait_for(failed_twice, timeout=BOOT, what="two refused attempts")
    assert message.state == "queued"
    assert "ConnectionRefusedError" in message.last_error
    assert smtp_server.count() == 0

    smtp_server.start()
    wait_for(lambda: in_state(message, "sent"), timeout=60, what="the email after the outage")
    wait_for(drained, what="no retry left behind")
    assert smtp_server.count() == 1
    assert smtp_server.received[0].message["Message-ID"] == message.message_id_header


def test_after_the_last_retry_the_message_is_failed_and_one_resend_delivers_it_once(
    client, admin_client, clean_queue, smtp_server, smtp_worker
):
    smtp_server.stop()
    message = submit(client)
    smtp_worker(CONTACT_MIN_BACKOFF_MS="10", CONTACT_MAX_BACKOFF_MS="50")
    wait_for(lambda: in_state(message, "failed"), timeout=120, what="the retries to run out")
    assert message.attempts == 14
    assert message.last_error.startswith("gave up after 13 retries; last error: ")
    assert "ConnectionRefusedError" in message.last_error
    wait_for(drained, what="the give-up job")
    [dead] = [m for m in queued_messages("contact_send") if m["_state"] == "rejected"]
    assert dead["args"] == [str(message.pk)]
    assert "zoe@example.net" not in str(dead)

    smtp_server.start()
    changelist = reverse("admin:contact_contactmessage_changelist")
    action = {"action": "resend", "_selected_action": [str(message.pk)]}
    response = admin_client.post(changelist, action, follow=True)
    assert "1 failed message(s) queued to be sent again" in response.content.decode()
    wait_for(lambda: in_state(message, "sent"), timeout=30, what="the resent email")
    wait_for(drained, what="the resend job")
    assert smtp_server.count() == 1

    # Sent now, so a second click queues nothing.
    response = admin_client.post(changelist, action, follow=True)
    assert "0 failed message(s) queued" in response.content.decode()
    assert drained()
    assert smtp_server.count() == 1


def test_a_second_delivery_of_a_sent_message_sends_nothing(
    client, clean_queue, smtp_server, smtp_worker
):
    from actors.contact import contact_send

    smtp_worker()
    message = submit(client)
    wait_for(lambda: in_state(message, "sent"), timeout=BOOT, what="the first email")
    contact_send.send(str(message.pk))
    wait_for(drained, what="the duplicate to be consumed")
    message.refresh_from_db()
    assert message.attempts == 1
    assert smtp_server.count() == 1


def test_in_dev_the_email_is_printed_by_the_worker(client, clean_queue, start_worker):
    worker = start_worker(ENV_NAME="dev", CONTACT_RECIPIENTS="admin@localhost")
    message = submit(client)
    wait_for(lambda: in_state(message, "sent"), timeout=BOOT, what="the console email")
    wait_for(
        lambda: message.message_id_header in worker.log(), what="the email in the worker's output"
    )
    log = worker.log()
    assert "To: admin@localhost" in log
    assert "Lovely site." in log
