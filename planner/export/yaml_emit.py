"""A tiny YAML writer for the plain nested dicts the exporters produce (TRT-LLM's `--config` file).

Why not PyYAML: the core package stays dependency-light, and the input is narrow: dicts with str keys, values
that are str/int/float/bool/None, nested dicts, or lists of scalars. Strings are quoted whenever a YAML
reader could take them for something else (numbers, booleans, null, leading indicators, ': ', ' #'), as
double-quoted scalars with YAML escapes for anything not printable."""

from __future__ import annotations

import math
import re

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./+-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write non-finite number {v!r} to YAML")
        return repr(v)
    if isinstance(v, str):
        if _PLAIN.match(v) and v.lower() not in _RESERVED:
            return v
        return _quote(v)
    raise TypeError(f"cannot write {type(v).__name__} to YAML")


def _quote(s: str) -> str:
    """Double-quoted scalar: printable characters stay as they are, everything else is escaped (YAML reads
    \\uXXXX / \\UXXXXXXXX; JSON-style surrogate pairs for astral characters would not round-trip)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF and o not in (0x2028, 0x2029) \
                or 0xE000 <= o <= 0xFFFD and o != 0xFEFF or o >= 0x10000:
            out.append(ch)
        else:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def dump(d: dict, indent: int = 0) -> str:
    """Block-style YAML for a dict; empty dicts/lists become {} / []."""
    pad = " " * indent
    lines = []
    for k, v in d.items():
        key = scalar(str(k))
        if isinstance(v, dict):
            if v:
                lines.append(f"{pad}{key}:")
                lines.append(dump(v, indent + 2).rstrip("\n"))
            else:
                lines.append(f"{pad}{key}: {{}}")
        elif isinstance(v, (list, tuple)):
            if not v:
                lines.append(f"{pad}{key}: []")
            else:
                lines.append(f"{pad}{key}:")
                for item in v:
                    if isinstance(item, (dict, list, tuple)):
                        raise TypeError("nested containers inside lists are not supported")
                    lines.append(f"{pad}  - {scalar(item)}")
        else:
            lines.append(f"{pad}{key}: {scalar(v)}")
    return "\n".join(lines) + "\n"
