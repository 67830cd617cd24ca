"""Reading a JSON list one element at a time, in bounded memory.

:func:`iter_json_list` decodes a binary file as it streams by and hands out the list's elements
with :meth:`json.JSONDecoder.raw_decode` on a sliding text buffer: memory holds the element being
read and a block of the file, not the whole list. It yields what ``json.load`` would give for the
list (the same values in the same order) and raises :class:`ValueError` with a one-line reason,
naming the element, for anything ``json.load`` refuses.
"""
from __future__ import annotations

import codecs
import json
import re
from typing import Any, BinaryIO, Iterator

#: Bytes read from the file at a time.
BLOCK = 1 << 16
#: Longest element accepted, in characters; a longer one (or a broken one) is refused when the
#: buffer passes this length without the element decoding.
MAX_ELEMENT = 16 * 1024 * 1024

_WHITESPACE = " \t\n\r"
_NUMBER = re.compile(r"[0-9.eE+-]*")


class _Buffer:
    """Decoded text of the file from the current element on, refilled on demand."""

    def __init__(self, fh: BinaryIO, block: int):
        self.fh, self.block = fh, block
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text, self.pos, self.eof, self.offset = "", 0, False, 0

    def more(self) -> bool:
        """Read another block (as large as the text held, so retries stay linear); False at EOF."""
        if self.eof:
            return False
        if self.pos:
            self.offset += self.pos
            self.text, self.pos = self.text[self.pos:], 0
        data = self.fh.read(max(self.block, len(self.text)))
        try:
            self.text += self.decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text (save the manifest as UTF-8)") from None
        self.eof = not data
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file), not consumed."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def value(self, decoder: json.JSONDecoder, label: str) -> Any:
        """Decode the value after any whitespace, reading more until it is whole."""
        self.peek()
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
            except RecursionError:
                raise ValueError(f"{label} is not valid JSON (nested too deeply)") from None
            except json.JSONDecodeError as exc:
                if self._grow(label):
                    continue
                raise ValueError(f"{label} is not valid JSON ({exc.msg}, at character "
                                 f"{self.offset + exc.pos})") from None
            if self.eof or not self._may_go_on(value, end) or not self._grow(label):
                self.pos = end
                return value

    def _may_go_on(self, value: Any, end: int) -> bool:
        """Whether the value might be longer than decoded: a number ("1", "1.", "1.5e") whose
        characters run to the end of the buffer, or any value that ends the buffer."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            end = _NUMBER.match(self.text, end).end()
        return end >= len(self.text)

    def _grow(self, label: str) -> bool:
        if len(self.text) - self.pos > MAX_ELEMENT:
            raise ValueError(f"{label} is longer than {MAX_ELEMENT // 2**20} MiB or not valid JSON")
        return self.more()


def iter_json_list(fh: BinaryIO, *, block: int = BLOCK) -> Iterator[Any]:
    """The elements of the JSON list in binary file ``fh``, one at a time.

    Raises
    ------
    ValueError
        If the file is not a JSON list (one line, naming the element or position at fault).
    """
    buf, decoder = _Buffer(fh, block), json.JSONDecoder()
    if buf.peek() != "[":
        raise ValueError("a .json manifest is a list of records ('[' first); "
                         "or write one record a line as .jsonl")
    buf.pos += 1
    if buf.peek() == "]":
        buf.pos += 1
    else:
        yield from _elements(buf, decoder)
    if buf.peek():
        raise ValueError(f"extra data after the list, at character {buf.offset + buf.pos}")


def _elements(buf: _Buffer, decoder: json.JSONDecoder) -> Iterator[Any]:
    """Elements up to and including the list's closing ``]``."""
    n = 0
    while True:
        n += 1
        yield buf.value(decoder, f"record {n}")
        sep = buf.peek()
        if sep == "]":
            buf.pos += 1
            return
        if sep != ",":
            where = "the end of the file" if not sep else f"{sep!r} at character {buf.offset + buf.pos}"
            raise ValueError(f"record {n} is not followed by ',' or ']' but by {where}")
        buf.pos += 1
