"""Guard: every route except a short public list answers 302/401 without a session, and 403 to a logged-in
user whose role is not allowed — so no route can leak patient data or audio by omission."""

from __future__ import annotations

import pytest
from flask import Flask, url_for

from callcenter.models import Role

PUBLIC = {"auth.login", "workspace.index", "healthz", "static"}


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        values = {arg: (1 if f"<int:{arg}>" in rule.rule else "nurse") for arg in rule.arguments}
        with app.test_request_context():
            url = url_for(rule.endpoint, **values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_every_route_is_public_on_purpose_or_declares_its_roles(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in PUBLIC:
            assert getattr(view, "public", False) or rule.endpoint == "static", rule.endpoint
        else:
            assert getattr(view, "allowed_roles", None), f"{rule.endpoint} declares no roles (use @role_required)"


def test_without_a_session_every_protected_route_answers_302_or_401(app, client, auth, call_data):
    csrf = auth.fresh_csrf()  # a valid token, so that POSTs reach the role check rather than the CSRF check
    checked = 0
    for endpoint, method, url in _routes(app):
        if endpoint in PUBLIC:
            continue
        response = client.open(url, method=method, headers={"X-CSRFToken": csrf})
        assert response.status_code in (302, 401), (endpoint, method, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), endpoint
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_a_role_that_is_not_allowed_gets_403_everywhere(app, auth_for, role, call_data):
    client, auth = auth_for(role.value)
    csrf = auth.fresh_csrf()
    denied = 0
    for endpoint, method, url in _routes(app):
        view = app.view_functions[endpoint]
        allowed = getattr(view, "allowed_roles", None)
        if allowed is None or role in allowed:
            continue
        response = client.open(url, method=method, headers={"X-CSRFToken": csrf})
        assert response.status_code == 403, (endpoint, method, role, response.status_code)
        denied += 1
    if role is not Role.supervisor:
        assert denied > 0, f"{role} should be refused somewhere (admin pages or patient data)"


def test_public_routes_return_no_patient_data(client, call_data):
    for url in ("/", "/login", "/healthz"):
        body = client.get(url).get_data(as_text=True)
        assert "张三" not in body and call_data.phone not in body and call_data.national_id not in body
