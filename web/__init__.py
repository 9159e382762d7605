"""The dashboard: Flask + Flask-SocketIO (threading mode). Build it with ``create_app(settings, services)``."""

from web.app import create_app
from web.services import Services

__all__ = ["Services", "create_app"]
