"""Parser for the small VKScript subset EvoSync sends to `execute`: ``return [API.a.b({...}), ...];``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# VK allows at most this many API calls in one execute (error 13 beyond it).
MAX_EXECUTE_CALLS = 25

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WS = re.compile(r"\s*")
_DECODER = json.JSONDecoder()


class VkScriptCompileError(ValueError):
    """The code is not of the accepted form (VK answers error 12 "Unable to compile code")."""


@dataclass(frozen=True)
class ApiCall:
    """One `API.<section>.<name>(<params>)` call found in the code."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)


class _Reader:
    """A cursor over the code with the few token readers the grammar needs."""

    def __init__(self, code: str):
        self.code = code
        self.pos = 0

    def skip_ws(self) -> None:
        self.pos = _WS.match(self.code, self.pos).end()

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.code)

    def peek(self, literal: str) -> bool:
        self.skip_ws()
        return self.code.startswith(literal, self.pos)

    def expect(self, literal: str) -> None:
        if not self.peek(literal):
            raise VkScriptCompileError(f"expected {literal!r} at position {self.pos}")
        self.pos += len(literal)

    def ident(self) -> str:
        self.skip_ws()
        match = _IDENT.match(self.code, self.pos)
        if not match:
            raise VkScriptCompileError(f"expected a name at position {self.pos}")
        self.pos = match.end()
        return match.group(0)

    def json_object(self) -> dict[str, Any]:
        self.skip_ws()
        try:
            value, end = _DECODER.raw_decode(self.code, self.pos)
        except json.JSONDecodeError as exc:
            raise VkScriptCompileError(f"bad object literal at position {self.pos}: {exc.msg}") from None
        if not isinstance(value, dict):
            raise VkScriptCompileError(f"call parameters must be an object at position {self.pos}")
        self.pos = end
        return value


def parse_execute_code(code: str) -> list[ApiCall]:
    """Parse ``return [API.x.y({...}), ...];`` into calls; raise VkScriptCompileError otherwise.

    The argument may be omitted (``API.x.y()``), the trailing ``;`` is optional and whitespace
    is free; anything else (variables, loops, other expressions) is refused, because EvoSync
    never sends it and a silent misreading would hide a client bug.
    """
    reader = _Reader(code)
    if reader.ident() != "return":
        raise VkScriptCompileError("code must start with 'return'")
    reader.expect("[")
    calls: list[ApiCall] = []
    if reader.peek("]"):
        reader.expect("]")
    else:
        while True:
            calls.append(_parse_call(reader))
            if reader.peek(","):
                reader.expect(",")
                continue
            reader.expect("]")
            break
    if reader.peek(";"):
        reader.expect(";")
    if not reader.at_end():
        raise VkScriptCompileError(f"unexpected text at position {reader.pos}")
    return calls


def _parse_call(reader: _Reader) -> ApiCall:
    if reader.ident() != "API":
        raise VkScriptCompileError(f"expected 'API' at position {reader.pos}")
    reader.expect(".")
    section = reader.ident()
    reader.expect(".")
    name = reader.ident()
    reader.expect("(")
    params: dict[str, Any] = {}
    if not reader.peek(")"):
        params = reader.json_object()
    reader.expect(")")
    return ApiCall(method=f"{section}.{name}", params=params)
