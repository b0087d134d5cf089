"""What a script hears when it imports a k6 module k6host does not have.

k6's own advice for modules it removed or graduated is kept word for word
(k6 1.1.0 throws it as a GoError); for the others the message says that k6
has the module, k6host does not, and what k6host offers instead.
"""

from __future__ import annotations

import json
from typing import Iterable

# k6 1.1.0's messages, exactly.
_K6_ADVICE = {
    "k6/experimental/timers": "k6/experimental/timers has been graduated, and it's now globally available as "
    "defined by standard WebAPIs. You just need to remove the import.",
    "k6/experimental/browser": "k6/experimental/browser has been graduated, please use k6/browser instead."
    "Please update your imports to use k6/browser instead of k6/experimental/browser, For more information, see "
    "the migration guide at the link: https://grafana.com/docs/k6/latest/using-k6-browser/migrating-to-k6-v0-52/",
    "k6/experimental/tracing": "k6/experimental/tracing has been removed. All of it functionality is available "
    "as pure JavaScript module. More info available at the docs: "
    "https://grafana.com/docs/k6/latest/javascript-api/jslib/http-instrumentation-tempo",
    "k6/experimental/webcrypto": "k6/experimental/webcrypto has been graduated and it's now globally available "
    "as defined by standard WebAPIs. You just need to remove the import.",
    "k6/experimental/grpc": "k6/experimental/grpc has been graduated, please use k6/net/grpc instead. See "
    "https://grafana.com/docs/k6/latest/javascript-api/k6-net-grpc/ for more information.",
}
# What k6 1.1.0 has that k6host does not.
_K6_ONLY = (
    "k6/http", "k6/ws", "k6/browser", "k6/net/grpc", "k6/html", "k6/secrets",
    "k6/experimental/redis", "k6/experimental/websockets", "k6/experimental/streams", "k6/experimental/csv",
    "k6/experimental/fs",
)


def explanation(name: str, offered: Iterable[str]) -> str | None:
    """The message for importing ``name``, or None when it is no k6 module name;
    ``offered``: the modules a script may import here (the registry's)."""
    if name in _K6_ADVICE:
        return _K6_ADVICE[name]
    names = sorted(offered)
    offered_text = ", ".join(names)
    if name in _K6_ONLY:
        return f"{name} is a module of k6 that k6host does not have; k6host offers {offered_text}"
    if name.startswith("k6/x/"):
        extensions = ", ".join(n for n in names if n.startswith("k6/x/")) or "none"
        return (f"unknown module: {name}: k6host has no such extension (extensions here: {extensions}; "
                "one written in Python is added with pip or --module-path)")
    if name.startswith("k6/"):
        return f"unknown module: {name}: neither k6 nor k6host has it; k6host offers {offered_text}"
    return None


def throwing_source(
    name: str, exports: Iterable[str] = (), message: str | None = None, offered: Iterable[str] = ()
) -> str | None:
    """A module body that throws ``message`` (else the explanation) as k6 throws its GoErrors, or None.

    As an ES module it declares ``exports`` (what its importers ask for), so
    that linking succeeds and the explanation is what the script hears.
    """
    message = message or explanation(name, offered)
    if message is None:
        return None
    # No stack: its only frame would be this generated module's.
    lines = [f"const e = new Error({json.dumps(message)}); e.name = \"GoError\"; e.stack = \"\"; throw e;"]
    named = sorted(n for n in set(exports) if n != "default" and n.isidentifier())
    if "default" in exports:
        lines.append("export default undefined;")
    lines += [f"export const {n} = undefined;" for n in named]
    return "\n".join(lines)
