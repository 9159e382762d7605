"""USB headset profiles as data: how a headset family names itself, which sample rates it prefers, and hints
for sidetone and gains.

Names come in three shapes and the patterns cover all of them:
- ALSA through PortAudio: ``Jabra EVOLVE LINK: USB Audio (hw:1,0)``;
- PulseAudio / PipeWire: ``alsa_output.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_000415B3A5E60A-00.analog-stereo``
  (underscores are turned into spaces before matching);
- Windows MME / WASAPI: ``Headset Microphone (Jabra EVOLVE 20 MS)``.

The hints are starting points for the nurse's first day (``callcenter devices test``), not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadsetProfile:
    key: str
    vendor: str
    name_patterns: tuple[str, ...]  # regular expressions, matched case-insensitively on the normalised name
    preferred_rates_hz: tuple[int, ...]  # tried in order; the first the device accepts is used
    sidetone_hint: str
    mic_gain_db: float = 0.0  # digital gain the bridge applies to the microphone
    speaker_gain_db: float = 0.0  # digital gain the bridge applies to the caller's voice
    score: int = 100  # how sure a match is; the generic profile scores lower than a named vendor


JABRA = HeadsetProfile(
    key="jabra",
    vendor="Jabra (GN Netcom)",
    name_patterns=(r"\bjabra\b", r"\bgn netcom\b", r"\bgn audio\b"),
    preferred_rates_hz=(16000, 48000, 44100),
    sidetone_hint="Set sidetone in Jabra Direct (Windows/macOS) or the ALSA mixer control 'Sidetone' "
    "(alsamixer -c N); the headset mixes it in hardware, the softphone adds none.",
)
POLY = HeadsetProfile(
    key="poly",
    vendor="Poly / Plantronics",
    name_patterns=(r"\bplantronics\b", r"\bpoly\b", r"\bblackwire\b", r"\bsavi\b", r"\bvoyager\b", r"\bencorepro\b"),
    preferred_rates_hz=(48000, 16000, 44100),
    sidetone_hint="Set sidetone in Poly Lens or the ALSA mixer control 'Sidetone'; hardware sidetone.",
)
LOGITECH = HeadsetProfile(
    key="logitech",
    vendor="Logitech",
    name_patterns=(r"\blogitech\b", r"\bh\d{3}e?\b", r"\bzone (wired|wireless|900|750)\b"),
    preferred_rates_hz=(48000, 44100, 16000),
    sidetone_hint="Most Logitech USB headsets (H390, H570e) have no adjustable sidetone; keep the speaker "
    "volume moderate so the nurse does not raise her voice.",
    mic_gain_db=3.0,
)
EPOS = HeadsetProfile(
    key="epos",
    vendor="EPOS / Sennheiser",
    name_patterns=(r"\bepos\b", r"\bsennheiser\b", r"\bsc \d{2,3}\b", r"\bimpact\b"),
    preferred_rates_hz=(48000, 32000, 16000),
    sidetone_hint="Set sidetone in EPOS Connect; hardware sidetone.",
)
YEALINK = HeadsetProfile(
    key="yealink",
    vendor="Yealink",
    name_patterns=(r"\byealink\b", r"\buh3\d\b", r"\byhs\d{2}\b", r"\bbh7\d\b"),
    preferred_rates_hz=(48000, 16000),
    sidetone_hint="Set sidetone in Yealink USB Connect; hardware sidetone.",
)
GENERIC_USB = HeadsetProfile(
    key="generic-usb",
    vendor="Generic USB audio",
    name_patterns=(r"\busb audio\b", r"\busb pnp sound\b", r"\bc-media\b", r"\busb headset\b", r"\busb\b"),
    preferred_rates_hz=(48000, 44100, 16000),
    sidetone_hint="Generic USB adapters rarely expose sidetone; check alsamixer for a 'Mic' playback "
    "control and keep it low (it is sidetone).",
    mic_gain_db=6.0,
    score=50,
)

#: Named vendors first; the generic USB profile last.
PROFILES: tuple[HeadsetProfile, ...] = (JABRA, POLY, LOGITECH, EPOS, YEALINK, GENERIC_USB)
