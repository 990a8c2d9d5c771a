"""Client of the Evotor cloud REST API v2 (stores, product groups, products, product images).

Implements https://developer.evotor.ru/docs/rest_overview.html (and rest_stores, rest_products,
rest_images); facts we rely on are in shared/reference/evotor-api.md.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin

import requests

from evosync.clients.errors import (
    EvotorAuthError,
    EvotorBadRequest,
    EvotorBadResponse,
    EvotorError,
    EvotorNotFound,
    EvotorPaymentRequired,
    EvotorRateLimited,
    EvotorTransientError,
)

log = logging.getLogger(__name__)

V2_MEDIA_TYPE = "application/vnd.evotor.v2+json"
# Evotor's docs say to resume 30 minutes after a 429 when no Retry-After is sent.
DEFAULT_RETRY_AFTER = 1800.0
DEFAULT_MAX_DOWNLOAD = 10 * 1024 * 1024
# A server that keeps handing out cursors would otherwise loop forever.
MAX_PAGES = 100_000

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case_keys(value: Any) -> Any:
    """Return ``value`` with every dict key turned from camelCase into snake_case, recursively."""
    if isinstance(value, dict):
        return {
            _CAMEL.sub(r"_\1", k).lower() if isinstance(k, str) else k: snake_case_keys(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [snake_case_keys(v) for v in value]
    return value


def parse_retry_after(value: str | None, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), else ``default``."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


class EvotorClient:
    """Reads one merchant's catalog from the Evotor cloud with that merchant's cloud token.

    Lists are generators over Evotor's cursor pages. Transient failures (5xx, timeouts, dropped
    connections) are retried ``max_retries`` times with exponential backoff and jitter; everything
    else becomes an :class:`~evosync.clients.errors.EvotorError` subclass at once.

    Pace: every API request takes a slot of ``limiter`` first (image downloads do not: they are files, which
    Evotor may serve from elsewhere). A 429 whose Retry-After is at most ``rate_wait_max`` seconds is waited out
    and the request sent again (``max_retries`` times), after telling the limiter to slow down (its optional
    ``slow_down()``); a longer one (Evotor's documented 30 minutes) raises EvotorRateLimited at once.
    """

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD,
        limiter: Any = None,
        rate_wait_max: float = 0.0,
    ):
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_download_bytes = max_download_bytes
        self.limiter = limiter  # acquire(timeout) -> slot, finish(slot), optional slow_down(); None: no pace
        self.rate_wait_max = rate_wait_max

    def __repr__(self) -> str:  # never show the token
        return f"EvotorClient(base_url={self.base_url!r})"

    # ------------------------------------------------------------------------------------------ public API

    def iter_stores(self) -> Iterator[dict]:
        """Every store of the account."""
        return self._iter_pages("/stores")

    def iter_groups(self, store_id: str) -> Iterator[dict]:
        """Every product group of a store (groups with ``attributes`` hold variants of one product)."""
        return self._iter_pages(f"/stores/{_seg(store_id)}/product-groups", store_id=store_id)

    def iter_products(self, store_id: str, since: int | None = None) -> Iterator[dict]:
        """Every product of a store, or only those updated after ``since`` (epoch milliseconds)."""
        params = {"since": int(since)} if since is not None else None
        return self._iter_pages(f"/stores/{_seg(store_id)}/products", params=params, store_id=store_id)

    def get_product(self, store_id: str, pid: str) -> dict:
        """One product."""
        body = self._get_json(f"/stores/{_seg(store_id)}/products/{_seg(pid)}", store_id=store_id)
        if not isinstance(body, dict):
            raise EvotorBadResponse(f"product answer is not an object: {type(body).__name__}")
        return body

    def iter_product_images(self, store_id: str, pid: str) -> Iterator[dict]:
        """A product's images ``{id, url, meta{extension, file_size, width, height}, created_at, ...}``.

        Evotor documents both a paged snake_case and a bare-array camelCase shape; both come out snake_case.
        """
        path = f"/stores/{_seg(store_id)}/products/{_seg(pid)}/images"
        for image in self._iter_pages(path, store_id=store_id):
            yield snake_case_keys(image)

    def download(self, url: str) -> bytes:
        """Fetch an image (or any file) Evotor points at, refusing more than ``max_download_bytes``."""
        url = urljoin(self.base_url + "/", url)
        # The token goes only to Evotor's own API host, never to a CDN or other host in an image url.
        headers = self._headers() if url.startswith(self.base_url + "/") else {}
        headers.pop("Accept", None)
        response = self._send("GET", url, headers=headers, stream=True, paced=False)
        try:
            self._raise_for_status(response, store_id=None)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_download_bytes:
                raise EvotorBadResponse(f"download of {declared} bytes exceeds {self.max_download_bytes}")
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_download_bytes:
                        raise EvotorBadResponse(f"download exceeds {self.max_download_bytes} bytes")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise EvotorTransientError(f"download interrupted: {type(exc).__name__}") from exc
            return b"".join(chunks)
        finally:
            response.close()

    # ------------------------------------------------------------------------------------------ internals

    def _headers(self) -> dict[str, str]:
        # The one place the token is put on the wire. Evotor's cloud SDK sends X-Authorization, the current
        # REST overview speaks of Authorization: Bearer; which one the live API insists on is unconfirmed
        # (docs/VK_READINGS.md), so both go, carrying the same token.
        return {"Accept": V2_MEDIA_TYPE, "X-Authorization": self._token, "Authorization": f"Bearer {self._token}"}

    def _iter_pages(self, path: str, params: dict | None = None, store_id: str | None = None) -> Iterator[dict]:
        """Follow ``paging.next_cursor`` until the last page; ``params`` go on the first page only."""
        query: dict[str, Any] = dict(params or {})
        seen_cursors: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self._get_json(path, params=query, store_id=store_id)
            if isinstance(body, list):  # a bare array is the whole list
                items, cursor = body, None
            elif isinstance(body, dict) and isinstance(body.get("items"), list):
                items = body["items"]
                paging = body.get("paging") or {}
                cursor = paging.get("next_cursor") if isinstance(paging, dict) else None
            else:
                raise EvotorBadResponse(f"{path}: expected {{items, paging}} or a list")
            for item in items:
                if not isinstance(item, dict):
                    raise EvotorBadResponse(f"{path}: list item is not an object")
                yield item
            if not cursor:
                return
            if cursor in seen_cursors:
                raise EvotorBadResponse(f"{path}: cursor {cursor!r} repeated")
            seen_cursors.add(cursor)
            query = {"cursor": cursor}
        raise EvotorBadResponse(f"{path}: more than {MAX_PAGES} pages")

    def _get_json(self, path: str, params: dict | None = None, store_id: str | None = None) -> Any:
        for attempt in range(self.max_retries + 1):
            response = self._send("GET", self.base_url + path, headers=self._headers(), params=params)
            try:
                try:
                    self._raise_for_status(response, store_id=store_id)
                except EvotorRateLimited as exc:
                    if exc.retry_after > self.rate_wait_max or attempt >= self.max_retries:
                        raise
                    self._wait_out(exc.retry_after, path)
                    continue
                try:
                    return response.json()
                except ValueError as exc:
                    raise EvotorBadResponse(f"{path}: answer is not JSON") from exc
            finally:
                response.close()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_out(self, seconds: float, path: str) -> None:
        """A short 429: the limiter slows down for everyone using this token, then this request waits."""
        slow_down = getattr(self.limiter, "slow_down", None)
        if slow_down is not None:
            slow_down()
        log.info("evotor 429 on %s: waiting %.1f s as asked", path, seconds)
        time.sleep(seconds)

    def _send(self, method: str, url: str, *, paced: bool = True, **kwargs: Any) -> requests.Response:
        """One HTTP request with the client's retry policy for transient failures (each try paced)."""
        attempt = 0
        while True:
            slot = self.limiter.acquire() if paced and self.limiter is not None else None
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failure = f"{type(exc).__name__}"
                response = None
            else:
                if response.status_code < 500:
                    return response
                failure = f"HTTP {response.status_code}"
                response.close()
            finally:
                if slot is not None:
                    self.limiter.finish(slot)
            if attempt >= self.max_retries:
                raise EvotorTransientError(
                    f"{method} {_path_of(url)}: {failure} after {attempt + 1} attempts",
                    status=None if response is None else response.status_code,
                )
            delay = self.backoff * (2**attempt) * (1 + random.random())  # jitter spreads retries apart
            log.warning("evotor %s %s: %s, retry %d in %.2fs", method, _path_of(url), failure, attempt + 1, delay)
            time.sleep(delay)
            attempt += 1

    def _raise_for_status(self, response: requests.Response, store_id: str | None) -> None:
        status = response.status_code
        if status < 400:
            return
        path = _path_of(response.url or "")
        body = _json_or_none(response)
        message = f"{path}: HTTP {status}"
        if isinstance(body, dict) and body.get("message"):
            message += f": {body['message']}"
        log.info("evotor error %s", message)
        if status in (401, 403):
            raise EvotorAuthError(message, status=status)
        if status == 402:
            raise EvotorPaymentRequired(message, store_id=store_id)
        if status == 404:
            raise EvotorNotFound(message, status=status)
        if status == 429:
            raise EvotorRateLimited(message, retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status == 400:
            violations = body.get("violations") if isinstance(body, dict) else None
            raise EvotorBadRequest(message, violations=violations if isinstance(violations, list) else [])
        raise EvotorError(message, status=status)


def _seg(value: str) -> str:
    """An id as one safe path segment."""
    return quote(str(value), safe="")


def _path_of(url: str) -> str:
    """The url without its query (which might carry cursors), for logs and messages."""
    return url.split("?", 1)[0]


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
