"""`impaint serve`: a local web page to paint over what should go and fill it, and the
JSON/HTTP API under it (app.py, with form, pool, work, guards and errors beside it; server.py);
the page is plain HTML, CSS and JS in static/.

Import `create_app` from `impaint.serve.app` and `serve` / `running` from
`impaint.serve.server`: this package imports only its light `Limits`, so that the CLI starts
without loading the web stack.
"""

from .limits import Limits

__all__ = ["Limits"]
