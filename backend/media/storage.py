"""Which Django storage holds profile photos, chosen the seed's way (see PHOTO_STORAGE)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, storages


def photo_storage_alias() -> str:
    return str(settings.PHOTO_STORAGE)


def photo_storage(alias: str | None = None) -> Storage:
    return storages[alias or photo_storage_alias()]
