"""Reading a spec file: its text, decoded as TOML or JSON, with the line and column of a decoding error."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from shapeviz.frontends.spec.schema import SpecError


def read_spec_file(path: str | Path) -> tuple[str, str, str, Any]:
    """Read and decode a ``.toml`` or ``.json`` spec file.

    Args:
        path: the spec file.

    Returns:
        ``(source, text, suffix, data)``: the file as messages name it, its text, its lower-case
        suffix and the decoded document. Raises :class:`SpecError` for a file that cannot be read
        or decoded.
    """
    source = str(path)
    suffix = Path(source).suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"expected a .toml or .json spec file, got {Path(source).name!r}", source=source)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", source=source) from None
    except IsADirectoryError:
        raise SpecError("expected a spec file, got a directory", source=source) from None
    except UnicodeDecodeError as error:
        raise SpecError(f"cannot read the file: it is not UTF-8 text ({error.reason} at byte {error.start})",
                        source=source) from None
    except OSError as error:
        raise SpecError(f"cannot read the file: {error.strerror or error}", source=source) from None
    data = _decode_toml(text, source) if suffix == ".toml" else _decode_json(text, source)
    return source, text, suffix, data


def _decode_toml(text: str, source: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI (a dependency on Python 3.10)
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if m is not None:
            line, column = int(m.group(1)), int(m.group(2))
            message = message[:m.start()]
            if message.startswith(("Cannot overwrite", "Cannot declare")):
                message += " (a key or table given twice)"
        else:
            line, column = max(1, text.count("\n") + (0 if text.endswith("\n") else 1)), None
            message = re.sub(r"\s*\(at end of document\)$", " (at the end of the file)", message)
        raise SpecError(f"not valid TOML: {message}{_show(text, line, column)}", source=source, line=line,
                        column=column) from None
    except RecursionError:
        raise SpecError("not valid TOML: nested too deeply", source=source) from None


def _decode_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_JSONObject)
    except json.JSONDecodeError as error:
        raise SpecError(f"not valid JSON: {error.msg}{_show(text, error.lineno, error.colno)}", source=source,
                        line=error.lineno, column=error.colno) from None
    except RecursionError:
        raise SpecError("not valid JSON: nested too deeply", source=source) from None


def _show(text: str, line: int, column: int | None) -> str:
    """The offending line, with a caret under the column."""
    rows = text.splitlines()
    if not 1 <= line <= len(rows):
        return ""
    row = rows[line - 1]
    if len(row) > 120:
        return ""
    caret = f"\n  {' ' * (column - 1)}^" if column else ""
    return f"\n  {row}{caret}"


class _JSONObject(dict):
    """A JSON object that remembers the keys it was given twice (``json`` keeps the last silently)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.repeated: list[tuple[str, Any, Any]] = []
        for key, value in pairs:
            if key in self:
                self.repeated.append((key, self[key], value))
            self[key] = value

