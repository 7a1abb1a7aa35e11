"""Hostile text: injection and XSS payloads, Unicode tricks, sizes and bytes no database takes."""

from __future__ import annotations

# Text a person could legitimately type (or paste): must be stored as sent (composed to NFC),
# and only ever rendered as text by the UI.
STORABLE: dict[str, str] = {
    "script tag": "<script>alert(document.cookie)</script>",
    "img onerror": '<img src=x onerror="alert(1)">',
    "svg onload": "<svg/onload=alert(1)><circle r=1 /></svg>",
    "svg xlink": '<svg><a xlink:href="javascript:alert(1)"><text x="1">x</text></a></svg>',
    "iframe": '<iframe src="https://evil.example/" srcdoc="<script>alert(1)</script>"></iframe>',
    "markdown js link": "[haga clic](javascript:alert(1))",
    "markdown image beacon": '![x](https://evil.example/pixel.png "seguimiento")',
    "markdown reference link": "[a][1]\n\n[1]: javascript:alert(1)",
    "markdown data url": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "markdown autolink": "<javascript:alert(1)>",
    "bare javascript url": "javascript:alert(1)//",
    "vbscript url": "vbscript:msgbox(1)",
    "html entities": "&lt;script&gt;alert(1)&lt;/script&gt; &#x6a;avascript:",
    "template injection": "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
    "sql injection": "'; DROP TABLE users; -- \" OR 1=1 --",
    "path traversal": "../../../../etc/passwd",
    "crlf": "hola\r\nSet-Cookie: sesion=robada",
    "homoglyph": "аdmin@аlvaradomazzei.cl",  # Cyrillic а
    "rtl override": "factura\u202egnp.exe",
    "zero width": "ad\u200bmin\u200c\u200d\u2060",
    "bidi isolates": "\u2067hola\u2069 \u2066mundo\u2069",
    "bom": "\ufeffhola",
    "combining marks": "e" + "\u0301" * 60,
    "emoji zwj": "👩‍👩‍👧‍👦 🏳️‍🌈 🇨🇱",
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010fffd \U0001f600",
    "nfc vs nfd": "canci\u00f3n cancio\u0301n",
    "literal escapes": "\\u0000 \\x00 %00 \\n",
    "json in text": '{"role": "admin", "is_active": true}',
    "null word": "null",
}

# Text no database stores (PostgreSQL refuses NUL; a lone surrogate is not encodable): refused
# with 422 ``invalid_characters`` in every field, on every backend.
REFUSED: dict[str, str] = {
    "nul": "hola\x00mundo",
    "only nul": "\x00",
    "lone high surrogate": "hola\ud800",
    "lone low surrogate": "\udfffhola",
}


def long_text(size: int) -> str:
    """``size`` characters, multibyte included, so byte and character limits differ."""
    unit = "ñandú ⚡ "
    return (unit * (size // len(unit) + 1))[:size]
