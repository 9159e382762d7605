"""Kamailio as a registrar + proxy for tests (digest auth, in-memory location table), and a SIP OPTIONS probe
that shows whether a user is registered (routed) through it."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

from tests.softphone.peers import PeerProcess, free_port, sip_options_answered, udp_port_bound, wait_until

_KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS") && uri==myself && $rU==$null) {{ sl_send_reply("200", "Keepalive"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ route(RELAY); }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ route(RELAY); }} exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "{password}", "0")) {{ www_challenge("$td", "0"); exit; }}
        consume_credentials();
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE|REFER|MESSAGE") && from_uri==myself) {{
        if (!pv_proxy_authenticate("$fd", "{password}", "0")) {{ proxy_challenge("$fd", "0"); exit; }}
        consume_credentials();
    }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (uri==myself && !lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}
"""


class Kamailio(PeerProcess):
    """Kamailio as registrar + proxy on 127.0.0.1 with digest auth (one shared password, no database)."""

    name = "kamailio"

    def __init__(self, workdir: Path, password: str = "secret") -> None:
        super().__init__()
        self.dir = workdir / f"kamailio-{uuid.uuid4().hex[:6]}"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.password = password
        self.uri = f"sip:127.0.0.1:{self.port}"
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(_KAMAILIO_CFG.format(port=self.port, password=password))
        self.starts = 0

    def start(self) -> Kamailio:
        self.starts += 1
        self._spawn(["kamailio", "-f", str(self.cfg), "-DD", "-E", "-P", str(self.dir / "kamailio.pid"),
                     "-Y", str(self.dir), "-m", "32", "-M", "8"], self.dir / f"kamailio-{self.starts}.log")
        wait_until(lambda: self._check_alive() and sip_options_answered(self.port), 20, "Kamailio to answer")
        return self

    def restart(self) -> None:
        self.stop()
        wait_until(lambda: not udp_port_bound(self.port), 10, "Kamailio's port to be released")
        self.start()

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sip_options_status(port: int, user: str, host: str = "127.0.0.1", timeout_s: float = 2.0) -> int:
    """Send OPTIONS for ``user`` through the proxy at ``port``: the final status code (0 if none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        branch, tag = uuid.uuid4().hex[:10], uuid.uuid4().hex[:8]
        msg = (f"OPTIONS sip:{user}@{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{branch};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:probe@example.org>;tag={tag}\r\nTo: <sip:{user}@{host}>\r\n"
               f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), (host, port))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = s.recv(4096)
            except TimeoutError:
                break
            code = int(data.split(b" ", 2)[1]) if data.startswith(b"SIP/2.0 ") else 0
            if code >= 200:
                return code
    return 0
