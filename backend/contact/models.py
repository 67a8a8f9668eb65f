"""Messages sent through the contact form, and where their email stands."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

NAME_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 254
BODY_MAX_LENGTH = 5000


class ContactMessage(models.Model):
    class Category(models.TextChoices):
        FEEDBACK = "feedback", "Feedback"
        BUG = "bug", "Bug report"
        WORK = "work", "Work enquiry"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    email = models.EmailField(max_length=EMAIL_MAX_LENGTH)
    category = models.CharField(max_length=16, choices=Category.choices)
    body = models.TextField(max_length=BODY_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    # Started sends, successful or not; for operators.
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Fixed when the row is made, so every copy of the email carries the same one.
    message_id_header = models.CharField(max_length=300, unique=True, editable=False)
    # Who sent it, for the rate limit and for operators; never put in the email.
    ip = models.GenericIPAddressField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            # The rate limit counts recent rows by address and by client IP.
            models.Index(Lower("email"), "created_at", name="contact_email_recent"),
            models.Index(fields=("ip", "created_at"), name="contact_ip_recent"),
        ]

    def __str__(self) -> str:
        return f"Contact message {self.id} ({self.state})"
