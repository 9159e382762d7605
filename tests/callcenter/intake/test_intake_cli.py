import csv
import json
import os
import signal
import socket
import subprocess
import sys

from click.testing import CliRunner

from callcenter.cli import main
from callcenter.intake.hl7v2 import build_adt
from callcenter.intake.mllp import END, frame

HEADER = ["病案号", "身份证号", "姓名", "联系电话", "就诊号", "出院科室", "入院时间", "出院时间", "主要诊断编码", "主要诊断"]
GOOD = ["M1", "11010519491231002X", "王芳", "13800138000", "V1", "心内科", "2026-05-01 09:00", "2026-05-09 10:00",
        "I10", "高血压"]
BAD = ["M2", "110105194912310021", "李四", "13700137000", "V2", "肿瘤科", "2026-05-01 09:00", "", "C34", "肺癌"]


def _env(tmp_path):
    return {"CALLCENTER_DATA_DIR": str(tmp_path / "var"), "CALLCENTER_LOG_LEVEL": "WARNING"}


def _csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return str(path)


def test_import_csv_prints_json_summary_writes_report_and_fails_on_rejects(tmp_path):
    runner = CliRunner(env=_env(tmp_path))
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    path = _csv(tmp_path / "a.csv", [GOOD, BAD])
    result = runner.invoke(main, ["import", "csv", path, "--json", "--report", str(tmp_path / "r.csv")])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert summary["errors"] == [{"line": 3, "field": "national_id", "reason": summary["errors"][0]["reason"]}]
    with open(tmp_path / "r.csv", encoding="utf-8-sig") as fh:
        assert list(csv.DictReader(fh))[0]["line"] == "3"
    again = json.loads(runner.invoke(main, ["import", "csv", path, "--json"]).stdout)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)


def test_import_strict_writes_nothing(tmp_path):
    runner = CliRunner(env=_env(tmp_path))
    runner.invoke(main, ["db", "upgrade"])
    result = runner.invoke(main, ["import", "csv", _csv(tmp_path / "a.csv", [GOOD, BAD]), "--strict"])
    assert result.exit_code == 1 and "nothing written" in result.stdout
    ok = runner.invoke(main, ["import", "csv", _csv(tmp_path / "b.csv", [GOOD]), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["created"] == 1  # V1 was not written by the strict run


def test_import_hl7_names_the_hl7_field(tmp_path):
    runner = CliRunner(env=_env(tmp_path))
    runner.invoke(main, ["db", "upgrade"])
    bad = build_adt({"mrn": "M2", "national_id": "110105194912310021", "encounter_id": "V2"}, "A01", "C2")
    (tmp_path / "a.hl7").write_text(bad.replace("\r", "\n"), encoding="utf-8")
    result = runner.invoke(main, ["import", "hl7", str(tmp_path / "a.hl7"), "--json"])
    assert json.loads(result.stdout)["errors"][0]["field"].startswith("national_id (PID-3")


def test_mllp_listen_command_serves_a_real_client(tmp_path):
    env = {**os.environ, **_env(tmp_path)}
    assert CliRunner(env=_env(tmp_path)).invoke(main, ["db", "upgrade"]).exit_code == 0
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "callcenter"), "mllp", "listen",
                             "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # "MLLP listening on 127.0.0.1:PORT …" once the socket is bound
        assert "MLLP listening on" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(frame(build_adt({"mrn": "M9", "name": "测试", "encounter_id": "V9", "kind": "outpatient",
                                          "admitted_at": "2026-05-01 09:00"}, "A04", "CTRL-9")))
            data = b""
            while not data.endswith(END):
                chunk = sock.recv(4096)
                assert chunk
                data += chunk
        assert b"MSA|AA|CTRL-9" in data
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
