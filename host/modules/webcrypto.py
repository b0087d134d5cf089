"""crypto: the global k6 scripts use for random values (WebCrypto's
``getRandomValues`` and ``randomUUID``). ``crypto.subtle`` is not offered;
reading it throws an error that says so.

A module of its own rather than part of k6/crypto: the global exists in
every VU (importable=False, as console), while k6/crypto is loaded only by
the scripts that import it.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Callable, Mapping

from k6host.engine.loader import jsmodules_dir
from k6host.modules.api import Instance, Module, ModuleVU


class WebCryptoInstance(Instance):
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return {"fill": self.fill, "randomUUID": self.random_uuid}

    def fill(self, size: int) -> None:
        """``size`` random bytes, left for the script (native.takeReturned)."""
        self.vu.put_bytes(secrets.token_bytes(size))

    def random_uuid(self) -> str:
        return str(uuid.uuid4())


class WebCrypto(Module):
    name = "crypto"
    javascript = jsmodules_dir() / "webcrypto.js"
    exports = ("crypto",)
    globals = ("crypto",)
    importable = False

    def instance(self, vu: ModuleVU) -> Instance:
        return WebCryptoInstance(self, vu)
