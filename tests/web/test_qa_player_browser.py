"""The QA recording player in Chromium: the nurse/patient channel choice routes the chosen side of the stereo
recording (nurse left, patient right) to both ears, measured on what the Web Audio graph sends to the speakers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from callcenter.db import session_scope
from callcenter.models import CallAttempt, Patient, Recording, TranscriptSegment
from tests.web.test_qa import _stereo_wav

pytestmark = pytest.mark.browser

# Before the page's scripts run: whatever is connected to the speakers is also split into left and right and fed
# to two analysers, so the test hears what each ear would.
EAR_TAP = """
(() => {
  const connect = AudioNode.prototype.connect;
  window.__ears = null;
  AudioNode.prototype.connect = function (target, ...rest) {
    if (target instanceof AudioDestinationNode) {
      const ctx = this.context, split = ctx.createChannelSplitter(2);
      const ears = [ctx.createAnalyser(), ctx.createAnalyser()];
      connect.call(this, split);
      ears.forEach((ear, side) => { ear.fftSize = 4096; ear.smoothingTimeConstant = 0; connect.call(split, ear, side); });
      window.__ears = ears;
    }
    return connect.call(this, target, ...rest);
  };
  // the level (dB) near a frequency in one ear
  window.__level = (side, hz) => {
    const ear = window.__ears[side], bins = new Float32Array(ear.frequencyBinCount);
    ear.getFloatFrequencyData(bins);
    const at = Math.round(hz * ear.fftSize / ear.context.sampleRate);
    return Math.max(...Array.from(bins.slice(at - 2, at + 3)));
  };
})();
"""
# The recording: nurse 440 Hz on the left, patient 660 Hz on the right (tests.web.test_qa._stereo_wav).
HEARS = """([want, not]) => window.__ears !== null && [0, 1].every(side =>
    (want.length === 0 || Math.min(...want.map(hz => window.__level(side, hz))) > -60) &&
    not.every(hz => window.__level(side, hz) < Math.min(...want.map(w => window.__level(side, w))) - 40))"""


@pytest.fixture
def recorded_call(sqlite_engine, settings, clock, staff):
    _stereo_wav(settings.recordings_path / "qa" / "routing.wav")
    with session_scope(sqlite_engine) as session:
        patient = Patient(name="张三", source_system="his", mrn="QA009")
        session.add(patient)
        session.flush()
        now = clock.now()
        attempt = CallAttempt(patient_id=patient.id or 0, number="13800138000", user_id=staff["nurse"].id,
                              started_at=now, answered_at=now, ended_at=now, wrapped_up_at=now,
                              outcome_code="completed")
        session.add(attempt)
        session.flush()
        session.add(Recording(attempt_id=attempt.id or 0, path="qa/routing.wav", duration_s=6.0))
        session.add(TranscriptSegment(attempt_id=attempt.id or 0, speaker="nurse", t0_s=0.5, t1_s=1.5,
                                      text="出院后感觉怎么样"))
        return attempt.id


def test_the_players_channel_choice_routes_the_nurse_or_the_patient_to_both_ears(new_page, ui, recorded_call):
    page = new_page()
    page.add_init_script(EAR_TAP)
    ui.login(page, "supervisor")
    page.goto(f"{ui.base_url}/supervisor/qa/calls/{recorded_call}")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    page.evaluate("document.getElementById('player').loop = true")  # keeps sounding while the test listens
    page.check('#channels input[value="nurse"]')
    expect(page.locator("#player")).to_have_attribute("data-channel", "nurse")
    page.click("#transcript .line")  # plays from the line
    # nurse only: her 440 Hz in both ears, the patient's 660 Hz in neither
    page.wait_for_function(HEARS, arg=[[440], [660]], polling=50)
    page.check('#channels input[value="patient"]')
    page.wait_for_function(HEARS, arg=[[660], [440]], polling=50)
    page.check('#channels input[value="both"]')
    page.wait_for_function(HEARS, arg=[[440, 660], []], polling=50)
    assert page.evaluate("document.getElementById('player').paused") is False
