"""k6/crypto: hashes, HMACs and random bytes, as k6 1.1.0 has them.

The hash state lives here: each ``createHash``/``createHMAC`` makes a
hashlib/hmac object kept under a number that the JavaScript Hasher holds.
The JavaScript face drops it when a one-shot call (``md5()``, ``hmac()``)
ends or when the Hasher is garbage-collected. Which JavaScript values are
accepted, and the Go type name k6's error gives for the others, is decided
on the JavaScript side (it is about JavaScript types); a refused value
arrives here as ``problem`` so that the errors come in k6's order: the
algorithm first, then the key, then the data, then the output encoding.

k6 1.1.0 crashes (a Go nil-pointer panic) on ``createHash`` with an unknown
algorithm; here it is the error ``createHMAC`` gives for one.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import ssl
from typing import Any, Callable, Mapping

from k6host.engine.interpreter import HostError
from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU
from k6host.modules.k6.encoding import b64encode, to_bytes

# k6's names, which are also hashlib's.
ALGORITHMS = ("md4", "md5", "sha1", "sha256", "sha384", "sha512", "sha512_224", "sha512_256", "ripemd160")

# Output encodings but "binary", which hands the digest over as an ArrayBuffer.
_ENCODERS: dict[str, Callable[[bytes], str]] = {
    "hex": bytes.hex,
    "base64": lambda digest: b64encode(digest, "std"),
    "base64url": lambda digest: b64encode(digest, "url"),
    "base64rawurl": lambda digest: b64encode(digest, "rawurl"),
}

# A VU's heap holds at most 128 MiB (dukpy's limit): a bigger ArrayBuffer
# cannot exist, so such a size is refused before the bytes are drawn.
MAX_RANDOM_BYTES = 128 * 1024 * 1024

Hash = Any  # a hashlib hash or an hmac.HMAC: update(), digest()


def _unavailable(algorithm: str) -> HostError:
    return HostError(
        f"{algorithm} is not available: this Python's hashlib ({ssl.OPENSSL_VERSION}) does not offer it"
    )


def new_hash(algorithm: str, key: bytes | None = None) -> Hash:
    """A hash (an HMAC when ``key`` is given) by k6's name of the algorithm."""
    if algorithm not in ALGORITHMS:
        raise HostError(f"invalid algorithm: {algorithm}")
    try:
        return hashlib.new(algorithm) if key is None else hmac.new(key, digestmod=algorithm)
    except ValueError:  # OpenSSL 3 keeps md4 (and on some builds ripemd160) in its legacy provider
        raise _unavailable(algorithm) from None


class CryptoInstance(Instance):
    def __init__(self, root: Module, vu: ModuleVU) -> None:
        super().__init__(root, vu)
        self._hashes: dict[int, Hash] = {}
        self._ids = itertools.count(1)
        self._warned_encoding = False

    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "createHash": self.create_hash,
            "createHMAC": self.create_hmac,
            "update": self.update,
            "digest": self.digest,
            "finish": self.finish,
            "drop": self.drop,
            "hexEncode": self.hex_encode,
            "randomBytes": self.random_bytes,
        }

    def _input(self, text: str | None, problem: str | None, prefix: str = "") -> bytes:
        """What the script passed: ``text`` (UTF-8), or the bytes on its side
        (``text`` None); ``problem`` names the Go type k6 would have refused."""
        if problem is not None:
            raise HostError(f"{prefix}invalid type {problem}, expected string, []byte or ArrayBuffer")
        if text is not None:
            return to_bytes(text, "utf8")
        data = self.vu.take_bytes()
        if data is None:
            raise HostError(f"{prefix}the bytes passed were not readable")
        return data

    def _keep(self, hashed: Hash) -> int:
        number = next(self._ids)
        self._hashes[number] = hashed
        return number

    def _hash(self, number: int) -> Hash:
        hashed = self._hashes.get(number)
        if hashed is None:
            raise HostError("this Hasher was already released")
        return hashed

    def _output(self, hashed: Hash, encoding: str) -> str | None:
        """The digest as ``encoding`` says; for "binary", None and the bytes left for the script."""
        if encoding == "binary":
            self.vu.put_bytes(hashed.digest())
            return None
        encode = _ENCODERS.get(encoding)
        if encode is None:
            raise HostError(f"invalid output encoding: {encoding}")
        return encode(hashed.digest())

    def create_hash(self, algorithm: str) -> int:
        return self._keep(new_hash(algorithm))

    def create_hmac(self, algorithm: str, text: str | None, problem: str | None) -> int:
        if algorithm not in ALGORITHMS:  # checked before the key, as k6 does
            raise HostError(f"invalid algorithm: {algorithm}")
        return self._keep(new_hash(algorithm, self._input(text, problem)))

    def update(self, number: int, encoding_given: bool, text: str | None, problem: str | None) -> None:
        hashed = self._hash(number)
        if encoding_given and not self._warned_encoding:
            # k6 ignores it too; say so once rather than hash differently from k6.
            self._warned_encoding = True
            self.vu.log("warning", "Hasher.update() takes no input encoding (as in k6): "
                        "a string is hashed as UTF-8 and the second argument is ignored")
        hashed.update(self._input(text, problem))

    def digest(self, number: int, encoding: str) -> str | None:
        # As in Go, a digest does not reset the hash: updates may follow.
        return self._output(self._hash(number), encoding)

    def finish(self, number: int, encoding: str, prefix: str, text: str | None, problem: str | None) -> str | None:
        """A one-shot call's last step: feed the data, digest, release."""
        hashed = self._hash(number)
        del self._hashes[number]
        hashed.update(self._input(text, problem, prefix))
        return self._output(hashed, encoding)

    def drop(self, number: int) -> None:
        self._hashes.pop(number, None)

    def hex_encode(self, text: str | None, problem: str | None) -> str:
        return self._input(text, problem).hex()

    def random_bytes(self, size: int) -> None:
        """The bytes are left for the script (native.takeReturned)."""
        if size < 1:
            raise HostError("invalid size")
        if size > MAX_RANDOM_BYTES:
            raise HostError(f"invalid size: {size} bytes is more than a VU's heap can hold ({MAX_RANDOM_BYTES})")
        self.vu.put_bytes(secrets.token_bytes(size))

    def close(self) -> None:
        self._hashes.clear()


class Crypto(Module):
    name = "k6/crypto"
    javascript = jsmodules_dir() / "k6" / "crypto.js"
    exports = (
        "createHash", "createHMAC", "hmac", "md4", "md5", "sha1", "sha256", "sha384", "sha512",
        "sha512_224", "sha512_256", "ripemd160", "hexEncode", "randomBytes",
    )

    def instance(self, vu: ModuleVU) -> Instance:
        return CryptoInstance(self, vu)
