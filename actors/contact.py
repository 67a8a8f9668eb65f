"""Contact actors: email a contact message to the admins, give up after about an hour."""

from __future__ import annotations

from typing import Any

import dramatiq

from backend.contact import services
from backend.env import envint

# An SMTP server that is down, refuses or times out (MailUnavailable) is
# retried with exponential backoff from 5 s, capped at 10 minutes. With
# dramatiq's jitter, 13 retries (14 attempts) wait 5-10, 10-20, 20-40, 40-80,
# 80-160, 160-320 s, then 300-600 s seven times: 40 to 80 minutes in all,
# about an hour on average, long enough to ride out a mail server restart.
# Then contact_give_up marks the message failed and an operator can resend it.
CONTACT_MAX_RETRIES = 13

# Read from the environment at import because actor options are fixed when the
# actor is declared. Only tests change them, to run the schedule above in
# seconds: CONTACT_MIN_BACKOFF_MS (default 5000) and CONTACT_MAX_BACKOFF_MS
# (default 600000), in milliseconds.
CONTACT_MIN_BACKOFF_MS = envint("CONTACT_MIN_BACKOFF_MS", 5_000, minimum=1)
CONTACT_MAX_BACKOFF_MS = envint("CONTACT_MAX_BACKOFF_MS", 600_000, minimum=1)


@dramatiq.actor(
    queue_name="email",
    max_retries=CONTACT_MAX_RETRIES,
    min_backoff=CONTACT_MIN_BACKOFF_MS,
    max_backoff=CONTACT_MAX_BACKOFF_MS,
    # The SMTP conversation is a few round trips of at most EMAIL_TIMEOUT each.
    time_limit=120_000,
    on_retry_exhausted="contact_give_up",
)
def contact_send(message_id: str) -> None:
    services.contact_message_send(message_id=message_id)


@dramatiq.actor(queue_name="email", max_retries=20, min_backoff=1_000, max_backoff=60_000)
def contact_give_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    services.contact_message_fail(
        message_id=str(message["args"][0]),
        reason=f"gave up after {retry_info.get('retries')} retries",
    )
