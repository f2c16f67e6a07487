"""The local web dashboard: FastAPI JSON API, Jinja2 pages, plain JavaScript with plotly.js.

Needs the ``web`` extra (``pip install "chip2grid[web]"``). ``chip2grid serve`` runs
:func:`create_app` with uvicorn on 127.0.0.1.
"""

from __future__ import annotations

from chip2grid.web.app import create_app
from chip2grid.web.security import MAX_BODY_BYTES, RemoteHostError, check_host, is_loopback

__all__ = ["MAX_BODY_BYTES", "RemoteHostError", "check_host", "create_app", "is_loopback"]
