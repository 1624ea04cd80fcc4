"""Where a key of a spec file is written: line numbers for key paths in TOML and JSON text.

``tomllib`` and ``json`` return plain dicts with no positions, so a schema error found
after decoding would have no line. These functions scan the (already decoded, hence
valid) text once more and map every key path they can recognise, such as
``("layers", 1, "units")``, to the line where it is written. This is best effort:

- TOML: table headers (``[model]``, ``[[layers]]``, ``[layers.layer]``) and ``key = value``
  lines, with bare, quoted and dotted keys; the keys of an inline table
  (``layer = { kind = "lstm" }``) and the items of an array are not indexed, so a path
  inside them resolves to the line of the key that holds them.
- JSON: every key and every array item, exactly.

:func:`line_of` falls back to the nearest indexed ancestor of a path, so a missing key is
reported at its table's header.
"""

from __future__ import annotations

import bisect
import re
from json.decoder import scanstring
from typing import Union

KeyPath = tuple[Union[str, int], ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_WS = re.compile(r"[ \t]*")


def _toml_keys(text: str, pos: int) -> tuple[list[str], int] | None:
    """A dotted TOML key starting at ``pos``: its parts and the position after it, or None."""
    parts: list[str] = []
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            return None
        c = text[pos]
        if c == '"':
            try:
                key, pos = scanstring(text, pos + 1)  # TOML's basic strings escape as JSON's do
            except ValueError:
                return None
        elif c == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                return None
            key, pos = text[pos + 1:end], end + 1
        else:
            m = _BARE.match(text, pos)
            if m is None:
                return None
            key, pos = m.group(), m.end()
        parts.append(key)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    """``{key path: line}`` for the headers and ``key = value`` lines of TOML ``text``.

    Array-of-tables headers count their items: the second ``[[layers]]`` is ``("layers", 1)``,
    and ``[layers.layer]`` after it is ``("layers", 1, "layer")``.
    """
    lines: dict[KeyPath, int] = {}
    arrays: dict[KeyPath, int] = {}  # array-of-tables path -> index of its last item
    table: KeyPath = ()
    in_string: str | None = None  # the delimiter of an open multi-line string

    def resolve(keys: list[str]) -> KeyPath:
        path: KeyPath = ()
        for key in keys:
            path += (key,)
            if path in arrays:
                path += (arrays[path],)
        return path

    for number, raw in enumerate(text.splitlines(), 1):
        if in_string is not None:
            if raw.count(in_string) % 2 == 1:
                in_string = None
            continue
        stripped = raw.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        start = len(raw) - len(stripped)
        if stripped.startswith("[["):
            parsed = _toml_keys(raw, start + 2)
            if parsed:
                base = resolve(parsed[0][:-1]) + (parsed[0][-1],)
                arrays[base] = arrays.get(base, -1) + 1
                table = base + (arrays[base],)
                lines.setdefault(base, number)
                lines[table] = number
            continue
        if stripped.startswith("["):
            parsed = _toml_keys(raw, start + 1)
            if parsed:
                table = resolve(parsed[0])
                lines[table] = number
            continue
        parsed = _toml_keys(raw, start)
        if parsed is None or parsed[1] >= len(raw) or raw[parsed[1]] != "=":
            continue  # a line of a multi-line array, or not a key
        path = table
        for key in parsed[0]:
            path += (key,)
            lines.setdefault(path, number)
        rest = raw[parsed[1] + 1:]
        for delim in ('"""', "'''"):
            if rest.count(delim) % 2 == 1:
                in_string = delim
                break
    return lines


def json_key_lines(text: str) -> dict[KeyPath, int]:
    """``{key path: line}`` for every key and array item of valid JSON ``text`` ({} if it is not)."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lines: dict[KeyPath, int] = {}
    ws = re.compile(r"[ \t\n\r]*")
    scalar = re.compile(r"-?(?:\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")

    def line(pos: int) -> int:
        return bisect.bisect_right(starts, pos)

    def skip(pos: int) -> int:
        return ws.match(text, pos).end()  # type: ignore[union-attr]

    # an explicit stack, not recursion: a deeply nested document must not exhaust Python's stack
    pos = skip(0)
    stack: list[tuple[str, KeyPath, int]] = []  # (container kind, its path, next item index)
    path: KeyPath = ()
    try:
        while True:
            c = text[pos]
            if c in "{[":
                stack.append(("{" if c == "{" else "[", path, 0))
                pos = skip(pos + 1)
                if text[pos] in "}]":
                    stack.pop()
                    pos += 1
                else:
                    path = _enter(text, pos, stack, lines, line)
                    if stack[-1][0] == "{":
                        pos = skip(scanstring(text, pos + 1)[1])
                        pos = skip(pos + 1)  # the ':'
                    continue
            elif c == '"':
                pos = scanstring(text, pos + 1)[1]
            else:
                m = scalar.match(text, pos)
                if m is None:
                    return {}
                pos = m.end()
            # a value ended: close containers until one has a next item
            while True:
                pos = skip(pos)
                if not stack:
                    return lines
                if text[pos] == ",":
                    kind, parent, index = stack[-1]
                    stack[-1] = (kind, parent, index + 1)
                    pos = skip(pos + 1)
                    path = _enter(text, pos, stack, lines, line)
                    if kind == "{":
                        pos = skip(scanstring(text, pos + 1)[1])
                        pos = skip(pos + 1)
                    break
                stack.pop()
                pos += 1
    except (IndexError, ValueError):
        return {}


def _enter(text: str, pos: int, stack: list, lines: dict, line: object) -> KeyPath:
    """The path of the item starting at ``pos`` in the innermost container; records its line."""
    kind, parent, index = stack[-1]
    path = parent + ((scanstring(text, pos + 1)[0],) if kind == "{" else (index,))
    lines.setdefault(path, line(pos))  # type: ignore[operator]
    return path


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, else of its nearest indexed ancestor, else None."""
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None
