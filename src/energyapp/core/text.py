"""The one rule for the characters of names and labels people read.

A person's name and a conversation's title are shown in the sidebar, the admin panel, the audit
trail and exported file names. Control characters (Unicode category Cc: NUL, tab, newline, the
C1 range), format characters (Cf: the bidi overrides and isolates U+202A-U+202E and
U+2066-U+2069, zero-width space, non-joiner and joiner, word joiner, BOM, soft hyphen, tags) and
the line and paragraph separators (Zl, Zp) are invisible or move the text around them:
"Juan \\u202enimda" is displayed "Juan admin". So are the letters that draw nothing (the Hangul
fillers, the blank Braille pattern). A name or label refuses them all, with one exception: a
zero-width joiner between two symbols, inside an emoji sequence (👩‍👩‍👧), the one invisible
character a person types on purpose. It must also show something: text of combining marks
(variation selectors, accents with no letter) and spaces alone is refused.

Free text is not a label: a chat message keeps whatever the person sent (the UI renders it as
text; NUL and lone surrogates are refused in every field by the JSON guard), and a label made
from it (a conversation's provisional title, the model's title) drops the characters this rule
refuses (:func:`without_invisible`) instead of failing the chat.

One form for what is stored and searched (:func:`nfc`): an accented letter can arrive composed
("á", U+00E1, what most keyboards send) or decomposed ("a" + U+0301, what macOS file names and
some of its input methods send). Both draw the same, but compare, fold and stem differently, so a
search typed one way missed text stored the other way. Messages, titles, names, labels and search
terms are brought to NFC where they enter: the label cleaners, ``chat.service.clean_message``, the
search (``core.search``), and the model's titles (:func:`without_invisible`).
"""

from __future__ import annotations

import re
import unicodedata

from energyapp.errors import Unprocessable

INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Letters and symbols that draw nothing (the Hangul fillers, which Unicode marks default
# ignorable, and the blank Braille pattern): a name of them looks empty, one inside a word
# splits it. Korean text written today never needs them.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Marks draw only on the character before them: text of marks and spaces shows nothing.
_MARK_CATEGORIES = frozenset({"Mn", "Me"})
_ZWJ = "\u200d"
# NUL can be stored by SQLite but not by PostgreSQL, and a lone surrogate cannot be encoded as
# UTF-8 at all: no database stores them.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?")
# Unicode category Cc but the newline: C0 controls, DEL and the C1 range (a tab is a space).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def nfc(text: str) -> str:
    """``text`` in Unicode normalization form C (composed: "a" + U+0301 becomes "á")."""
    return unicodedata.normalize("NFC", text)


def _joins_emoji(text: str, index: int) -> bool:
    """A zero-width joiner between two symbols (an emoji sequence): allowed; anywhere else (a
    joiner between letters hides a spoofed word) refused."""
    if text[index] != _ZWJ or index == 0 or index == len(text) - 1:
        return False
    before = unicodedata.category(text[index - 1])
    return before in ("So", "Sk", "Mn") and unicodedata.category(text[index + 1]) == "So"


def _invisible(text: str, index: int) -> bool:
    if text[index] in BLANK_CHARACTERS:
        return True
    return unicodedata.category(text[index]) in INVISIBLE_CATEGORIES and not _joins_emoji(
        text, index
    )


def _shows_something(text: str) -> bool:
    return any(not ch.isspace() and unicodedata.category(ch) not in _MARK_CATEGORIES for ch in text)


def has_invisible(text: str) -> bool:
    """Whether ``text`` holds a character a name or label may not."""
    return any(_invisible(text, i) for i in range(len(text)))


def check_visible(text: str, subject: str) -> str:
    """``text`` in NFC (:func:`nfc`), or ``ValueError`` (a Spanish message about ``subject``,
    e.g. "el nombre") when it holds a character a name or label may not. For pydantic
    validators."""
    text = nfc(text)
    if has_invisible(text):
        raise ValueError(
            f"{subject} no puede contener caracteres de control ni invisibles (saltos de línea, "
            "tabulaciones, marcas de dirección del texto, espacios de ancho cero o de relleno)"
        )
    if text and not _shows_something(text):
        raise ValueError(f"{subject} debe tener algún carácter visible (una letra, un número)")
    return text


def short_label(raw: str, limit: int, *, subject: str, missing: str, code: str) -> str:
    """A label a person names a thing of theirs with (a saved prompt's title, a folder's name):
    ``raw`` without surrounding blanks, in NFC, 1 to ``limit`` visible characters
    (:func:`check_visible`, :func:`within`); else 422 ``code`` with a Spanish sentence:
    ``missing`` (no final period) when blank, else about ``subject`` ("El título")."""
    try:
        label = check_visible(raw.strip(), subject)
    except ValueError as exc:
        raise Unprocessable(f"{exc}.", code=code) from None
    if not label:
        raise Unprocessable(f"{missing}.", code=code)
    return within(label, limit, subject, code)


def without_invisible(text: str) -> str:
    """``text`` without the characters a name or label may not hold (whitespace among them
    becomes a space), for labels made from free text; in NFC (:func:`nfc`)."""
    text = nfc(text)
    return "".join(
        (" " if ch.isspace() else "") if _invisible(text, i) else ch for i, ch in enumerate(text)
    )


def storable(text: str) -> str:
    """``text`` without the characters no database stores (:data:`UNSTORABLE`)."""
    return UNSTORABLE.sub("", text)


def multiline(raw: str) -> str:
    """A person's few lines kept for others to read (custom instructions, an answer's rating
    comment): one kind of line break, a tab as a space, the other control characters removed,
    in NFC (:func:`nfc`), the surrounding blanks stripped."""
    return nfc(_CONTROL.sub("", _LINE_BREAK.sub("\n", raw).replace("\t", " "))).strip()


def within(text: str, most: int, subject: str, code: str, *, why: str = "") -> str:
    """``text`` when it has at most ``most`` characters (code points); else 422 ``code``, the
    one message every free-text field gives: "<subject> admite como máximo <most>
    caracteres<why>; tiene <n>. Acórtelo e intente de nuevo." (``why``, e.g. ", lo mismo que un
    mensaje", says where the limit comes from)."""
    if len(text) > most:
        raise Unprocessable(
            f"{subject} admite como máximo {most} caracteres{why}; tiene {len(text)}. "
            "Acórtelo e intente de nuevo.",
            code=code,
        )
    return text
