"""`impaint serve`: a local web page to paint over what should go and fill it, and the
JSON/HTTP API under it; the page is plain HTML, CSS and JS in static/.

app.py       the ASGI app (`create_app`): its routes, a request's path through them
form.py      a request's form, read and checked against the caps before any work
pool.py      the worker threads and their queue (503 with Retry-After)
work.py      one request's work on a worker: decode, inpaint or preview, encode
guards.py    the Host and Origin checks
errors.py    errors as one-line JSON (`ApiError`)
server.py    the socket, uvicorn, the URL printed (`serve`, `running`)
limits.py    the caps' settings (`Limits`), light: the CLI shows them without the web stack
loadtest.py  a bounded load test: latency, errors, the server's memory

Import `create_app` from `impaint.serve.app` and `serve` / `running` from
`impaint.serve.server`: this package imports only its light `Limits`, so that the CLI starts
without loading the web stack.
"""

from .limits import Limits

__all__ = ["Limits"]
