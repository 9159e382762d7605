"""Real SIP peers for tests, all on 127.0.0.1 with free ports: baresip (patient phone), SIPp (callee for load),
Kamailio (registrar/proxy with digest auth, in kamailio_peer.py). Each launcher writes a temporary config, starts the program, waits
until it answers (never a fixed sleep) and stops it by its own pid.

Reusable by other areas' tests (robocaller, headset, patient simulator): ``from tests.softphone.peers import
Baresip, Sipp, speech_wav``;
``tests.softphone.kamailio_peer`` has the registrar.
"""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AUDIO_CACHE = REPO / ".cache" / "test-audio"


# -- ports and readiness ----------------------------------------------------------------------------------------
def _free_for_both(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_run(count: int, step: int = 2) -> int:
    """A base port P with P, P + step, … (``count`` ports) all free for UDP and TCP: robot-call workers listen on
    base + 2 * i, and a port next to a free one may be the local end of a client connection (e.g. to
    PostgreSQL) in the ephemeral range."""
    for _ in range(100):
        base = free_port()
        if all(_free_for_both(base + step * i) for i in range(1, count)):
            return base
    raise RuntimeError(f"no run of {count} free ports found")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listeners use UDP, ctrl_tcp uses TCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no free port found")


def free_sip_port_pair() -> int:
    """A port P where baresip can listen: UDP and TCP on P, and TLS on P + 1 (baresip 1.0 binds all three)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and _tcp_free(port + 1):
            return port
    raise RuntimeError("no free SIP port pair found")


def _tcp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_udp_block(size: int = 4) -> int:
    """The first of ``size`` consecutive UDP ports free on 127.0.0.1 (SIPp's ``-mp P`` takes P to P+3: audio and
    video RTP/RTCP), so a media port is never half taken by another test's peer."""
    for _ in range(100):
        first = free_port()
        if first + size > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
        return first
    raise RuntimeError("no block of free UDP ports found")


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a readiness condition (not a sleep-and-hope: fails loudly with ``what`` after the timeout)."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        pause.wait(0.05)


def udp_port_bound(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def sip_options_answered(port: int, host: str = "127.0.0.1", timeout_s: float = 0.3) -> bool:
    """Send one SIP OPTIONS over UDP; True if anything SIP comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        branch, tag = uuid.uuid4().hex[:10], uuid.uuid4().hex[:8]
        msg = (f"OPTIONS sip:ping@{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{branch};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag={tag}\r\nTo: <sip:ping@{host}>\r\n"
               f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        s.settimeout(timeout_s)
        s.sendto(msg.encode(), (host, port))
        try:
            data = s.recv(4096)
        except (TimeoutError, ConnectionRefusedError):
            return False
    return data.startswith(b"SIP/2.0")


class PeerProcess:
    name = "peer"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def _spawn(self, args: list[str], log_path: Path, stdin: int | None = subprocess.DEVNULL) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def _check_alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()[-2000:]}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdin is not None:
            proc.stdin.close()


# -- audio ------------------------------------------------------------------------------------------------------
def speech_wav(text: str, seconds: float, name: str, voice: str = "en", rate_hz: int = 8000) -> Path:
    """espeak-ng speech between two tones, padded with silence to ``seconds``: 16-bit mono WAV (cached)."""
    AUDIO_CACHE.mkdir(parents=True, exist_ok=True)
    out = AUDIO_CACHE / f"{name}-{rate_hz}.wav"
    if out.exists():
        return out
    raw = AUDIO_CACHE / f"{name}-espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True)
    fmt = ["-r", str(rate_hz), "-c", "1", "-b", "16"]
    stem = AUDIO_CACHE / f"{name}-{uuid.uuid4().hex[:6]}"
    parts = [stem.with_suffix(f".p{i}.wav") for i in range(3)]
    subprocess.run(["sox", "-n", *fmt, str(parts[0]), "synth", "0.6", "sine", "440", "vol", "0.5"], check=True)
    subprocess.run(["sox", str(raw), *fmt, str(parts[1])], check=True)
    subprocess.run(["sox", "-n", *fmt, str(parts[2]), "synth", "0.6", "sine", "1000", "vol", "0.5"], check=True)
    tmp = stem.with_suffix(".tmp.wav")
    subprocess.run(["sox", *map(str, parts), str(tmp), "pad", "0.2", str(seconds)], check=True)
    subprocess.run(["sox", str(tmp), str(out), "trim", "0", str(seconds)], check=True)
    for p in (tmp, raw, *parts):
        p.unlink(missing_ok=True)
    return out


def padded_wav(src: Path, seconds: float) -> Path:
    """``src`` followed by silence up to ``seconds`` (baresip hangs up when its source file ends)."""
    out = src.with_name(f"{src.stem}-pad{int(seconds)}.wav")
    if not out.exists():
        subprocess.run(["sox", str(src), str(out), "pad", "0", str(seconds)], check=True)
    return out


# -- baresip ----------------------------------------------------------------------------------------------------
class Baresip(PeerProcess):
    """baresip as a patient phone: auto-answers, plays ``source_wav`` (8 kHz mono S16), dumps what it hears."""

    name = "baresip"

    def __init__(self, workdir: Path, source_wav: Path, *, user: str = "patient", answer: bool = True,
                 registrar_port: int = 0, password: str = "") -> None:
        super().__init__()
        self.dir = workdir / f"baresip-{uuid.uuid4().hex[:6]}"
        self.dump_dir = self.dir / "dump"
        self.dump_dir.mkdir(parents=True)
        self.port = free_sip_port_pair()
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        while self.ctrl_port in (self.port, self.port + 1):  # not where its own SIP/TLS listener goes
            self.ctrl_port = free_port(socket.SOCK_STREAM)
        self.user = user
        self.uri = f"sip:{user}@127.0.0.1:{self.port}"
        silence_tail = padded_wav(source_wav, 120)  # never run dry during a test
        (self.dir / "config").write_text("\n".join([
            "poll_method epoll", f"sip_listen 127.0.0.1:{self.port}", "net_interface 127.0.0.1",
            f"audio_source aufile,{silence_tail}", "audio_player aubridge,nowhere", "audio_alert aubridge,nowhere",
            "ausrc_srate 8000", "ausrc_channels 1", "auplay_srate 8000", "auplay_channels 1",
            "module_path /usr/lib/baresip/modules", "module g711.so", "module aufile.so", "module aubridge.so",
            "module sndfile.so", f"snd_path {self.dump_dir}", "module_app account.so", "module_app menu.so",
            "module_app ctrl_tcp.so", f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}", "",
        ]))
        mode = ";answermode=auto" if answer else ";answermode=manual"
        if registrar_port:
            line = (f"<sip:{user}@127.0.0.1:{registrar_port}>;auth_pass={password};regint=600{mode}"
                    ";audio_codecs=PCMU,PCMA")
        else:
            line = f"<sip:{user}@127.0.0.1:{self.port}>;regint=0{mode};audio_codecs=PCMU,PCMA"
        (self.dir / "accounts").write_text(line + "\n")
        (self.dir / "contacts").write_text("")

    def start(self) -> Baresip:
        self._spawn(["baresip", "-f", str(self.dir)], self.dir / "baresip.log", stdin=subprocess.PIPE)
        wait_until(lambda: self._check_alive() and sip_options_answered(self.port), 15, "baresip to answer OPTIONS")
        wait_until(self._ctrl_ready, 10, "baresip ctrl_tcp")
        return self

    def _ctrl_ready(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.3):
            return True
        return False

    def command(self, command: str, params: str = "") -> dict[str, object]:
        """Run a baresip command over ctrl_tcp (netstring JSON) and return its response."""
        body = json.dumps({"command": command, "params": params, "token": uuid.uuid4().hex[:8]}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as s:
            s.sendall(str(len(body)).encode() + b":" + body + b",")
            data = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                data += s.recv(65536)
                reply = _first_response(data)
                if reply is not None:
                    return reply
        raise TimeoutError(f"baresip did not answer the command {command!r}")

    def received_wav(self, timeout_s: float = 10.0) -> Path:
        """The WAV of what baresip decoded from us (sndfile module), once baresip has completed it (the
        header is written when the call ends)."""
        def complete() -> bool:
            found = sorted(self.dump_dir.glob("*-dec.wav"))
            if not found:
                return False
            head = found[-1].read_bytes()[:44]
            return head[:4] == b"RIFF" and int.from_bytes(head[40:44], "little") > 0

        wait_until(complete, timeout_s, f"baresip's -dec.wav in {self.dump_dir}")
        return sorted(self.dump_dir.glob("*-dec.wav"))[-1]

    def __enter__(self) -> Baresip:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _first_response(data: bytes) -> dict[str, object] | None:
    while data:
        head, sep, rest = data.partition(b":")
        if not sep or not head.isdigit() or len(rest) < int(head) + 1:
            return None
        body, data = rest[: int(head)], rest[int(head) + 1:]
        msg = json.loads(body)
        if msg.get("response"):
            return dict(msg)
    return None


# -- SIPp -------------------------------------------------------------------------------------------------------
_SIPP_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
  <recv request="INVITE" crlf="true"/>
"""
_SIPP_REPLY = """  <send{retrans}><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{body}]]></send>
"""
_SIPP_SDP = """Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
"""
_SIPP_BYE = """  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def sipp_answer_scenario(ulaw: Path) -> str:
    """Answer, stream ``ulaw`` (raw µ-law 8 kHz) in a loop until the caller hangs up."""
    return (_SIPP_HEAD.format(name="answer")
            + _SIPP_REPLY.format(retrans="", status="180 Ringing", body="Content-Length: 0\n\n")
            + _SIPP_REPLY.format(retrans=' retrans="500"', status="200 OK", body=_SIPP_SDP)
            + '  <recv request="ACK" crlf="true"/>\n'
            + f'  <nop><action><exec rtp_stream="{ulaw},-1,0"/></action></nop>\n'
            + _SIPP_BYE)


def sipp_reject_scenario(status: str = "486 Busy Here") -> str:
    return (_SIPP_HEAD.format(name="reject")
            + _SIPP_REPLY.format(retrans="", status=status, body="Content-Length: 0\n\n")
            + '  <recv request="ACK"/>\n</scenario>\n')


def ulaw_of(wav: Path) -> Path:
    out = wav.with_suffix(".ulaw")
    if not out.exists():
        subprocess.run(["sox", str(wav), "-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law", str(out)], check=True)
    return out



_SIPP_UAC_INVITE_REJECTED = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="invite-{status}">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:13900000005@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:13900000005@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="{status}"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
From: <sip:13900000005@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
"""


def sipp_call_rejected(workdir: Path, target: str, user: str, status: int, timeout_s: float = 20.0) -> str:
    """SIPp as a caller: one INVITE to ``user`` at ``target`` (host:port) that must be answered with exactly
    ``status`` (any other final answer, or none within ``timeout_s``, fails the scenario). Returns SIPp's
    error log ("" when the call went as scripted); raises if SIPp reports a failed call."""
    run_dir = workdir / f"sipp-uac-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir(parents=True)
    scenario = run_dir / "scenario.xml"
    scenario.write_text(_SIPP_UAC_INVITE_REJECTED.format(status=status))
    errors = run_dir / "errors.log"
    done = subprocess.run(
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
         "-mp", str(free_udp_block(4)), "-s", user, "-m", "1", "-l", "1", "-timeout", f"{int(timeout_s)}s",
         "-timeout_error", "-nostdin", "-trace_err", "-error_file", str(errors), target],
        capture_output=True, timeout=timeout_s + 10, check=False, cwd=run_dir)
    log = errors.read_text(errors="replace") if errors.exists() else ""
    if done.returncode != 0:
        raise AssertionError(f"SIPp's call to {user}@{target} did not get {status} (exit {done.returncode}): "
                             f"{log[-2000:]}{done.stdout.decode(errors='replace')[-1500:]}")
    return log


class Sipp(PeerProcess):
    """SIPp as callee (UAS) running ``scenario`` (XML text) for any number of calls."""

    name = "sipp"

    def __init__(self, workdir: Path, scenario: str, user: str = "patient") -> None:
        super().__init__()
        self.dir = workdir / f"sipp-{uuid.uuid4().hex[:6]}"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.media_port = free_udp_block(4)
        self.uri = f"sip:{user}@127.0.0.1:{self.port}"
        self.scenario = self.dir / "scenario.xml"
        self.scenario.write_text(scenario)

    def start(self) -> Sipp:
        self._spawn(["sipp", "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.port),
                     "-mi", "127.0.0.1", "-mp", str(self.media_port), "-nostdin", "-trace_err",
                     "-error_file", str(self.dir / "errors.log")], self.dir / "sipp.log")
        wait_until(lambda: self._check_alive() and udp_port_bound(self.port), 15, "SIPp to listen")
        return self

    def __enter__(self) -> Sipp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
