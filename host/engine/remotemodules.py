"""Modules imported by URL (``import { textSummary } from "https://jslib.k6.io/..."``).

k6 fetches them at every run; k6host fetches each URL once and keeps it in an
on-disk cache (``K6HOST_CACHE_DIR``, else ``$XDG_CACHE_HOME/k6host/modules``,
else ``~/.cache/k6host/modules``), so a test that ran once runs offline. A URL
names one version of a module (jslib's do), so a cached copy is used as is;
delete the cache folder to fetch again. TLS is verified against the system's
roots, or ``SSL_CERT_FILE``, as for any OpenSSL program.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlparse

_TIMEOUT = 30.0  # seconds for one fetch
_MAX_SIZE = 32 * 1024 * 1024  # a module larger than this is refused, not read into memory
_lock = threading.Lock()
_errors: dict[str, str] = {}  # URL -> why it could not be fetched, for the error the script sees


def is_remote(name: str) -> bool:
    return name.startswith(("https://", "http://"))


def join(base: str, name: str) -> str:
    """``name`` (relative or absolute path) imported from the module at URL ``base``."""
    return urljoin(base, name)


def cache_dir() -> Path:
    configured = os.environ.get("K6HOST_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "k6host" / "modules"


def _cache_path(url: str) -> Path:
    ext = posixpath.splitext(urlparse(url).path)[1]
    ext = ext if ext in (".js", ".mjs", ".cjs") else ".js"
    return cache_dir() / (hashlib.sha256(url.encode("utf-8")).hexdigest()[:40] + ext)


def local_copy(url: str) -> str | None:
    """The path of the module's cached copy, fetched now if it is not there; None if it
    cannot be had (``fetch_error`` says why)."""
    path = _cache_path(url)
    if path.is_file():
        return str(path)
    with _lock:  # VUs start together: one fetch per URL
        if path.is_file():
            return str(path)
        try:
            data = _fetch(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".fetching-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temporary, path)  # whole or not at all, for other processes too
        except _FetchError as exc:
            _errors[url] = str(exc)
            return None
        except OSError as exc:
            _errors[url] = f"cannot cache it in {path.parent}: {exc.strerror or exc}"
            return None
    return str(path)


def fetch_error(url: str) -> str:
    return f"cannot load {url}: {_errors.get(url, 'unknown error')}"


class _FetchError(Exception):
    pass


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "k6host"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT, context=ssl.create_default_context()) as response:
            data = response.read(_MAX_SIZE + 1)
    except urllib.error.HTTPError as exc:
        raise _FetchError(f"the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise _FetchError(f"TLS certificate not trusted: {reason.verify_message} "
                              "(set SSL_CERT_FILE to trust another CA)") from None
        raise _FetchError(str(getattr(reason, "strerror", None) or reason).lower()) from None
    except (OSError, ValueError) as exc:
        raise _FetchError(str(exc) or type(exc).__name__) from None
    if len(data) > _MAX_SIZE:
        raise _FetchError(f"larger than {_MAX_SIZE // (1024 * 1024)} MiB")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _FetchError("not UTF-8 text") from None
    return data
