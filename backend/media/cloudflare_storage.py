"""Django storage backend on Cloudflare Images (``STORAGES["cloudflare_images"]``).

A file name is the image's custom id, so the database stores ids and URLs are
built locally. Names are deterministic per job, which makes uploads idempotent:
a retry after a lost response finds the id taken and takes that as success.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import Storage
from django.utils.deconstruct import deconstructible

from backend.media import cloudflare as cf
from backend.media.storage import StorageRefused, StorageUnavailable

logger = logging.getLogger(__name__)


@deconstructible
class CloudflareImagesStorage(Storage):
    def __init__(self) -> None:
        # requests.Session is not documented as thread-safe; workers run threads.
        self._local = threading.local()

    def _client(self) -> cf.CloudflareImagesClient:
        config = (
            settings.CF_API_BASE,
            settings.CF_ACCT_ID,
            settings.CF_IMG_TOKEN,
            settings.CF_CONNECT_TIMEOUT,
            settings.CF_READ_TIMEOUT,
        )
        if getattr(self._local, "config", None) != config:
            self._local.client = cf.CloudflareImagesClient(
                api_base=config[0],
                account_id=config[1],
                token=config[2],
                connect_timeout=config[3],
                read_timeout=config[4],
            )
            self._local.config = config
        client: cf.CloudflareImagesClient = self._local.client
        return client

    def _save(self, name: str, content: File[Any]) -> str:
        content.seek(0)
        data = content.read()
        try:
            self._client().upload(
                data=data if isinstance(data, bytes) else data.encode(),
                filename=name.rsplit("/", 1)[-1],
                image_id=name,
                metadata={"name": name[:200]},
            )
        except cf.CloudflareAlreadyExists:
            logger.info("image %s is already at Cloudflare (an earlier attempt stored it)", name)
        except cf.CloudflareError as exc:
            raise _translate(exc, f"upload of {name}") from exc
        return name

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name

    def exists(self, name: str) -> bool:
        try:
            self._client().details(name)
        except cf.CloudflareNotFound:
            return False
        except cf.CloudflareError as exc:
            raise _translate(exc, f"lookup of {name}") from exc
        return True

    def delete(self, name: str) -> None:
        try:
            self._client().delete(name)
        except cf.CloudflareNotFound:
            logger.info("image %s was already gone from Cloudflare", name)
        except cf.CloudflareError as exc:
            raise _translate(exc, f"delete of {name}") from exc

    def url(self, name: str | None) -> str:
        return cf.delivery_url(
            account_hash=settings.CF_IMG_HASH,
            image_id=name or "",
            variant="public",
            base=settings.CF_DELIVERY_BASE,
        )

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = path.rstrip("/") + "/" if path else ""
        try:
            names = [i.id for i in self._client().iter_images() if i.id.startswith(prefix)]
        except cf.CloudflareError as exc:
            raise _translate(exc, "listing") from exc
        return [], names

    def list_images(self, prefix: str) -> list[tuple[str, datetime | None]]:
        """Each image whose id starts with ``prefix``, and its upload time (None if unreadable)."""
        try:
            return [
                (image.id, _uploaded_at(image.uploaded))
                for image in self._client().iter_images()
                if image.id.startswith(prefix)
            ]
        except cf.CloudflareError as exc:
            raise _translate(exc, "listing") from exc

    def _open(self, name: str, mode: str = "rb") -> File[Any]:
        raise NotImplementedError("Cloudflare Images is write-only here; read via url().")

    def size(self, name: str) -> int:
        raise NotImplementedError("Cloudflare Images does not report sizes.")


def _uploaded_at(value: str) -> datetime | None:
    # Cloudflare writes e.g. "2024-01-02T03:04:05.678Z".
    try:
        uploaded = datetime.fromisoformat(value)
    except ValueError:
        return None
    return uploaded if uploaded.tzinfo is not None else uploaded.replace(tzinfo=UTC)


def _translate(exc: cf.CloudflareError, action: str) -> Exception:
    if exc.transient:
        retry_after = exc.retry_after if isinstance(exc, cf.CloudflareRateLimited) else None
        return StorageUnavailable(
            f"Cloudflare {action} failed for now: {exc}", retry_after=retry_after
        )
    if isinstance(exc, cf.CloudflareAuthError):
        logger.error("Cloudflare rejected our credentials (%s): %s", action, exc)
        return StorageRefused(
            f"Cloudflare credentials are wrong (check CF_IMG_TOKEN and CF_ACCT_ID): {exc}",
            user_message="Photo storage is not available right now; the team has been told.",
        )
    reason = "; ".join(str(e.get("message", "")) for e in exc.errors) or str(exc)
    return StorageRefused(
        f"Cloudflare refused the {action}: {exc}",
        user_message=f"The image store refused this photo: {reason}"[:300],
    )
