"""Recordings: only through the authorised route, with HTTP Range; every playback and download audited."""

from __future__ import annotations

from sqlmodel import Session, select

from callcenter.models import AuditEvent, Recording
from callcenter.recording_copies import compress_wav


def _audit_rows(engine, action):
    with Session(engine) as s:
        return s.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_calling_nurse_plays_her_recording_with_range_requests(client, auth, call_data, sqlite_engine, staff):
    auth.login("nurse")
    url = f"/recordings/{call_data.recording_id}/audio"
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.mimetype == "audio/wav"
    assert whole.data == call_data.wav.read_bytes()
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{call_data.wav.stat().st_size}"
    assert part.data == call_data.wav.read_bytes()[100:200]
    rows = _audit_rows(sqlite_engine, "recording.play")
    # the playback is audited once; the seek (range from byte 100) of the same session is not another playback
    assert [(r.user_id, r.object_id) for r in rows] == [(staff["nurse"].id, str(call_data.recording_id))]
    assert rows[0].remote_addr == "127.0.0.1"


def test_a_ranged_request_without_a_prior_playback_is_still_audited(client, auth, call_data, sqlite_engine):
    auth.login("supervisor")
    response = client.get(f"/recordings/{call_data.recording_id}/audio", headers={"Range": "bytes=44-"})
    assert response.status_code == 206
    assert len(_audit_rows(sqlite_engine, "recording.play")) == 1


def test_each_new_playback_is_audited(client, auth, call_data, sqlite_engine):
    auth.login("doctor")
    for _ in range(2):
        assert client.get(f"/recordings/{call_data.recording_id}/audio",
                          headers={"Range": "bytes=0-"}).status_code == 206
    assert len(_audit_rows(sqlite_engine, "recording.play")) == 2


def test_another_nurse_and_the_admin_may_not_hear_it(auth_for, call_data, sqlite_engine):
    for username in ("nurse2", "admin"):
        client, _ = auth_for(username)
        assert client.get(f"/recordings/{call_data.recording_id}/audio").status_code == 403
    assert _audit_rows(sqlite_engine, "recording.play") == []


def test_download_is_for_supervisors_and_doctors_and_audited(client, auth, call_data, sqlite_engine, staff):
    auth.login("supervisor")
    response = client.get(f"/recordings/{call_data.recording_id}/download")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = _audit_rows(sqlite_engine, "recording.download")
    assert [(r.user_id, r.detail["attempt_id"]) for r in rows] == [(staff["supervisor"].id, call_data.attempt_id)]


def test_missing_recording_and_missing_file_say_what_to_check(client, auth, call_data):
    auth.login("supervisor")
    assert client.get("/recordings/999/audio").status_code == 404
    call_data.wav.unlink()
    missing = client.get(f"/recordings/{call_data.recording_id}/audio", headers={"Accept": "application/json"})
    assert missing.status_code == 404
    assert "CALLCENTER_RECORDINGS_DIR" in missing.get_json()["message"]


def test_player_page_points_at_the_guarded_audio_route(client, auth, call_data):
    auth.login("nurse")
    html = client.get(f"/recordings/{call_data.recording_id}").get_data(as_text=True)
    assert f'src="/recordings/{call_data.recording_id}/audio?format=compressed"' in html


def test_the_browser_copy_is_served_when_made_and_the_wav_until_then(client, auth, call_data, sqlite_engine,
                                                                      settings):
    auth.login("nurse")
    url = f"/recordings/{call_data.recording_id}/audio?format=compressed"
    assert client.get(url).mimetype == "audio/wav"  # no copy yet (or it failed): the original plays
    with Session(sqlite_engine) as s:
        row = s.get(Recording, call_data.recording_id)
        row.compressed_path = "2026/call-1.mp3"
        s.add(row)
        s.commit()
    assert client.get(url).mimetype == "audio/wav"  # the copy's file is not there (deleted, other server)
    mp3 = compress_wav(call_data.wav)
    assert mp3 == settings.recordings_path / "2026" / "call-1.mp3"
    part = client.get(url, headers={"Range": "bytes=10-"})
    assert part.status_code == 206 and part.mimetype == "audio/mpeg"
    assert part.data == mp3.read_bytes()[10:]
    assert client.get(f"/recordings/{call_data.recording_id}/audio").mimetype == "audio/wav"
