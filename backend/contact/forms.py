"""The contact form, and the honeypot that catches the bots filling it in."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from backend.contact.models import (
    BODY_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    ContactMessage,
)

# Control characters (CR, LF, NEL, ...) and Unicode line and paragraph
# separators: anything a mail library might treat as the end of a header line.
_LINE_BREAK_CATEGORIES = {"Cc", "Zl", "Zp"}


def reject_line_breaks(value: Any) -> None:
    """Refuse line breaks and control characters in a value that goes into a mail header.

    Runs on the raw input, before the field strips it, so a trailing newline
    is refused too rather than silently dropped.
    """
    if isinstance(value, str) and any(
        unicodedata.category(char) in _LINE_BREAK_CATEGORIES for char in value
    ):
        raise ValidationError(
            "Please write this on one line, without line breaks or control characters.",
            code="line_break",
        )


class SingleLineCharField(forms.CharField):
    def to_python(self, value: Any) -> str | None:
        reject_line_breaks(value)
        return super().to_python(value)


class SingleLineEmailField(forms.EmailField):
    def to_python(self, value: Any) -> str | None:
        reject_line_breaks(value)
        return super().to_python(value)


class ContactForm(forms.Form):
    name = SingleLineCharField(
        label="Your name",
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = SingleLineEmailField(
        label="Your email address",
        max_length=EMAIL_MAX_LENGTH,
        help_text="We reply to this address.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    category = forms.ChoiceField(
        label="What is it about?",
        choices=ContactMessage.Category.choices,
        initial=ContactMessage.Category.FEEDBACK,
    )
    message = forms.CharField(
        label="Message",
        max_length=BODY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8}),
    )


class HoneypotForm(forms.Form):
    """A field people never see (the template hides it) and bots fill in."""

    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def is_filled(self) -> bool:
        return bool(str(self.data.get("website", "")).strip())
