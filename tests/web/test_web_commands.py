"""`callcenter demo --check` prepares a working demo database (hospital, scripts, plans, queue, staff);
`serve` refuses to start without a secret."""

from __future__ import annotations

import re

from click.testing import CliRunner

from callcenter.cli import main
from callcenter.db import make_engine, session_scope
from callcenter.users import authenticate


def test_demo_prepares_database_accounts_and_prints_the_nurse_login(tmp_path):
    env = {"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_LOG_LEVEL": "WARNING"}
    first = CliRunner().invoke(main, ["demo", "--check", "--patients", "12"], env=env)
    assert first.exit_code == 0, first.output
    assert re.search(r"demo data: 12 patients created, \d+ questionnaires", first.output)
    password = re.search(r"Demo nurse login: user nurse1  password (\S+)", first.output).group(1)
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    with session_scope(engine) as s:
        assert authenticate(s, "nurse1", password) is not None
    second = CliRunner().invoke(main, ["demo", "--check", "--patients", "12"], env=env)  # idempotent
    assert second.exit_code == 0, second.output
    assert "demo data: 0 patients created" in second.output
    new_password = re.search(r"password (\S+)", second.output.split("Demo nurse login:")[1]).group(1)
    with session_scope(engine) as s:
        assert authenticate(s, "nurse1", new_password) is not None
        assert new_password == password or authenticate(s, "nurse1", password) is None
    engine.dispose()


def test_serve_without_secret_key_says_what_to_set(tmp_path):
    env = {"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_LOG_LEVEL": "WARNING", "CALLCENTER_SECRET_KEY": ""}
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert "CALLCENTER_SECRET_KEY is empty" in result.output


def test_wsgi_factory_imports_first_in_a_fresh_interpreter(tmp_path):
    """gunicorn imports the factory before anything else: no circular import with the CLI."""
    import subprocess
    import sys

    code = ("from callcenter.commands.wsgi import wsgi_app; app = wsgi_app(); "
            "print(app.test_client().get('/healthz').get_json()['status'])")
    env = {"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "k" * 32, "CALLCENTER_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
