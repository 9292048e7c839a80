"""``http_get``. Standard library only: this module runs in the sandbox worker."""

from __future__ import annotations

from typing import Any

__all__ = ["http_get"]

_KEPT_HEADERS = ("content-type", "content-length", "last-modified", "etag", "location")


def http_get(url: str, max_bytes: int = 262144, timeout_s: float = 10.0) -> dict[str, Any]:
    """GET ``url``; return status, a few headers and the body as text."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("only http:// and https:// URLs are supported")
    # Imported here: urllib.request pulls in http.client and email (~10 ms), which the
    # host would otherwise pay at every start when it reads this module's signature.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "llf-host-http_get/1.0"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        response = exc
    with response:
        body = response.read(max_bytes + 1)
        headers = {k.lower(): v for k, v in response.headers.items()}
        charset = response.headers.get_content_charset() or "utf-8"
        return {
            "url": response.geturl(),
            "status": response.status,
            "headers": {k: headers[k] for k in _KEPT_HEADERS if k in headers},
            "text": body[:max_bytes].decode(charset, "replace"),
            "truncated": len(body) > max_bytes,
        }
