"""Guard for the supervisor screens (extends tests/web/test_web_guard.py, which walks the whole URL map): every
board, QA and statistics route is in the URL map, declares its roles, answers 302 to the login page without a
session, and 403 to nurses and administrators (who must not see patient data, audio or call statistics)."""

from __future__ import annotations

import pytest

SUPERVISOR_ENDPOINTS = {"board.page", "board.fragment", "qa.search", "qa.call", "qa.review", "stats.page",
                        "stats.download"}
URLS = (("GET", "/supervisor/board"), ("GET", "/supervisor/board/fragment"), ("GET", "/supervisor/qa/"),
        ("GET", "/supervisor/qa/calls/1"), ("POST", "/supervisor/qa/calls/1/review"), ("GET", "/supervisor/stats/"),
        ("GET", "/supervisor/stats/export.csv"), ("GET", "/supervisor/stats/export.xlsx"))


def test_every_supervisor_route_is_in_the_url_map_with_roles(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert SUPERVISOR_ENDPOINTS <= endpoints
    for endpoint in SUPERVISOR_ENDPOINTS:
        roles = app.view_functions[endpoint].allowed_roles
        assert {r.value for r in roles} <= {"supervisor", "doctor"}, endpoint


def test_without_a_session_supervisor_routes_redirect_to_login(client, auth):
    csrf = auth.fresh_csrf()
    for method, url in URLS:
        response = client.open(url, method=method, headers={"X-CSRFToken": csrf})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url


@pytest.mark.parametrize("role", ["nurse", "admin"])
def test_nurses_and_admins_are_refused_everywhere(auth_for, role, call_data):
    client, auth = auth_for(role)
    csrf = auth.fresh_csrf()
    for method, url in URLS:
        response = client.open(url, method=method, headers={"X-CSRFToken": csrf})
        assert response.status_code == 403, (role, url)
