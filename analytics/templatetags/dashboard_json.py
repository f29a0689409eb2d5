"""``chart_json``: Django's ``json_script`` for the dashboard's chart data, compact and fast.

The dashboard embeds every chart's points and drill-down links (hundreds of kilobytes over a
quarter or a year). ``json_script`` escapes with ``str.translate`` and a mapping, which walks the
text character by character in Python-level lookups (about 20 ms for 300 KB); three
``str.replace`` calls do the same escaping in C, and compact separators drop a few percent.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def chart_json(value: Any, element_id: str) -> SafeString:
    """``value`` as JSON in a ``<script type="application/json">`` element, with ``<``, ``>``
    and ``&`` escaped as ``json_script`` does, so the text can never close the element."""
    text = (
        json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"))
        .replace("<", "\\u003C")
        .replace(">", "\\u003E")
        .replace("&", "\\u0026")
    )
    return format_html(
        '<script id="{}" type="application/json">{}</script>', element_id, mark_safe(text)
    )
