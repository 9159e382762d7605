"""A virtual USB headset for tests: a private PulseAudio daemon (root, no D-Bus) in a temp dir with
``module-null-sink`` as the earphones (recorded from its ``.monitor`` with ``parec``) and ``module-pipe-source``
fed from a FIFO as the microphone. A writer thread keeps silence flowing into the FIFO (without a writer the pipe
source delivers nothing and a blocking read hangs) and splices in the audio a test queues.

The devices carry a Jabra's PulseAudio names, so the whole device-matching path runs as on a nurse's desk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATE_HZ = 16000
CHUNK_BYTES = RATE_HZ * 20 // 1000 * 2  # 20 ms mono s16le
SINK = "alsa_output.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_VIRTUAL-00.analog-stereo"
SOURCE = "alsa_input.usb-GN_Netcom_A_S_Jabra_EVOLVE_LINK_VIRTUAL-00.mono-fallback"


# module-pipe-source has no clock of its own: it posts whatever arrives. This process is the microphone's sample
# clock: every 20 ms (times 1 + ppm/1e6, like a real card running fast or slow) it writes the next 20 ms of queued
# speech from stdin, or silence.
_FEEDER = r"""
import fcntl, os, select, sys, time
fifo, ppm = sys.argv[1], float(sys.argv[2])
chunk = 640
fd = os.open(fifo, os.O_WRONLY)
fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 4096)
period = 0.020 / (1 + ppm / 1e6)
pending = bytearray()
stdin = sys.stdin.buffer.raw
os.set_blocking(stdin.fileno(), False)
next_at = time.monotonic()
while True:
    if select.select([stdin], [], [], 0)[0]:
        data = stdin.read(65536)
        if data == b"":
            break
        if data:
            pending += data
    out = bytes(pending[:chunk]) if pending else bytes(chunk)
    del pending[:chunk]
    try:
        os.write(fd, out + bytes(chunk - len(out)))
    except BrokenPipeError:
        break
    next_at += period
    delay = next_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)  # sleep-ok: paces the virtual microphone at real time (the pipe source has no clock)
"""


class VirtualHeadset:
    def __init__(self, clock_ppm: float = 0.0) -> None:
        self.clock_ppm = clock_ppm
        # unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer
        self.root = Path(tempfile.mkdtemp(prefix="vhs-"))
        self.fifo = self.root / "mic.fifo"
        self.socket = self.root / "native"
        self.server = f"unix:{self.socket}"
        self.log = self.root / "pulseaudio.log"
        self._daemon: subprocess.Popen[bytes] | None = None
        self._parec: subprocess.Popen[bytes] | None = None
        self._feeder: subprocess.Popen[bytes] | None = None
        self.speaker_file = self.root / "speaker.raw"

    @property
    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": self.server}

    def start(self, timeout_s: float = 15.0) -> None:
        config = self.root / "headset.pa"
        config.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name={SINK} format=s16le rate={RATE_HZ} channels=1 "
            "sink_properties=device.description=Jabra_EVOLVE_LINK_Virtual\n"
            f"load-module module-pipe-source source_name={SOURCE} file={self.fifo} format=s16le rate={RATE_HZ} "
            "channels=1 source_properties=device.description=Jabra_EVOLVE_LINK_Virtual_Mic\n"
            f"set-default-sink {SINK}\nset-default-source {SOURCE}\n"
        )
        env = dict(os.environ, PULSE_RUNTIME_PATH=str(self.root / "run"), HOME=str(self.root))
        with open(self.log, "wb") as log:
            self._daemon = subprocess.Popen(
                ["pulseaudio", "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1",
                 "--disallow-exit", "--use-pid-file=no", "--log-target=stderr"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        # the daemon is ready when pactl gets an answer (pactl itself waits for the socket)
        deadline = time.monotonic() + timeout_s
        while True:
            probe = subprocess.run(["pactl", "info"], env=dict(os.environ, **self.env), capture_output=True)
            if probe.returncode == 0 and self.fifo.exists():
                break
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)  # sleep-ok: polling a starting daemon that offers no readiness signal
        # The microphone's sample clock runs in its own process: in the test process it would fight the pj
        # media thread and PortAudio's callbacks for the GIL and deliver audio in bursts.
        self._feeder = subprocess.Popen(
            [sys.executable, "-c", _FEEDER, str(self.fifo), str(self.clock_ppm)], stdin=subprocess.PIPE,
        )

    # -- microphone ---------------------------------------------------------------------------------------------
    def speak(self, pcm: bytes) -> None:
        """Queue 16 kHz mono s16le PCM into the microphone (played after what is already queued)."""
        assert self._feeder is not None and self._feeder.stdin is not None
        pcm += bytes(-len(pcm) % CHUNK_BYTES)
        self._feeder.stdin.write(pcm)
        self._feeder.stdin.flush()

    # -- earphones ----------------------------------------------------------------------------------------------
    def start_recording_speaker(self) -> None:
        with open(self.speaker_file, "wb") as out:
            self._parec = subprocess.Popen(
                ["parec", "-d", f"{SINK}.monitor", "--raw", "--format=s16le", f"--rate={RATE_HZ}", "--channels=1",
                 "--latency-msec=20"],
                stdout=out, stderr=subprocess.DEVNULL, env=dict(os.environ, **self.env),
            )

    def speaker_pcm(self) -> bytes:
        return self.speaker_file.read_bytes() if self.speaker_file.exists() else b""

    def stop(self) -> None:
        for proc in (self._feeder, self._parec, self._daemon):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
