"""Transport, codecs and the SIP account of the softphone (runs once on the pj thread at start-up)."""

from __future__ import annotations

import pjsua2 as pj

from softphone.config import PhoneConfig
from softphone.errors import SoftphoneError
from softphone.sipcall import SipAccount, SipHandler


def open_account(ep: pj.Endpoint, cfg: PhoneConfig, handler: SipHandler) -> tuple[SipAccount, str]:
    """Listen for SIP, start the library with the null sound device, set codecs, create the account.
    Returns the account and the phone's own SIP URI (direct calls reach it there)."""
    tcfg = pj.TransportConfig()
    tcfg.port = cfg.bind_port
    tcfg.boundAddress = cfg.bind_host
    try:
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    except pj.Error as exc:
        raise SoftphoneError(f"cannot listen for SIP on {cfg.bind_host}:{cfg.bind_port} ({exc.reason}): "
                             "is another softphone running? change CALLCENTER_SIP_BIND") from None
    ep.libStart()
    ep.audDevManager().setNullDev()  # the wheel has no sound devices; the headset joins through a port
    set_codecs(ep, cfg.codecs)
    port = ep.transportGetInfo(tid).localName.rpartition(":")[2]
    local_uri = f"sip:{cfg.user}@{cfg.bind_host}:{port}"
    acfg = pj.AccountConfig()
    acfg.mediaConfig.transportConfig.boundAddress = cfg.bind_host  # else the SDP advertises another address
    acfg.mediaConfig.lockCodecEnabled = False  # no re-INVITE to lock one codec after a multi-codec answer
    if cfg.registrar:
        domain = cfg.registrar.split(":", 1)[1].split(";")[0]
        acfg.idUri = f"sip:{cfg.user}@{domain}"
        acfg.regConfig.registrarUri = cfg.registrar
        acfg.regConfig.timeoutSec = cfg.reg_expires_s
        acfg.regConfig.retryIntervalSec = cfg.reg_retry_s
        acfg.regConfig.firstRetryIntervalSec = cfg.reg_retry_s
        acfg.regConfig.randomRetryIntervalSec = 0
        acfg.sipConfig.proxies.append(cfg.registrar + ";lr")
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", cfg.user, 0, cfg.password))
    else:
        acfg.idUri = local_uri
    account = SipAccount(handler)
    account.create(acfg, True)
    return account, local_uri


def set_codecs(ep: pj.Endpoint, codecs: tuple[str, ...]) -> None:
    """Give the listed codecs (by name, e.g. PCMU) falling priorities and disable every other one."""
    wanted = [c.upper() for c in codecs]
    available = {info.codecId: info.codecId.split("/")[0].upper() for info in ep.codecEnum2()}
    unknown = set(wanted) - set(available.values())
    if unknown:
        raise SoftphoneError(f"unknown codecs {sorted(unknown)} in CALLCENTER_SIP_CODECS; available: "
                             f"{sorted(set(available.values()))}")
    for codec_id, name in available.items():
        ep.codecSetPriority(codec_id, 255 - wanted.index(name) if name in wanted else 0)
