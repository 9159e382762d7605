"""Flask extensions, created unbound and bound to each app in ``create_app`` (``init_app``).

Flask-SocketIO is the exception: each app gets its own ``SocketIO`` (see ``web.realtime``) because its server
object holds per-app state that tests must not share.
"""

from __future__ import annotations

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
