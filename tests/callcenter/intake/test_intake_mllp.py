import socket
import threading
from datetime import UTC, datetime

import hl7
import pytest
from sqlmodel import Session, select

from callcenter.intake.hl7v2 import build_adt
from callcenter.intake.mllp import END, START, AdtHandler, MllpServer, frame
from callcenter.models import Encounter, Patient

WANG = {"mrn": "M001", "national_id": "11010519491231002X", "name": "王芳", "sex": "female",
        "encounter_id": "V001", "kind": "inpatient", "department": "心内科", "admitted_at": "2026-05-01 09:00"}


@pytest.fixture
def listener(engine):
    handler = AdtHandler(engine, now=lambda: datetime(2026, 6, 1, tzinfo=UTC))
    server = MllpServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _connect(server):
    sock = socket.create_connection(server.server_address, timeout=10)
    return sock


def _read_acks(sock, count: int) -> list[dict]:
    data = b""
    while data.count(END) < count:
        chunk = sock.recv(65536)
        assert chunk, "listener closed the connection"
        data += chunk
    frames = [f for f in data.split(END) if f]
    assert len(frames) == count and all(f.startswith(START) for f in frames)
    return [_ack(f[1:]) for f in frames]


def _exchange(sock, payload: bytes) -> dict:
    sock.sendall(payload)
    return _read_acks(sock, 1)[0]


def _ack(body: bytes) -> dict:
    """The ACK read with python-hl7: MSA-1..3 and every ERR segment's ERR-2, ERR-3 (CWE), ERR-4, ERR-7, ERR-8."""
    message = hl7.parse(body.decode("utf-8"))
    msa = message.segment("MSA")
    errs = [{"location": str(err(2)), "condition": str(err(3)(1)(1)), "condition_text": str(err(3)(1)(2)),
             "table": str(err(3)(1)(3)), "severity": str(err(4)), "diagnostic": str(err(7)),
             "message": str(err(8))}
            for err in message.segments("ERR")] if any(str(s[0]) == "ERR" for s in message) else []
    return {"code": str(msa(1)), "control": str(msa(2)), "text": str(msa(3)) if len(msa) > 3 else "",
            "err": errs, "msh": str(message.segment("MSH"))}


def test_listener_acknowledges_stores_and_keeps_serving_after_bad_messages(listener, engine):
    server, handler = listener
    with _connect(server) as sock:
        ok = _exchange(sock, frame(build_adt(WANG, "A01", "CTRL-1")))
        assert (ok["code"], ok["control"]) == ("AA", "CTRL-1")
        assert "ACK^A01" in ok["msh"]

        garbage = _exchange(sock, START + b"not an hl7 message at all" + END)
        assert garbage["code"] == "AR" and "MSH" in garbage["text"]
        assert [(e["condition"], e["severity"]) for e in garbage["err"]] == [("100", "E")]

        bad = build_adt({**WANG, "mrn": "M2", "national_id": "110105194912310021", "encounter_id": "V2"}, "A01",
                        "CTRL-2")
        error = _exchange(sock, frame(bad))
        assert (error["code"], error["control"]) == ("AE", "CTRL-2")
        assert "national_id" in error["text"] and "check digit" in error["text"]
        assert [(e["location"], e["condition"], e["condition_text"], e["table"], e["severity"])
                for e in error["err"]] == [("PID^1^3", "102", "Data type error", "HL70357", "E")]
        assert "check digit" in error["err"][0]["message"] and "national_id" in error["err"][0]["diagnostic"]

        unsupported = build_adt(WANG, "A01", "CTRL-3").replace("ADT^A01^ADT_A01", "ADT^A40^ADT_A39")
        rejected = _exchange(sock, frame(unsupported))
        assert (rejected["code"], rejected["control"]) == ("AR", "CTRL-3") and "A40" in rejected["text"]
        assert [(e["condition"], e["severity"]) for e in rejected["err"]] == [("201", "E")]

        discharge = build_adt({**WANG, "discharged_at": "2026-05-09 11:00"}, "A03", "CTRL-4")
        # two frames in one TCP write, the second split across writes
        both = frame(discharge) + frame(build_adt(WANG, "A08", "CTRL-5"))
        sock.sendall(both[: len(both) - 7])
        rest = both[len(both) - 7:]
        sock.sendall(rest)
        acks = _read_acks(sock, 2)
        assert [(a["code"], a["control"], a["err"]) for a in acks] == [("AA", "CTRL-4", []), ("AA", "CTRL-5", [])]
    with _connect(server) as sock2:  # a new connection after all that is still served
        assert _exchange(sock2, frame(build_adt(WANG, "A08", "CTRL-6")))["code"] == "AA"
    assert handler.counts == {"AA": 4, "AE": 1, "AR": 2}
    with Session(engine) as s:
        assert s.exec(select(Patient.mrn)).all() == ["M001"]
        enc = s.exec(select(Encounter)).one()
        assert enc.discharged_at == datetime(2026, 5, 9, 3, 0, tzinfo=UTC)


def test_concurrent_connections_for_the_same_new_patient_all_get_aa(listener, engine):
    server, handler = listener
    results: dict[int, str] = {}
    start = threading.Barrier(4, timeout=10)

    def client(n: int) -> None:
        with _connect(server) as sock:
            start.wait()
            msg = build_adt({**WANG, "encounter_id": f"V10{n}"}, "A01", f"C{n}")
            results[n] = _exchange(sock, frame(msg))["code"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {0: "AA", 1: "AA", 2: "AA", 3: "AA"}
    with Session(engine) as s:
        assert s.exec(select(Patient.mrn)).all() == ["M001"]
        assert sorted(s.exec(select(Encounter.source_id)).all()) == ["V100", "V101", "V102", "V103"]


@pytest.mark.parametrize("message, code, errors", [
    (build_adt(WANG, "A01", "C-ORU").replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"), "AR", [("", "200")]),
    (build_adt({**WANG, "encounter_id": ""}, "A01", "C-PV1"), "AE", [("PV1^1^19", "101")]),
    (build_adt({**WANG, "kind": "X"}, "A01", "C-CLASS"), "AE", [("PV1^1^2", "103")]),
    (build_adt({**WANG, "national_id": "110105194912310021", "kind": "X"}, "A01", "C-TWO"), "AE",
     [("PID^1^3", "102"), ("PV1^1^2", "103")]),
    (build_adt(WANG, "A11", "C-CANCEL"), "AE", [("PV1^1^19", "204")]),
])
def test_each_error_gets_an_err_segment_with_its_table_0357_condition(listener, message, code, errors):
    server, _ = listener
    with _connect(server) as sock:
        ack = _exchange(sock, frame(message))
    assert ack["code"] == code
    assert [(e["location"], e["condition"]) for e in ack["err"]] == errors
    assert all(e["severity"] == "E" and e["table"] == "HL70357" and e["condition_text"] and e["message"]
               for e in ack["err"])
