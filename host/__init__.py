"""k6host: run k6 scripts that use k6/x/tcp, from Python."""

__version__ = "0.1.0"
