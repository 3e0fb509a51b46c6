"""Text that is safe to print: what the CLI shows of messages, warnings and file names.

Messages quote user data (a CSV cell, an `.npz` member name, a path from a spec or from the
command line). Printed raw, an escape sequence in such data would drive the terminal (clear
it, retitle it, fake a line), and a file name that is not UTF-8 (decoded by Python with
`surrogateescape`) would make `print` raise `UnicodeEncodeError`. `shown` turns both into
plain visible text; newlines stay, since messages have several lines on purpose.
"""

from __future__ import annotations

import re

# C0 controls except newline, DEL, C1 controls, lone surrogates, and the bidirectional
# overrides and isolates that reorder what a terminal or editor shows (CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte `surrogateescape` could not decode: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object) -> str:
    """`text` (or `str(text)`, or a bytes path decoded) with every unsafe character escaped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    return _UNSAFE.sub(lambda m: _escape(m.group()), text if isinstance(text, str) else str(text))


def printable(text: str, limit: int = 60) -> str:
    """`text` quoted inside a one-line message (a CSV cell, an `.npz` member name): cut in the
    middle to about `limit` characters, then `shown`, with newlines and every other invisible
    character (`str.isprintable`) escaped too."""
    if len(text) > limit:
        half = limit // 2
        text = text[:half] + "…" + text[-half:]
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in shown(text))
