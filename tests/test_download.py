"""gan_jax.data.download against a local HTTP server (no internet): a pix2pix tar.gz and a CycleGAN zip unpacked
into the layouts the data kinds read, a resumed partial download (HTTP Range), size and checksum errors."""

import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan_jax import data
from gan_jax.data import download


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def facades_tar(rng) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split, n in (("train", 3), ("val", 2)):
            for i in range(n):
                payload = png_bytes(rng.integers(0, 255, (8, 16, 3), dtype=np.uint8))
                info = tarfile.TarInfo(f"facades/{split}/{i}.png")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def horse2zebra_zip(rng) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for folder, n in (("trainA", 3), ("trainB", 2), ("testA", 1), ("testB", 1)):
            for i in range(n):
                z.writestr(f"horse2zebra/{folder}/{i}.png", png_bytes(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)))
    return buf.getvalue()


class Server:
    """Serves ``files`` (name -> bytes) with HTTP Range support; records the Range headers it saw."""

    def __init__(self, files):
        self.files, self.ranges = files, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                wanted = self.headers.get("Range")
                server.ranges.append(wanted)
                start = int(wanted.split("=")[1].rstrip("-")) if wanted else 0
                self.send_response(206 if wanted else 200)
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    rng = np.random.default_rng(0)
    s = Server({"facades.tar.gz": facades_tar(rng), "horse2zebra.zip": horse2zebra_zip(rng)})
    yield s
    s.close()


def test_pix2pix_archive_resumed_and_unpacked_for_the_paired_kind(server, tmp_path):
    body = server.files["facades.tar.gz"]
    (tmp_path / "facades.tar.gz.part").write_bytes(body[:100])  # an interrupted earlier download
    folder = download.download("facades", str(tmp_path), base_url=server.url,
                               sha256=hashlib.sha256(body).hexdigest(), show_progress=False)
    assert server.ranges == ["bytes=100-"]  # continued, not restarted
    assert folder == str(tmp_path / "facades") and not (tmp_path / "facades.tar.gz").exists()
    src = data.load(folder, "paired", img_size=8, channels=3)
    assert len(src) == 3 and src.get(np.arange(3))["image_a"].shape == (3, 8, 8, 3)


def test_cyclegan_zip_moved_to_pytorch_gan_layout(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_JAX_DATA_URL", server.url)
    assert download.main(["horse2zebra", "--out", str(tmp_path)]) == 0
    root = tmp_path / "horse2zebra"
    assert sorted(os.listdir(root)) == ["test", "train"] and sorted(os.listdir(root / "train")) == ["A", "B"]
    assert len(data.load(str(root), "unpaired", img_size=8, channels=3)) == 3
    assert "100.0%" in capsys.readouterr().err  # the progress bar reached the end


def test_download_errors(server, tmp_path, capsys):
    with pytest.raises(download.DownloadError, match="unknown dataset 'shoes'"):
        download.source("shoes")
    assert download.source("maps")[1] == "maps.tar.gz" and download.source("cyclegan/maps")[1] == "maps.zip"
    with pytest.raises(download.DownloadError, match="sha256"):
        download.download("facades", str(tmp_path), base_url=server.url, sha256="0" * 64, show_progress=False)
    assert not (tmp_path / "facades.tar.gz").exists()  # a bad archive is not kept
    assert download.main(["night2day", "--out", str(tmp_path), "--base_url", server.url, "--no_progress"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(download.DownloadError, match="not a valid archive"):
        download.unpack(str(tmp_path / "bad.zip"), str(tmp_path))
