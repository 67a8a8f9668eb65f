"""Admin registrations for operations.

django_dramatiq's task admin renders message arguments with mark_safe (stored
XSS through any text that reaches a message), so it is never shown here.
"""

from __future__ import annotations

import django_dramatiq.admin  # noqa: F401  (imported first so that the unregister below sticks)
from django.contrib import admin
from django_dramatiq.models import Task

admin.site.unregister(Task)
