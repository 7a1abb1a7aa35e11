"""Files the web UI attached to a question (``static/js/views/chat/attachments.js``).

The browser reads each file and the question carries its text after what the person wrote, as
``<archivo nombre="…">`` … ``</archivo>``: one plain message for the history, the model and the
exports. The server parses no file; it only tells the written part from the attached ones where
a person reads them (a title, a Markdown export)."""

from __future__ import annotations

import re

ATTACHED_FILE = re.compile(r'\n*<archivo nombre="([^"\n]{1,120})">\n(.*?)\n</archivo>', re.DOTALL)
_BACKTICKS = re.compile(r"`{3,}")


def written_part(message: str) -> str:
    """What the person wrote, without attached files; the first file's name if nothing."""
    attached = ATTACHED_FILE.search(message)
    if attached is None:
        return message
    return message[: attached.start()].strip() or attached.group(1)


def as_markdown(message: str) -> str:
    """Each attached file as a bold "Archivo adjunto" line and a code block holding its text
    (fenced with more backticks than the text has in a row, so nothing in it closes the block)."""

    def block(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        longest = max((len(run) for run in _BACKTICKS.findall(body)), default=2)
        fence = "`" * (longest + 1)
        return f"\n\n**Archivo adjunto: {name}**\n\n{fence}\n{body}\n{fence}"

    return ATTACHED_FILE.sub(block, message)
