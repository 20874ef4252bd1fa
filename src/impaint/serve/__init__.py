"""`impaint serve`: a local web page to paint over what should go and fill it, and the
JSON/HTTP API under it (app.py); the page is plain HTML, CSS and JS in static/."""

from .app import Limits, create_app
from .server import running, serve

__all__ = ["Limits", "create_app", "running", "serve"]
