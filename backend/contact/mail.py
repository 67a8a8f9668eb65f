"""The one module that talks to the mail server: build a contact email and send it.

Sending goes through Django's email backend (SMTP outside dev, the console in
dev) with the configured timeout. Failures come out as this module's own
exceptions: MailUnavailable (the server could not take it now; try later) or
MailRejected (this email can never be sent; retrying will not help).
"""

from __future__ import annotations

import logging
import smtplib
from email.utils import format_datetime, formataddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from backend.contact.models import ContactMessage

logger = logging.getLogger(__name__)


class MailUnavailable(Exception):
    """The mail server is down, refused the connection or the message, or timed out."""


class MailRejected(Exception):
    """The email cannot be built or sent as it is."""


def contact_email(message: ContactMessage) -> EmailMessage:
    """The admins' copy of a contact message, identical on every attempt."""
    category = ContactMessage.Category(message.category).label
    body = "\n".join(
        [
            f"From: {message.name} <{message.email}>",
            f"Category: {category}",
            f"Sent at: {message.created_at.isoformat()}",
            f"Signed-in user id: {message.user_id or '(visitor)'}",
            f"Reference: {message.id}",
            "",
            message.body,
        ]
    )
    return EmailMessage(
        subject=f"[lagless] {category} from {message.name}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=settings.CONTACT_RECIPIENTS,
        # formataddr quotes or encodes the name, so commas, quotes or angle
        # brackets in it cannot add a second address.
        reply_to=[formataddr((message.name, message.email))],
        headers={
            "Message-ID": message.message_id_header,
            "Date": format_datetime(message.created_at),
        },
    )


def email_send(email: EmailMessage) -> None:
    """Hand one email to the mail server, or raise MailUnavailable / MailRejected."""
    try:
        # Builds the MIME message, which refuses line breaks in any header.
        email.message()
    except ValueError as exc:
        raise MailRejected(f"the email cannot be built: {type(exc).__name__}") from exc
    connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
    try:
        # Opened here, so send_messages leaves the closing to _close_quietly.
        connection.open()
        sent = connection.send_messages([email])
    except (smtplib.SMTPException, OSError) as exc:
        raise MailUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        # An address Django cannot encode, such as a malformed DEFAULT_FROM_EMAIL.
        raise MailRejected(f"{type(exc).__name__}: {exc}") from exc
    finally:
        _close_quietly(connection)
    if sent != 1:
        raise MailUnavailable(f"the email backend reported {sent} emails sent, not 1")


def _close_quietly(connection: BaseEmailBackend) -> None:
    # Once the server has accepted the email, a failed QUIT must not become an
    # error: the retry it caused would send a second copy.
    try:
        connection.close()
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("closing the mail connection failed: %s: %s", type(exc).__name__, exc)
