from __future__ import annotations

from django.apps import AppConfig


class ContactConfig(AppConfig):
    name = "backend.contact"
    label = "contact"
