"""k6/encoding (base64), and turning what ``socket.write()`` was given into bytes."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Callable, Mapping

from k6host.engine.interpreter import HostError
from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class EncodingError(HostError, ValueError):
    """The string does not decode with the encoding the script named."""


def _b64(text: str, alphabet: re.Pattern[str], altchars: bytes | None, name: str) -> bytes:
    if not alphabet.fullmatch(text) or len(text.rstrip("=")) % 4 == 1:
        raise EncodingError(f"invalid {name} data")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except binascii.Error as exc:
        raise EncodingError(f"invalid {name} data: {exc}") from None


def to_bytes(data: str, encoding: str) -> bytes:
    """Encode ``data`` as ``encoding`` says (``binary``: one byte per char).

    Encodings are already lower-cased and checked by the JavaScript side.
    """
    if encoding in ("utf8", "utf-8"):
        try:
            return data.encode()
        except UnicodeEncodeError:
            # Lone surrogates cannot be UTF-8; write U+FFFD as TextEncoder does.
            return data.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()
    if encoding == "binary":
        return data.encode("latin-1")
    if encoding == "ascii":
        try:
            return data.encode("ascii")
        except UnicodeEncodeError as exc:
            raise EncodingError(f"invalid ascii data: non-ASCII character at index {exc.start}") from None
    if encoding == "base64":
        return _b64(data, _BASE64, None, "base64")
    if encoding == "base64url":
        return _b64(data, _BASE64URL, b"-_", "base64url")
    if encoding == "hex":
        try:
            return binascii.unhexlify(data)
        except (binascii.Error, ValueError):
            raise EncodingError("invalid hex data: expected pairs of hex digits 0-9, a-f") from None
    raise EncodingError(f"unsupported encoding {encoding!r}")



# k6/encoding: base64 variants by k6's names -> (url-safe alphabet, padded).
_B64_VARIANTS = {"std": (False, True), "rawstd": (False, False), "url": (True, True), "rawurl": (True, False)}


def b64encode(data: bytes, variant: str) -> str:
    """An unknown variant means std, as in k6."""
    url, padded = _B64_VARIANTS.get(variant, _B64_VARIANTS["std"])
    out = base64.urlsafe_b64encode(data) if url else base64.b64encode(data)
    return (out if padded else out.rstrip(b"=")).decode("ascii")


def b64decode(text: str, variant: str) -> bytes:
    """As strict as Go's decoders, which k6 uses: padding exactly where the
    variant wants it, and errors that give the offending byte's offset.
    """
    url, padded = _B64_VARIANTS.get(variant, _B64_VARIANTS["std"])
    alphabet = _BASE64URL if url else _BASE64
    body = text.rstrip("=")
    for index, char in enumerate(body):
        if not alphabet.fullmatch(char):
            raise EncodingError(f"illegal base64 data at input byte {index}")
    padding = len(text) - len(body)
    if (padded and (len(text) % 4 or padding > 2)) or (not padded and padding) or len(body) % 4 == 1:
        raise EncodingError(f"illegal base64 data at input byte {len(body) if padding or not padded else len(text)}")
    return base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_" if url else None)


class EncodingInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"b64encode": self.b64encode, "b64decode": self.b64decode}

    def b64encode(self, text: str | None, variant: str) -> str:
        """``text`` is encoded as UTF-8; None: the bytes are on the script's side."""
        data = self.vu.take_bytes() if text is None else to_bytes(text, "utf8")
        if data is None:
            raise HostError("b64encode: the bytes to encode were not readable")
        return b64encode(data, variant)

    def b64decode(self, text: str, variant: str, as_string: bool) -> str | None:
        """The decoded text; or the bytes, left for the script (native.takeReturned)."""
        data = b64decode(text, variant)
        if as_string:
            return data.decode("utf-8", "replace")
        self.vu.put_bytes(data)
        return None


class Encoding(Module):
    name = "k6/encoding"
    javascript = jsmodules_dir() / "k6" / "encoding.js"
    exports = ("b64encode", "b64decode")

    def instance(self, vu: ModuleVU) -> Instance:
        return EncodingInstance(self, vu)
