"""Which Django storage holds profile photos, and the errors every photo storage speaks.

The storage is chosen the seed's way (see PHOTO_STORAGE). Storage backends
translate their own failures into the two exceptions below, so services can
tell "try again later" from "this will never work" without knowing the backend.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, storages


class StorageUnavailable(Exception):
    """A transient failure (rate limit, 5xx, timeout): retry, after `retry_after` if given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageRefused(Exception):
    """A permanent failure: `user_message` is safe to show; str() is for operators."""

    def __init__(self, message: str, *, user_message: str) -> None:
        super().__init__(message)
        self.user_message = user_message


def photo_storage_alias() -> str:
    return str(settings.PHOTO_STORAGE)


def photo_storage(alias: str | None = None) -> Storage:
    return storages[alias or photo_storage_alias()]
