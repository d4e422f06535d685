"""Download the image-to-image datasets PyTorch-GAN's scripts fetch: ``python -m gan_jax.data.download NAME
[--out data] [--base_url URL] [--sha256 HEX]``.

- pix2pix sets (``data/download_pix2pix_dataset.sh``): facades, cityscapes, maps, edges2shoes, edges2handbags,
  night2day -- ``NAME.tar.gz`` from the pix2pix authors, unpacked to ``OUT/NAME/{train,val,test}`` of side-by-side
  A|B images (read by the ``paired`` kind; the ``unpaired`` kind reads their halves).
- CycleGAN sets (``data/download_cyclegan_dataset.sh``): apple2orange, summer2winter_yosemite, horse2zebra,
  monet2photo, cezanne2photo, ukiyoe2photo, vangogh2photo, iphone2dslr_flower, ae_photos, and ``cyclegan/maps``,
  ``cyclegan/cityscapes``, ``cyclegan/facades`` (the unpaired versions of the pix2pix names) -- ``NAME.zip``,
  unpacked and moved to PyTorch-GAN's layout ``OUT/NAME/{train,test}/{A,B}`` (read by the ``unpaired`` kind).
Then e.g. ``python -m gan_jax.train --model pix2pix --dataset data/facades``.

The download shows a progress bar, resumes an interrupted one (the partial file ``OUT/NAME.<ext>.part`` is kept and
continued with an HTTP Range request), checks the size against what the server announced (and ``--sha256`` when
given), then unpacks (refusing archive members that would land outside ``OUT``) and removes the archive.
``--base_url`` (or ``$GAN_JAX_DATA_URL``) replaces the servers' base address, for mirrors and tests.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile

PIX2PIX_URL = "https://people.eecs.berkeley.edu/~tinghuiz/projects/pix2pix/datasets"
CYCLEGAN_URL = "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets"
PIX2PIX = ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day")
CYCLEGAN = ("apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo", "ukiyoe2photo",
            "vangogh2photo", "iphone2dslr_flower", "ae_photos", "maps", "cityscapes", "facades")
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download that cannot be completed or checked."""


def names() -> list[str]:
    return list(PIX2PIX) + [n if n not in PIX2PIX else f"cyclegan/{n}" for n in CYCLEGAN]


def source(name: str, base_url: str | None = None) -> tuple[str, str, str]:
    """(url, archive file name, dataset folder name) of ``name``."""
    if name in PIX2PIX:
        return f"{(base_url or PIX2PIX_URL).rstrip('/')}/{name}.tar.gz", f"{name}.tar.gz", name
    plain = name.removeprefix("cyclegan/")
    if plain in CYCLEGAN and (plain not in PIX2PIX or name.startswith("cyclegan/")):
        return f"{(base_url or CYCLEGAN_URL).rstrip('/')}/{plain}.zip", f"{plain}.zip", plain
    raise DownloadError(f"unknown dataset {name!r}; available: {', '.join(names())}")


def progress(done: int, total: int | None, start: float, width: int = 30) -> None:
    rate = done / max(time.time() - start, 1e-6) / 1e6
    if total:
        filled = int(width * done / total)
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {100 * done / total:5.1f}% of {total / 1e6:.1f} MB"
    else:
        bar = f"{done / 1e6:.1f} MB"
    print(f"\r{bar} {rate:.1f} MB/s", end="", file=sys.stderr, flush=True)


def fetch(url: str, dest: str, show_progress: bool = True) -> str:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present; checks the announced size."""
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial file is already complete
            os.replace(part, dest)
            return dest
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"cannot download {url}: {getattr(e, 'reason', e)}") from None
    with response:
        resumed = response.status == 206
        if have and not resumed:
            print(f"server ignored the resume request: downloading {url} again", file=sys.stderr)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done, start = have, time.time()
        try:
            with open(part, "ab" if resumed else "wb") as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if show_progress:
                        progress(done, total, start)
        except (OSError, http.client.HTTPException) as e:  # connection lost: keep the part for the next run
            raise DownloadError(f"{url}: interrupted after {done} bytes ({e}); run the command again to resume") from None
    if show_progress:
        print(file=sys.stderr)
    if total is not None and os.path.getsize(part) != total:
        raise DownloadError(f"{url}: got {os.path.getsize(part)} bytes of {total}; run the command again to resume")
    os.replace(part, dest)
    return dest


def check_sha256(path: str, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        os.remove(path)
        raise DownloadError(f"{path}: sha256 {digest.hexdigest()} differs from the expected {expected}; the file was "
                            f"removed, download it again")


def _inside(root: str, member: str) -> str:
    target = os.path.realpath(os.path.join(root, member))
    if os.path.commonpath([target, os.path.realpath(root)]) != os.path.realpath(root):
        raise DownloadError(f"archive member {member!r} would be written outside {root}; refusing to unpack")
    return target


def unpack(archive: str, out: str) -> None:
    try:
        if archive.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    _inside(out, member)
                z.extractall(out)
        else:
            with tarfile.open(archive) as t:
                for member in t.getmembers():
                    _inside(out, member.name)
                t.extractall(out, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(f"{archive} is not a valid archive ({e}); delete it and download again") from None


def to_pytorch_gan_layout(folder: str) -> None:
    """trainA, trainB, testA, testB -> train/A, train/B, test/A, test/B (what the cyclegan script's mv lines do)."""
    for split in ("train", "test"):
        for domain in ("A", "B"):
            old = os.path.join(folder, split + domain)
            if os.path.isdir(old):
                os.makedirs(os.path.join(folder, split), exist_ok=True)
                new = os.path.join(folder, split, domain)
                if os.path.exists(new):
                    shutil.rmtree(new)
                os.replace(old, new)


def download(name: str, out: str = "data", base_url: str | None = None, sha256: str | None = None,
             show_progress: bool = True) -> str:
    """Download and unpack ``name`` into ``out``; returns the dataset folder."""
    url, filename, folder = source(name, base_url or os.environ.get("GAN_JAX_DATA_URL"))
    os.makedirs(out, exist_ok=True)
    archive = os.path.join(out, filename)
    if not os.path.exists(archive):
        print(f"downloading {url}", file=sys.stderr)
        fetch(url, archive, show_progress)
    if sha256:
        check_sha256(archive, sha256)
    unpack(archive, out)
    target = os.path.join(out, folder)
    if not os.path.isdir(target):
        raise DownloadError(f"{archive} did not contain a {folder}/ folder")
    if filename.endswith(".zip"):
        to_pytorch_gan_layout(target)
    os.remove(archive)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_jax.data.download", description=__doc__.split("\n\n")[0])
    p.add_argument("name", help=f"one of: {', '.join(names())}")
    p.add_argument("--out", default="data", help="folder to unpack into (the dataset lands in OUT/NAME)")
    p.add_argument("--base_url", default=None, help="replace the server's base URL (default: $GAN_JAX_DATA_URL, "
                                                    "else the authors' servers)")
    p.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    p.add_argument("--no_progress", action="store_true")
    args = p.parse_args(argv)
    from gan_jax import cli

    return cli.run_main(lambda: print(download(args.name, args.out, args.base_url, args.sha256, not args.no_progress)),
                        (DownloadError, OSError))


if __name__ == "__main__":
    sys.exit(main())
