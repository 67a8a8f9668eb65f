"""Contact message services: the one place where contact business logic lives.

The view, the actors and the admin's resend action call these functions. A
message is a row first; its queue message carries only the row's id, so the
visitor's address and text stay in the database.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from backend.contact import mail
from backend.contact.models import ContactMessage

logger = logging.getLogger(__name__)

# last_error keeps the start of an error, enough for an operator.
ERROR_MAX_LENGTH = 1000


class ContactRateLimited(Exception):
    """Too many messages from this address or network recently; the message is for the user."""


def contact_message_submit(
    *,
    name: str,
    email: str,
    category: str,
    body: str,
    ip: str | None,
    user: AbstractBaseUser | None,
) -> ContactMessage:
    """Record a message and queue its email in one transaction, within the rate limit."""
    message_id = uuid.uuid4()
    with transaction.atomic():
        _rate_limit_check(email=email, ip=ip)
        message = ContactMessage.objects.create(
            id=message_id,
            name=name,
            email=email,
            category=category,
            body=body,
            ip=ip,
            user_id=user.pk if user is not None else None,
            message_id_header=_message_id_header(message_id),
        )
        _enqueue_send(message)
    logger.info("contact message %s queued (%s)", message.pk, category)
    return message


def _message_id_header(message_id: uuid.UUID) -> str:
    # The site's own mail domain on the right, as receiving servers expect.
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "lagless"
    return f"<contact-{message_id}@{domain}>"


def _rate_limit_check(*, email: str, ip: str | None) -> None:
    """Count recent rows by address and by IP, serialised per key across processes.

    The transaction-scoped advisory locks make count-then-insert atomic for
    every web process sharing the database, so a burst of parallel posts
    cannot slip past the limit. Locks are taken in ascending key order, so two
    submissions sharing an address or an IP never deadlock.
    """
    keys = [f"email:{email.lower()}"] + ([f"ip:{ip}"] if ip else [])
    with connection.cursor() as cursor:
        for lock_id in sorted(_advisory_lock_id(key) for key in keys):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])
    since = timezone.now() - timedelta(minutes=settings.CONTACT_RATE_WINDOW_MINUTES)
    recent = ContactMessage.objects.filter(created_at__gte=since)
    by_email = recent.alias(email_lower=Lower("email")).filter(email_lower=email.lower())
    limit = settings.CONTACT_RATE_LIMIT
    if by_email.count() >= limit or (ip and recent.filter(ip=ip).count() >= limit):
        logger.warning("contact message refused by the rate limit (ip %s)", ip)
        raise ContactRateLimited(
            "You have sent several messages in a short time. Please try again later."
        )


def _advisory_lock_id(key: str) -> int:
    digest = hashlib.blake2b(f"contact-rate:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _enqueue_send(message: ContactMessage) -> None:
    # Imported here because actors import this module.
    from actors.contact import contact_send

    contact_send.send(str(message.pk))


def contact_message_send(*, message_id: str) -> None:
    """Email a queued message to the admins once, and record the send.

    The row stays locked from the state check through the SMTP conversation to
    the commit of `sent`, so deliveries of the same message (a retry, a
    duplicate, a resend) run one after the other, and each later one finds the
    row sent and does nothing.

    The crash window: if the worker dies or the database is lost after the
    server accepted the email but before `sent` commits, the transaction rolls
    back, the job is delivered again and the admins get a second copy, with the
    same Message-ID and Date, so it is recognisable (and dropped by mail
    systems that deduplicate on Message-ID). Recording "sending" first and
    never retrying such a row would turn that same crash into a lost message
    instead; a duplicate is the lesser harm.

    MailUnavailable propagates after the attempt is recorded, so the actor
    retries with backoff; MailRejected fails the message at once.
    """
    failure: mail.MailUnavailable | None = None
    with transaction.atomic():
        message = ContactMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            logger.warning("contact message %s does not exist any more; nothing to do", message_id)
            return
        if message.state != ContactMessage.State.QUEUED:
            logger.info("contact message %s already %s; nothing to do", message_id, message.state)
            return
        message.attempts += 1
        try:
            mail.email_send(mail.contact_email(message))
        except mail.MailUnavailable as exc:
            message.last_error = str(exc)[:ERROR_MAX_LENGTH]
            failure = exc
        except mail.MailRejected as exc:
            message.state = ContactMessage.State.FAILED
            message.last_error = str(exc)[:ERROR_MAX_LENGTH]
        else:
            message.state = ContactMessage.State.SENT
            message.sent_at = timezone.now()
            message.last_error = ""
        message.save(update_fields=["attempts", "state", "sent_at", "last_error"])
    logger.info(
        "contact message %s attempt %d: %s",
        message_id,
        message.attempts,
        message.last_error or "sent",
    )
    if failure is not None:
        raise failure


def contact_message_fail(*, message_id: str, reason: str) -> None:
    """Give up on a message still queued; a sent message stays sent."""
    with transaction.atomic():
        message = ContactMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.state != ContactMessage.State.QUEUED:
            return
        message.state = ContactMessage.State.FAILED
        last = f"; last error: {message.last_error}" if message.last_error else ""
        message.last_error = f"{reason}{last}"[:ERROR_MAX_LENGTH]
        message.save(update_fields=["state", "last_error"])
    logger.warning("contact message %s failed: %s", message_id, reason)


def contact_message_resend(*, message_ids: Iterable[uuid.UUID | str]) -> int:
    """Queue each failed message for one more round of sending; return how many.

    Only failed rows move, under a row lock, so a double click or two operators
    at once queue each message exactly once.
    """
    with transaction.atomic():
        messages = list(
            ContactMessage.objects.select_for_update()
            .filter(pk__in=list(message_ids), state=ContactMessage.State.FAILED)
            .order_by("pk")
        )
        for message in messages:
            message.state = ContactMessage.State.QUEUED
            message.save(update_fields=["state"])
            _enqueue_send(message)
    for message in messages:
        logger.info("contact message %s queued again by an operator", message.pk)
    return len(messages)
