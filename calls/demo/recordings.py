"""The demo's recordings, served by Callscope itself with byte ranges.

A browser learns an Ogg file's length by reading its last page, which it asks for with a
``Range`` request; Django's static file serving (``make run``) answers ranges with the whole
file, so the player would show no length and could not seek before the file is fully loaded.
The three files are small (under 30 KB), so they are read once and kept in memory. Only the
shipped files are served (by name, from ``RECORDED_CONVERSATIONS``): nothing else on disk can be
reached through this view.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from calls.demo.catalogue import RECORDED_CONVERSATIONS, RecordedConversation

_FILES = {Path(r.file).name: r.file for r in RECORDED_CONVERSATIONS}
# One range of the forms "first-", "first-last" or "-suffix" (RFC 9110 14.1.2); a list of
# ranges, or anything else, is answered with the whole file, as the RFC allows.
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# A day: the files change only with a release.
MAX_AGE_SECONDS = 86_400


def recording_url(recorded: RecordedConversation) -> str:
    """Where a demo call's ``recording_url`` points for this recording."""
    return reverse("demo-recording", args=[Path(recorded.file).name])


@cache
def _content(name: str) -> bytes:
    found = finders.find(_FILES[name])
    if not isinstance(found, str):  # pragma: no cover - the files ship with the calls app
        raise Http404("Recording not found.")
    return Path(found).read_bytes()


def _byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """The inclusive byte range the header asks for, ``None`` for the whole file, ``False``
    when the range cannot be satisfied."""
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        return (max(size - suffix, 0), size - 1) if suffix else False
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


@require_safe
def recording(request: HttpRequest, name: str) -> HttpResponse:
    """One demo recording (``audio/ogg``), whole or the byte range asked for."""
    if name not in _FILES:
        raise Http404("Recording not found.")
    content = _content(name)
    size = len(content)
    wanted = _byte_range(request.headers.get("Range", ""), size)
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = HttpResponse(content, content_type="audio/ogg")
    else:
        assert isinstance(wanted, tuple)
        start, end = wanted
        response = HttpResponse(content[start : end + 1], status=206, content_type="audio/ogg")
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    return response
