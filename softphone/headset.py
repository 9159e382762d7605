"""The nurse's USB headset, driven by PyAudio and bridged into a call through a pjsua2 ``AudioMediaPort``.

The pjsua2-python wheel has no sound devices (RECIPES.md), so the conference bridge runs on the null device and
this module moves the audio:

    microphone --PyAudio callback--> DriftBuffer(mic) --pj media thread, 20 ms--> call
    call --pj media thread, 20 ms--> DriftBuffer(speaker) --PyAudio callback--> earphones

PyAudio callbacks and pj media callbacks only touch the buffers (deques): no locks, no logging, no allocation
beyond one frame. The two clocks (sound card, pjmedia) drift apart; each buffer trims/pads and counts it.
``pyaudio`` is imported only here. The streams are opened before dialling (opening a device can take a second).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj
import pyaudio

from hardware.devices import AudioDevice, Backend, HeadsetChoice, choose_headset, choose_rate
from hardware.drift import DriftBuffer, DriftStats
from hardware.errors import HardwareError
from hardware.levels import apply_gain, mono_to_stereo, stereo_to_mono
from softphone.media import CallMedia
from softphone.sound_server import pulse_devices

logger = logging.getLogger(__name__)

FRAME_MS = 20
CALL_RATE_HZ = 8000  # the conference bridge's clock (softphone.config.PhoneConfig.clock_rate_hz)
_FLOWING_CALLBACKS = 5  # callbacks per direction before the headset counts as running


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """PortAudio probes ALSA/JACK on start-up and prints ~80 lines of noise on fd 2: hide them."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_pyaudio() -> pyaudio.PyAudio:
    with _quiet_stderr():
        return pyaudio.PyAudio()


def portaudio_devices(pa: pyaudio.PyAudio) -> list[AudioDevice]:
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        devices.append(
            AudioDevice(
                name=str(info["name"]),
                max_input_channels=int(info["maxInputChannels"]),
                max_output_channels=int(info["maxOutputChannels"]),
                default_rate_hz=int(info["defaultSampleRate"]),
                index=index,
            )
        )
    return devices


def list_devices(pa: pyaudio.PyAudio) -> list[AudioDevice]:
    return portaudio_devices(pa) + pulse_devices()


def _portaudio_index(pa: pyaudio.PyAudio, device: AudioDevice) -> int:
    if device.backend is Backend.portaudio:
        return device.index
    for candidate in portaudio_devices(pa):
        if candidate.name == "pulse":
            return candidate.index
    raise HardwareError(
        f"{device.label} is a PulseAudio device but PortAudio has no 'pulse' device: install the ALSA pulse "
        "plugin (Debian: libasound2-plugins) or choose a hw: device with --device"
    )


@contextmanager
def _pulse_target(device: AudioDevice, variable: str) -> Iterator[None]:
    """Point the ALSA ``pulse`` plugin at one sink/source (libpulse reads PULSE_SINK/PULSE_SOURCE on connect)."""
    if device.backend is not Backend.pulse:
        yield
        return
    saved = os.environ.get(variable)
    os.environ[variable] = device.name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = saved


def negotiate_rate(pa: pyaudio.PyAudio, choice: HeadsetChoice, call_rate_hz: int = CALL_RATE_HZ) -> int:
    """The headset's sample rate: the call's rate if both devices accept it, else the profile's first."""
    in_index, out_index = _portaudio_index(pa, choice.input), _portaudio_index(pa, choice.output)

    def accepts(rate: int) -> bool:
        try:
            return bool(
                pa.is_format_supported(rate, input_device=in_index, input_channels=1, input_format=pyaudio.paInt16)
                and pa.is_format_supported(
                    rate, output_device=out_index, output_channels=_out_channels(choice.output), output_format=pyaudio.paInt16
                )
            )
        except ValueError:
            return False

    return choose_rate(choice.profile, accepts, choice.output.default_rate_hz, call_rate_hz)


def _out_channels(device: AudioDevice) -> int:
    return 1 if device.backend is Backend.pulse or device.max_output_channels == 1 else 2


def _in_channels(device: AudioDevice) -> int:
    return 1 if device.backend is Backend.pulse or device.max_input_channels == 1 else 2


class HeadsetStreams:
    """PyAudio input and output streams in callback mode, 20 ms per callback.

    ``on_mic(pcm)`` receives each microphone frame (mono s16le); ``speaker()`` returns the next mono frame to
    play. Both run on PortAudio's callback threads: they must be quick and must not block.
    """

    def __init__(
        self,
        pa: pyaudio.PyAudio,
        choice: HeadsetChoice,
        rate_hz: int,
        on_mic: Callable[[bytes], None],
        speaker: Callable[[], bytes],
    ) -> None:
        self.pa, self.choice, self.rate_hz = pa, choice, rate_hz
        self.frame_samples = rate_hz * FRAME_MS // 1000
        self._on_mic, self._speaker = on_mic, speaker
        self._in_channels, self._out_channels = _in_channels(choice.input), _out_channels(choice.output)
        self._streams: list[Any] = []
        self.callback_errors = 0
        self.mic_callbacks = 0
        self.speaker_callbacks = 0
        self._flowing = threading.Event()

    def _mic_callback(self, in_data: bytes | None, frame_count: int, time_info: Any, status: int) -> tuple[None, int]:
        self.mic_callbacks += 1
        if self.mic_callbacks == _FLOWING_CALLBACKS and self.speaker_callbacks >= _FLOWING_CALLBACKS:
            self._flowing.set()
        try:
            if in_data:
                self._on_mic(stereo_to_mono(in_data) if self._in_channels == 2 else in_data)
        except Exception:  # a PortAudio thread: count, never raise (it would stop the stream)
            self.callback_errors += 1
        return None, pyaudio.paContinue

    def _speaker_callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[bytes, int]:
        want = frame_count * 2
        self.speaker_callbacks += 1
        if self.speaker_callbacks == _FLOWING_CALLBACKS and self.mic_callbacks >= _FLOWING_CALLBACKS:
            self._flowing.set()
        try:
            pcm = self._speaker()
            while len(pcm) < want:
                pcm += self._speaker()
            pcm = pcm[:want]
        except Exception:
            self.callback_errors += 1
            pcm = bytes(want)
        return (mono_to_stereo(pcm) if self._out_channels == 2 else pcm), pyaudio.paContinue

    def start(self) -> None:
        fmt = pyaudio.paInt16
        try:
            with _quiet_stderr(), _pulse_target(self.choice.output, "PULSE_SINK"):
                self._streams.append(
                    self.pa.open(
                        format=fmt, channels=self._out_channels, rate=self.rate_hz, output=True,
                        output_device_index=_portaudio_index(self.pa, self.choice.output),
                        frames_per_buffer=self.frame_samples, stream_callback=self._speaker_callback,
                    )
                )
            with _quiet_stderr(), _pulse_target(self.choice.input, "PULSE_SOURCE"):
                self._streams.append(
                    self.pa.open(
                        format=fmt, channels=self._in_channels, rate=self.rate_hz, input=True,
                        input_device_index=_portaudio_index(self.pa, self.choice.input),
                        frames_per_buffer=self.frame_samples, stream_callback=self._mic_callback,
                    )
                )
        except OSError as exc:
            self.close()
            raise HardwareError(
                f"cannot open the headset ({self.choice.output.label} / {self.choice.input.label}) at "
                f"{self.rate_hz} Hz: {exc}. Is another program holding it? Try `callcenter devices list`."
            ) from exc
        logger.info("headset open: out=%s in=%s rate=%s Hz", self.choice.output.label, self.choice.input.label, self.rate_hz)

    def wait_flowing(self, timeout_s: float = 5.0) -> None:
        """Wait until both devices deliver callbacks: opening a device can take a second (PulseAudio ~1 s),
        and audio of a call that starts before that is lost."""
        if not self._flowing.wait(timeout_s):
            raise HardwareError(
                f"the headset opened but delivers no audio after {timeout_s:.0f} s (microphone callbacks: "
                f"{self.mic_callbacks}, earphone callbacks: {self.speaker_callbacks}); check "
                "`callcenter devices test`"
            )

    def close(self) -> None:
        streams, self._streams = self._streams, []
        for stream in streams:
            try:
                stream.stop_stream()
                stream.close()
            except OSError:
                logger.warning("closing a headset stream failed", exc_info=True)


class HeadsetPort(pj.AudioMediaPort):  # type: ignore[misc]
    """A conference-bridge port: the call's audio goes to the speaker buffer, the mic buffer goes to the call.

    Create, connect and delete it on the pj thread; its callbacks run on pjmedia's clock thread.
    """

    def __init__(self, headset: Headset) -> None:
        super().__init__()
        self._speaker = headset.speaker_buffer
        self._mic = headset.mic_buffer
        self._silence = bytes(headset.speaker_buffer.frame_bytes)
        self.errors = 0
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, headset.rate_hz, 1, FRAME_MS * 1000, 16)
        self.createPort("headset", fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                self._speaker.write(bytes(frame.buf))
        except Exception:  # an exception here would keep pj objects alive until exit (SIGABRT)
            self.errors += 1

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        try:
            pcm = self._mic.read()
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(pcm)
            frame.size = len(pcm)
        except Exception:
            self.errors += 1


@dataclass(frozen=True)
class HeadsetStats:
    mic: DriftStats
    speaker: DriftStats
    callback_errors: int


class Headset:
    """The headset of one nurse: open it once at start-up, attach it to each call's audio.

    It is the phone's ``MediaHook``: ``PjsuaPhone`` calls ``media_started``/``media_stopped`` on its pj thread.
    ``open()``/``close()`` from any other thread (open it before dialling).
    """

    def __init__(self, choice: HeadsetChoice, *, rate_hz: int | None = None, pa: pyaudio.PyAudio | None = None) -> None:
        self.choice = choice
        self._own_pa = pa is None
        self.pa = pa if pa is not None else open_pyaudio()
        self.rate_hz = rate_hz or negotiate_rate(self.pa, choice)
        frame_bytes = self.rate_hz * FRAME_MS // 1000 * 2
        # 60 ms target depth absorbs bursty callbacks; only a backlog past 240 ms (a stalled reader, or a clock
        # running fast for a long time) is dropped back to the target, so short stalls cost no audio.
        self.mic_buffer = DriftBuffer(frame_bytes, target_frames=3, max_frames=12)
        self.speaker_buffer = DriftBuffer(frame_bytes, target_frames=3, max_frames=12)
        profile = choice.profile
        self.mic_gain_db = profile.mic_gain_db if profile else 0.0
        self.speaker_gain_db = profile.speaker_gain_db if profile else 0.0
        self.streams = HeadsetStreams(self.pa, choice, self.rate_hz, self._on_mic, self._next_speaker_frame)
        self.port: HeadsetPort | None = None
        self._calls: dict[str, CallMedia] = {}
        self._port_errors = 0

    @classmethod
    def find(cls, wanted: str = "", rate_hz: int | None = None) -> Headset:
        """Pick the headset among the connected devices (``wanted``: part of its name)."""
        pa = open_pyaudio()
        try:
            choice = choose_headset(list_devices(pa), wanted)
        except HardwareError:
            pa.terminate()
            raise
        headset = cls(choice, rate_hz=rate_hz, pa=pa)
        headset._own_pa = True
        return headset

    @classmethod
    def from_setting(cls, value: str) -> Headset | None:
        """The headset named by ``CALLCENTER_HEADSET``: ``none`` for no headset (robots, servers), a part of
        the device name, or empty for the recognised headset. Not opened yet."""
        wanted = value.strip()
        if wanted.lower() in {"none", "off", "no"}:
            return None
        return cls.find(wanted)

    def _on_mic(self, pcm: bytes) -> None:
        self.mic_buffer.write(apply_gain(pcm, self.mic_gain_db))

    def _next_speaker_frame(self) -> bytes:
        return apply_gain(self.speaker_buffer.read(), self.speaker_gain_db)

    def open(self, wait_s: float = 5.0) -> None:
        """Open both streams and wait until audio flows (do it before dialling, once per session)."""
        self.streams.start()
        if wait_s > 0:
            try:
                self.streams.wait_flowing(wait_s)
            except HardwareError:
                self.streams.close()
                raise

    # -- softphone.media.MediaHook: both run on the pj thread ---------------------------------------------------
    def media_started(self, media: CallMedia) -> None:
        """Connect the headset to a call's audio: the microphone is the nurse's voice (sent and recorded), the
        call's audio goes to the earphones. One port serves every call (a second call would split the mic)."""
        if self.port is None:
            self.port = HeadsetPort(self)
        self._calls[media.call_id] = media
        media.add_source(self.port)
        media.add_sink(self.port)

    def media_stopped(self, call_id: str) -> None:
        """Disconnect from the call. The port stays for the next call: pjsua2 removes ports from the bridge
        asynchronously, so deleting one while the phone runs can let the clock thread call a freed object."""
        media = self._calls.pop(call_id, None)
        if media is not None and self.port is not None:
            media.remove_source(self.port)
            media.remove_sink(self.port)

    def phone_closing(self) -> None:
        """The phone is closing and its bridge clock has stopped (pj thread): now the port can go."""
        self._calls.clear()
        self.release_port()

    def release_port(self) -> None:
        """Delete the media port (pj thread, only when the bridge clock is stopped)."""
        port, self.port = self.port, None
        if port is not None:
            self._port_errors += port.errors
        del port

    def close(self) -> None:
        self.streams.close()
        if self._own_pa:
            self.pa.terminate()
        stats = self.stats()
        logger.info(
            "headset closed: mic padded=%s trimmed=%s, speaker padded=%s trimmed=%s, errors=%s",
            stats.mic.padded, stats.mic.trimmed, stats.speaker.padded, stats.speaker.trimmed, stats.callback_errors,
        )

    def stats(self) -> HeadsetStats:
        port_errors = self._port_errors + (self.port.errors if self.port is not None else 0)
        return HeadsetStats(
            mic=self.mic_buffer.stats(),
            speaker=self.speaker_buffer.stats(),
            callback_errors=self.streams.callback_errors + port_errors,
        )

