"""A small typed client for the Cloudflare Images REST API, built on ``requests``.

Every failure surfaces as one ``CloudflareError`` subclass whose ``transient`` flag tells
the caller (a Dramatiq actor) whether retrying can help; the client itself never retries.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import requests

DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
DEFAULT_DELIVERY_BASE = "https://imagedelivery.net"
DEFAULT_RETRY_AFTER = 60.0

# 10000/10001: bad or expired token; 9106: no credentials sent (an empty token);
# 5403: the account is wrong or has no Images subscription.
AUTH_ERROR_CODES = frozenset({9106, 10000, 10001, 5403})
NOT_FOUND_CODES = frozenset({5404})
# Cloudflare answers 5409 "Resource already exists" when a custom id is taken.
ALREADY_EXISTS_CODES = frozenset({5409})

_FormFields = dict[str, tuple[str | None, bytes | str]]


class CloudflareError(Exception):
    """A Cloudflare Images call failed; ``transient`` says whether a retry can succeed."""

    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors: list[dict[str, Any]] = list(errors or [])

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling; restore via __dict__.
        return (self.__class__, (self.message,), self.__dict__)

    @property
    def codes(self) -> list[int]:
        return [error["code"] for error in self.errors if isinstance(error.get("code"), int)]

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        details = "; ".join(
            f"code {error.get('code')}: {error.get('message')}" for error in self.errors
        )
        if details:
            parts.append(f"Cloudflare said: {details}")
        return " | ".join(parts)


class CloudflareRateLimited(CloudflareError):
    transient = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = DEFAULT_RETRY_AFTER,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status=status, errors=errors)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{super().__str__()} | retry after {self.retry_after:g} s"


class CloudflareServerError(CloudflareError):
    transient = True


class CloudflareTimeout(CloudflareError):
    transient = True


class CloudflareConnectionError(CloudflareError):
    transient = True


class CloudflareAuthError(CloudflareError):
    pass


class CloudflareNotFound(CloudflareError):
    pass


class CloudflareAlreadyExists(CloudflareError):
    pass


class CloudflareBadRequest(CloudflareError):
    pass


@dataclass(frozen=True)
class CloudflareImage:
    id: str
    filename: str
    metadata: dict[str, Any]
    uploaded: str
    require_signed_urls: bool
    variants: tuple[str, ...]
    draft: bool = False


class CloudflareImagesClient:
    """Talk to one account's Images API with explicit timeouts on every request."""

    def __init__(
        self,
        *,
        account_id: str,
        token: str,
        api_base: str = DEFAULT_API_BASE,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self._account_url = f"{api_base.rstrip('/')}/accounts/{quote(account_id, safe='')}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = (connect_timeout, read_timeout)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def upload(
        self,
        *,
        data: bytes,
        filename: str,
        image_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CloudflareImage:
        """Upload image bytes; Cloudflare generates the id unless ``image_id`` is given."""
        fields = _upload_fields(image_id=image_id, metadata=metadata)
        fields["file"] = (filename, data)
        return _parse_image(self._request("POST", "/images/v1", files=fields))

    def upload_url(
        self,
        *,
        url: str,
        image_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> CloudflareImage:
        """Have Cloudflare fetch the image from ``url`` itself."""
        fields = _upload_fields(image_id=image_id, metadata=metadata)
        fields["url"] = (None, url)
        return _parse_image(self._request("POST", "/images/v1", files=fields))

    def details(self, image_id: str) -> CloudflareImage:
        return _parse_image(self._request("GET", f"/images/v1/{_quote_id(image_id)}"))

    def delete(self, image_id: str) -> None:
        self._request("DELETE", f"/images/v1/{_quote_id(image_id)}")

    def iter_images(self, *, per_page: int = 1000) -> Iterator[CloudflareImage]:
        """Yield every stored image, following continuation tokens page by page."""
        token: str | None = None
        while True:
            params: dict[str, str | int] = {"per_page": per_page}
            if token is not None:
                params["continuation_token"] = token
            page = _parse_page(self._request("GET", "/images/v2", params=params))
            yield from page.images
            if page.continuation_token is None:
                return
            if page.continuation_token == token:
                # A token that does not advance would loop forever.
                raise CloudflareError("Cloudflare returned the same continuation token twice")
            token = page.continuation_token

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        files: _FormFields | None = None,
    ) -> Any:
        try:
            response = self._session.request(
                method,
                f"{self._account_url}{path}",
                headers=self._headers,
                params=params,
                files=files,
                timeout=self._timeout,
                # The API never redirects; following one would turn a POST into a GET.
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise CloudflareTimeout(f"Cloudflare Images {method} {path} timed out: {exc}") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise CloudflareConnectionError(
                f"Cloudflare Images {method} {path}: connection failed or dropped "
                f"(the request may or may not have been applied): {exc}"
            ) from exc
        return _result_or_raise(response, f"{method} {path}")


@dataclass(frozen=True)
class _Page:
    images: list[CloudflareImage]
    continuation_token: str | None


def delivery_url(
    *, account_hash: str, image_id: str, variant: str, base: str = DEFAULT_DELIVERY_BASE
) -> str:
    """Build the public delivery URL for one variant of an image, without any request."""
    # Delivery accepts "/" in custom ids as path separators, but "%" must become "%25".
    return "/".join(
        (
            base.rstrip("/"),
            quote(account_hash, safe=""),
            quote(image_id, safe="/"),
            # Flexible variants look like "w=400,sharpen=3".
            quote(variant, safe="=,"),
        )
    )


def _quote_id(image_id: str) -> str:
    # Custom ids may contain "/", which must not be read as a path separator by the API.
    return quote(image_id, safe="")


def _upload_fields(*, image_id: str | None, metadata: dict[str, str] | None) -> _FormFields:
    # (None, value) tuples make requests send plain form fields inside multipart/form-data,
    # which the upload endpoint requires even when no file is attached.
    fields: _FormFields = {}
    if image_id is not None:
        fields["id"] = (None, image_id)
    if metadata is not None:
        fields["metadata"] = (None, json.dumps(metadata, separators=(",", ":")))
    return fields


def _result_or_raise(response: requests.Response, call: str) -> Any:
    """Return the envelope's ``result`` or raise the exception that fits the answer."""
    status = response.status_code
    # Look at the status first: a 5xx or 429 from the edge is often HTML, not JSON.
    if status == 429:
        raise CloudflareRateLimited(
            f"Cloudflare Images rate limit hit on {call}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status=status,
            errors=_lenient_errors(response),
        )
    if status >= 500:
        raise CloudflareServerError(
            f"Cloudflare Images server error on {call}",
            status=status,
            errors=_lenient_errors(response),
        )
    if status >= 400:
        raise _client_error(status, _lenient_errors(response), call)
    if not 200 <= status < 300:
        raise CloudflareError(
            f"Cloudflare Images gave an unexpected answer to {call}", status=status
        )
    return _envelope_result(response, call)


def _envelope_result(response: requests.Response, call: str) -> Any:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "success" not in payload:
        raise CloudflareError(
            f"Cloudflare Images answered {call} with something that is not its JSON envelope: "
            f"{response.text[:200]!r}",
            status=response.status_code,
        )
    if payload["success"] is not True:
        errors = _error_list(payload.get("errors"))
        raise _client_error(response.status_code, errors, call, fallback=CloudflareError)
    return payload.get("result")


def _client_error(
    status: int,
    errors: list[dict[str, Any]],
    call: str,
    *,
    fallback: type[CloudflareError] = CloudflareBadRequest,
) -> CloudflareError:
    codes = {error.get("code") for error in errors}
    if status in (401, 403) or codes & AUTH_ERROR_CODES:
        return CloudflareAuthError(
            f"Cloudflare Images refused the credentials on {call}: the API token is wrong, "
            "expired or lacks the Images Write permission, or the account id is wrong",
            status=status,
            errors=errors,
        )
    if status == 404 or codes & NOT_FOUND_CODES:
        return CloudflareNotFound(
            f"Cloudflare Images: not found ({call})", status=status, errors=errors
        )
    if status == 409 or codes & ALREADY_EXISTS_CODES:
        return CloudflareAlreadyExists(
            f"Cloudflare Images: an image with this id already exists ({call})",
            status=status,
            errors=errors,
        )
    return fallback(f"Cloudflare Images rejected {call}", status=status, errors=errors)


def _lenient_errors(response: requests.Response) -> list[dict[str, Any]]:
    """Return the envelope's errors if the body happens to be one, else nothing."""
    try:
        payload = response.json()
    except ValueError:
        return []
    return _error_list(payload.get("errors")) if isinstance(payload, dict) else []


def _error_list(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [dict(item) for item in raw if isinstance(item, dict)]


def parse_retry_after(value: str | None, *, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Read ``Retry-After`` as delta-seconds or an HTTP-date; fall back to ``default``."""
    if value is None or not value.strip():
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def _parse_image(result: Any) -> CloudflareImage:
    if not isinstance(result, dict) or not isinstance(result.get("id"), str):
        raise CloudflareError(f"Cloudflare Images returned an unexpected image object: {result!r}")
    metadata = result.get("meta", result.get("metadata"))
    return CloudflareImage(
        id=result["id"],
        filename=str(result.get("filename") or ""),
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        uploaded=str(result.get("uploaded") or ""),
        require_signed_urls=bool(result.get("requireSignedURLs", False)),
        variants=tuple(str(variant) for variant in result.get("variants") or ()),
        draft=bool(result.get("draft", False)),
    )


def _parse_page(result: Any) -> _Page:
    if not isinstance(result, dict) or not isinstance(result.get("images"), list):
        raise CloudflareError(f"Cloudflare Images returned an unexpected image list: {result!r}")
    token = result.get("continuation_token")
    return _Page(
        images=[_parse_image(item) for item in result["images"]],
        continuation_token=token if isinstance(token, str) and token else None,
    )
