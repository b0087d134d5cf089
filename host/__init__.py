"""k6host: run k6 scripts that use k6/x/tcp, from Python."""

__version__ = "0.1.0"

from k6host.api import RunResult, run  # noqa: E402  (the API needs __version__ set first)

__all__ = ["RunResult", "run", "__version__"]
