"""Domain errors and HTTP errors rendered once: an HTML page for the browser, JSON for the API."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template
from werkzeug.exceptions import HTTPException

from callcenter.errors import CallCenterError
from web.auth import wants_json

logger = logging.getLogger(__name__)

_TITLES = {
    400: "请求无效",
    401: "需要登录",
    403: "无权访问",
    404: "未找到",
    409: "操作冲突",
    422: "输入有误",
    500: "服务器错误",
}


def _render(status: int, code: str, message: str) -> Any:
    if wants_json():
        return jsonify(error=code, message=message), status
    title = _TITLES.get(status, "错误")
    return render_template("error.html", status=status, title=title, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(CallCenterError)
    def domain_error(exc: CallCenterError) -> Any:
        logger.info("%s -> %s", type(exc).__name__, exc.status)
        return _render(exc.status, type(exc).__name__, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        return _render(status, exc.name.lower().replace(" ", "_"), exc.description or exc.name)
