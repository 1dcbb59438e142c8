"""The checks a webhook passes before its form is parsed: source, token, type, size and pace.

Order matters, because each answer tells the caller something:

1. 403, source not allowed: depends only on the caller's own address, which it knows already.
   Checked before the token so that a stranger outside TEVO_ALLOWED_NETWORKS can never use
   401-versus-403 to learn whether a token it holds is right.
2. 401, unknown token: before anything about the request itself, so a stranger learns nothing
   about our limits, types or fields.
3. 415, then 413 from `Content-Length`: refused from the head alone, before a byte of the body.
4. While reading: 413 once more bytes arrive than allowed (chunked bodies have no length),
   408 when the body takes longer than TEVO_BODY_TIMEOUT.
"""

from __future__ import annotations

import asyncio

from aiohttp import hdrs, web

from ingress.errors import BrokenStream, Forbidden, TooLarge, TooSlow, Unauthorized
from ingress.errors import UnsupportedMedia as Unsupported
from ingress.settings import IngressSettings
from ingress.sources import client_address, within
from ingress.tokens import token_matches

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def screen(request: web.Request, settings: IngressSettings) -> None:
    """Raise the refusal that the request's head alone earns, in the order above."""
    _check_source(request, settings)
    if not token_matches(request.match_info["token"], settings.webhook_tokens):
        raise Unauthorized
    _check_media(request)
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        raise TooLarge(None, f"at most {settings.max_body_bytes} bytes")


def _check_source(request: web.Request, settings: IngressSettings) -> None:
    if not settings.allowed_networks:
        return
    forwarded = request.headers.getall(hdrs.X_FORWARDED_FOR, [])
    address = client_address(request.remote, forwarded, settings.trusted_proxies)
    if address is None or not within(address, settings.allowed_networks):
        raise Forbidden(None, "webhooks are not accepted from this address")


def _check_media(request: web.Request) -> None:
    headers = request.headers
    if hdrs.CONTENT_ENCODING not in headers and headers.get(hdrs.CONTENT_TYPE) == FORM_CONTENT_TYPE:
        return  # what TEvo sends, exactly: nothing to parse
    # A compressed body would inflate inside the HTTP parser, past our byte count; TEvo's
    # webhooks are small and never compressed.
    encoding = headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if encoding != "identity":
        raise Unsupported(hdrs.CONTENT_ENCODING, "compressed bodies are not accepted")
    if request.content_type != FORM_CONTENT_TYPE:
        raise Unsupported(hdrs.CONTENT_TYPE, f"expected {FORM_CONTENT_TYPE}")
    charset = request.charset
    if charset is not None and charset.lower() != "utf-8":
        raise Unsupported(hdrs.CONTENT_TYPE, "the charset must be utf-8")


async def read_body(request: web.Request, settings: IngressSettings) -> bytes:
    """The whole body, read as it arrives, never more than `max_body_bytes` of it held."""
    limit = settings.max_body_bytes
    content = request.content
    if content.is_eof() and content.exception() is None:
        # A webhook's body usually arrives with its head, whole: no timer, nothing to wait for.
        # (More than the limit can only be here without a Content-Length: chunked.)
        whole = content.read_nowait()
        if len(whole) > limit:
            raise TooLarge(None, f"at most {limit} bytes")
        return whole
    body = bytearray()
    try:
        async with asyncio.timeout(settings.body_timeout):
            async for chunk in content.iter_any():
                body += chunk
                if len(body) > limit:
                    raise TooLarge(None, f"at most {limit} bytes")
    except TimeoutError:
        raise TooSlow(None, f"the body must arrive within {settings.body_timeout:g} s") from None
    except (web.RequestPayloadError, ConnectionResetError):
        # The client went away mid-body: nobody reads this answer, but it is counted, and the
        # handler ends as a refusal instead of an unhandled error.
        raise BrokenStream(None, "the body ended before its announced length") from None
    return bytes(body)
