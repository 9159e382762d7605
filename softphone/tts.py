"""Text to speech with espeak-ng for the patient simulator (and any prompt that needs a voice), cached as WAVs.

Mandarin: Debian's espeak-ng 1.51 ``cmn`` voice reads tone digits as English, so Chinese text is turned into
numbered pinyin (pypinyin) and spoken with ``cmn-latn-pinyin``; Arabic numbers become Chinese numerals first.
Korean uses ``ko``. Output: 8 kHz mono 16-bit WAV (telephone band), made with sox.

Synthesis runs in a subprocess, never on a pjsua2 media thread: callers synthesise ahead and play the files.
The cache key is the text, the voice and the synthesiser settings, so a changed persona re-synthesises only
what changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cn2an
from pypinyin import Style, lazy_pinyin, load_phrases_dict

from softphone.errors import SoftphoneError

logger = logging.getLogger(__name__)

OUTPUT_RATE_HZ = 8000
_CACHE_VERSION = "1"  # bump when the synthesis pipeline changes

# espeak-ng voice per language (the language part of a locale)
ESPEAK_VOICES = {"zh": "cmn-latn-pinyin", "ko": "ko", "en": "en-us", "ja": "ja", "yue": "yue"}

_PUNCTUATION = {"，": ",", "、": ",", "；": ",", "：": ",", "。": ".", "！": ".", "？": "?", "…": ",", "—": ",",
                "/": ",", "～": ","}
_DROP = set("《》“”‘’「」『』（）()\"'")
# Heteronyms pypinyin gets wrong in follow-up talk (量 is liáng when measuring). Extend when a persona sounds off.
load_phrases_dict({
    "量过": [["liáng"], ["guò"]],
    "量了": [["liáng"], ["le"]],
    "量的": [["liáng"], ["de"]],
    "量一下": [["liáng"], ["yí"], ["xià"]],
    "量一次": [["liáng"], ["yí"], ["cì"]],
})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")


class TtsError(SoftphoneError):
    """espeak-ng or sox failed; the message says which text and how to fix the installation."""


@dataclass(frozen=True)
class Voice:
    language: str = "zh-CN"  # a locale; its language part picks the espeak-ng voice
    espeak_voice: str = ""  # override, e.g. "cmn-latn-pinyin+f3" (a variant) — empty: from the language
    rate_wpm: int = 150
    pitch: int = 50  # 0-99
    volume: int = 120  # espeak-ng amplitude, 0-200

    @property
    def language_code(self) -> str:
        return self.language.split("-")[0].lower()

    @property
    def espeak(self) -> str:
        if self.espeak_voice:
            return self.espeak_voice
        try:
            return ESPEAK_VOICES[self.language_code]
        except KeyError:
            raise TtsError(f"no espeak-ng voice known for language {self.language!r}: set voice.espeak in the "
                           f"persona (see `espeak-ng --voices`)") from None


def chinese_to_pinyin(text: str) -> str:
    """Chinese text as numbered pinyin for ``cmn-latn-pinyin``: 吃了药。 -> ``chi1 le5 yao4 .``

    Arabic numbers become Chinese numerals first (130 -> 一百三十, 7.2 -> 七点二); Chinese punctuation becomes
    ASCII punctuation (espeak pauses on it); neutral tones are written as 5.
    """
    text = _NUMBER.sub(lambda m: str(cn2an.an2cn(m.group(0))), text)
    words: list[str] = []
    for item in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, v_to_u=True):
        for part in _split_non_han(item):
            words.append(part)
    return _SPACES.sub(" ", " ".join(w for w in words if w)).strip()


def _split_non_han(item: str) -> list[str]:
    """pypinyin returns runs of non-Han characters unchanged: map punctuation, drop quotes, keep Latin words."""
    out: list[str] = []
    word = ""
    for ch in item:
        if ch in _PUNCTUATION or ch in ",.?!;:":
            out += [word, _PUNCTUATION.get(ch, "," if ch in ";:" else ch)]
            word = ""
        elif ch in _DROP or ch.isspace():
            out.append(word)
            word = ""
        else:
            word += ch
    out.append(word)
    return [w for w in out if w]


def espeak_text(text: str, voice: Voice) -> str:
    """What espeak-ng is given for ``text`` in ``voice``'s language."""
    if voice.language_code == "zh" and voice.espeak.startswith("cmn-latn-pinyin"):
        return chinese_to_pinyin(text)
    return text.strip()


class TtsCache:
    """Synthesised WAVs under ``directory`` (e.g. ``<data_dir>/tts``), one file per (text, voice)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        for tool in ("espeak-ng", "sox"):
            if shutil.which(tool) is None:
                raise TtsError(f"{tool} is not installed (Debian: apt-get install espeak-ng sox)")

    def key(self, text: str, voice: Voice) -> str:
        material = "\x1f".join([_CACHE_VERSION, text, voice.espeak, str(voice.rate_wpm), str(voice.pitch),
                                str(voice.volume), str(OUTPUT_RATE_HZ)])
        return hashlib.sha256(material.encode()).hexdigest()[:24]

    def path_for(self, text: str, voice: Voice) -> Path:
        return self.directory / f"{voice.language_code}-{self.key(text, voice)}.wav"

    def synthesize(self, text: str, voice: Voice) -> Path:
        """The WAV for ``text`` (made now if not cached). Blocking: call it ahead, never on a media thread."""
        out = self.path_for(text, voice)
        if out.exists():
            return out
        spoken = espeak_text(text, voice)
        if not spoken:
            raise TtsError(f"nothing to say for text {text!r}: give it words")
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, raw_name = tempfile.mkstemp(suffix=".wav", dir=self.directory)
        os.close(fd)
        raw, tmp = Path(raw_name), out.with_suffix(".tmp.wav")
        try:
            self._run(["espeak-ng", "-v", voice.espeak, "-s", str(voice.rate_wpm), "-p", str(voice.pitch),
                       "-a", str(voice.volume), "-w", str(raw), "--stdin"], text, stdin=spoken)
            self._run(["sox", str(raw), "-r", str(OUTPUT_RATE_HZ), "-c", "1", "-b", "16", "-e", "signed-integer",
                       str(tmp)], text)
            tmp.replace(out)  # atomic: a concurrent reader never sees half a file
        finally:
            raw.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
        logger.debug("synthesised %s (%s)", out.name, voice.espeak)
        return out

    @staticmethod
    def _run(argv: list[str], text: str, stdin: str = "") -> None:
        try:
            subprocess.run(argv, input=stdin.encode(), check=True, capture_output=True, timeout=60)  # noqa: S603
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip()[-300:]
            raise TtsError(f"{argv[0]} failed ({exc.returncode}) for a text of {len(text)} characters: {detail}") from exc
        except subprocess.TimeoutExpired as exc:
            raise TtsError(f"{argv[0]} took longer than 60 s; is the machine overloaded?") from exc
