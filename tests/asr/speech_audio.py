"""Test speech for the asr tests: espeak-ng Korean in the telephone band, cached in .cache/audio."""

from __future__ import annotations

from pathlib import Path

from asr.synth import Voice, line_noise, read_pcm, silence, speech_wav, trim

ROOT = Path(__file__).resolve().parents[2]
AUDIO_CACHE = ROOT / ".cache" / "audio"
SAMPLE_RATE_HZ = 8000  # say() gives telephone-band audio
KO_VOICES = (Voice("ko", 175, 50), Voice("ko+f2", 150, 65))


def say(text: str, voice: Voice = KO_VOICES[0]) -> bytes:
    """Telephone-band 8 kHz PCM of ``text`` without espeak's quiet lead-in and tail."""
    return trim(read_pcm(speech_wav(text, voice, telephone=True, cache_dir=AUDIO_CACHE))[0])


def turn_stream(turns: list[list[str]], pause_s: float = 0.45, gap_s: float = 1.5,
                voice: Voice = KO_VOICES[0]) -> tuple[bytes, list[float]]:
    """A call's patient channel: answer turns separated by ``gap_s``, the words of a turn by hesitation
    pauses of ``pause_s``, over steady line noise at -50 dBFS; and the second at which each turn's speech
    starts (its first voiced sample: ``say`` trims espeak's quiet lead-in)."""
    pcm = silence(1.0)
    starts: list[float] = []
    for turn in turns:
        starts.append(len(pcm) / (2 * SAMPLE_RATE_HZ))
        for n, word in enumerate(turn):
            pcm += say(word, voice)
            if n < len(turn) - 1:
                pcm += silence(pause_s)
        pcm += silence(gap_s)
    return line_noise(pcm), starts
