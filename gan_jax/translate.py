"""Translate image files with a trained run: ``python -m gan_jax.translate --run DIR --input PATH... [--out DIR]
[--direction AtoB|BtoA] [--n_styles K | --style_from PATH...] [--attrs A,B=0] [--keep_size] [--tile 128 --overlap 16]
[--step N] [--seed 0]``.

Every translation model defines ``translate(state, images, rng, [direction], [n_styles])`` on [-1, 1] NHWC images;
this command reads the signature to know what it takes:
- ``direction`` (two-way models: cyclegan, discogan, dualgan, unit, munit): ``--direction BtoA`` runs the reverse
  generator. A model without it refuses ``--direction BtoA``.
- ``n_styles`` (multimodal models: bicyclegan, munit): ``--n_styles K`` writes K translations of each input
  (``NAME_style0.png`` ...), one random style each (``--seed``). ``--style_from PATH...`` takes the styles from
  images of the target domain instead (example-guided translation: ``NAME_REFNAME.png``, one per reference).
- super-resolution models (``SCALE = 4``: srgan, esrgan) upscale each image at its own size; images larger than
  ``--tile`` pixels (of the input) are cut into overlapping tiles, each upscaled alone and blended back with weights
  that fall off linearly across the ``--overlap``, so memory stays bounded and no seams show.
- ``attrs`` (attribute-conditioned models: stargan): ``--attrs Blond_Hair,Male=0`` sets those attributes and keeps
  the others as the model's own classifier reads them from the input (``NAME_attrs.png``); without ``--attrs``, one
  output per attribute, that attribute flipped (``NAME_<attribute>.png``), as the script's sample grid.
Other models translate at the size they were trained at: inputs are resized (bicubic) to it, and ``--keep_size``
resizes each output back to its input's size. Inputs: image files or folders of them; outputs: PNGs in ``--out``
(default RUN/translations), named after the input.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys

import numpy as np
from PIL import Image

from gan_jax.data.sources import IMAGE_EXTENSIONS, DatasetError, read_image


def input_files(paths: list[str]) -> list[str]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise DatasetError(f"input folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            files += found
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise DatasetError(f"input {path} does not exist")
    return files


def to_model(image_uint8: np.ndarray) -> np.ndarray:
    return image_uint8.astype(np.float32)[None] * (2.0 / 255.0) - 1.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round((np.asarray(image) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def save_png(image_HxWxC: np.ndarray, path: str) -> None:
    arr = to_uint8(image_HxWxC)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``size`` px, consecutive tiles overlapping by >= ``overlap``."""
    if size <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def ramp(length: int, fade: int) -> np.ndarray:
    """Blend weights along one tile side: rising linearly over ``fade`` px at both ends, positive everywhere."""
    x = np.arange(length, dtype=np.float32) + 0.5
    return np.clip(np.minimum(x, length - x) / max(fade, 1), 1e-3, 1.0)


def upscale_tiled(upscale, image_1xHxWxC: np.ndarray, scale: int, tile: int, overlap: int) -> np.ndarray:
    """``upscale`` ([1, h, w, C] -> [1, h*scale, w*scale, C]) applied tile by tile and blended: [H*s, W*s, C]."""
    if overlap < 0 or overlap >= tile:
        raise ValueError(f"--overlap must be in [0, --tile), got {overlap} with --tile {tile}")
    _, h, w, c = image_1xHxWxC.shape
    th, tw = min(tile, h), min(tile, w)
    out = np.zeros((h * scale, w * scale, c), np.float32)
    weight = np.zeros((h * scale, w * scale, 1), np.float32)
    window = np.outer(ramp(th * scale, overlap * scale), ramp(tw * scale, overlap * scale))[..., None]
    for y in tile_starts(h, th, overlap):
        for x in tile_starts(w, tw, overlap):
            part = np.asarray(upscale(image_1xHxWxC[:, y:y + th, x:x + tw]))[0]
            out[y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += part * window
            weight[y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += window
    return out / weight


def resize(image_uint8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HxWxC to (h, w), bicubic (what the translation data kinds train on)."""
    from gan_jax.data import translation

    return translation.resize(image_uint8, size, image_uint8.shape[-1])


def translate_files(model, config, state, files: list[str], out_dir: str, *, direction: str | None = None,
                    n_styles: int | None = None, keep_size: bool = False, tile: int = 128, overlap: int = 16,
                    seed: int = 0, attrs: str | None = None, style_from: list[str] | None = None) -> list[str]:
    """Translate ``files`` with ``model.translate``; returns the PNG paths written.

    ``attrs`` (models conditioned on attributes: stargan): "Name[=0|1],..." sets those attributes and keeps the
    others as the model's classifier reads them; None writes one output per attribute, flipped. ``style_from``
    (multimodal models): target-domain image files whose styles are used, one output per file."""
    import functools

    import jax

    name = model.__name__.rsplit(".", 1)[-1]
    accepted = inspect.signature(model.translate).parameters
    options = {}
    if direction is not None and direction != "AtoB":
        if "direction" not in accepted:
            raise ValueError(f"model {name} translates one way only: it takes no --direction {direction}")
    if direction is not None and "direction" in accepted:
        options["direction"] = direction
    if n_styles is not None:
        if "n_styles" not in accepted:
            raise ValueError(f"model {name} is not multimodal: it takes no --n_styles")
        if n_styles < 1:
            raise ValueError(f"--n_styles must be >= 1, got {n_styles}")
        options["n_styles"] = n_styles
    def model_size() -> tuple[int, int]:  # (super-resolution models work at the input's own size instead)
        return (config.img_height, config.img_width) if hasattr(config, "img_height") else (config.img_size,) * 2

    references, ref_names = None, []
    if style_from:
        if "references" not in accepted:
            raise ValueError(f"model {name} takes no style from images: it has no --style_from")
        if n_styles is not None:
            raise ValueError("give --n_styles (random styles) or --style_from (styles of images), not both")
        references = np.concatenate([to_model(resize(read_image(f, config.channels), model_size()))
                                     for f in style_from])
        ref_names = [os.path.splitext(os.path.basename(f))[0] for f in style_from]
        if len(set(ref_names)) < len(ref_names):  # same file names in different folders: number them
            ref_names = [f"ref{k}_{ref}" for k, ref in enumerate(ref_names)]
        options["references"] = references
    by_attrs = "attrs" in accepted
    if attrs is not None and not by_attrs:
        raise ValueError(f"model {name} is not conditioned on attributes: it takes no --attrs")
    required = [n for n, prm in list(accepted.items())[2:]
                if prm.default is inspect.Parameter.empty and n not in ("rng", "attrs")]
    if required:
        raise ValueError(f"model {name}'s translate needs {', '.join(required)}, which this command cannot supply")
    translate = jax.jit(functools.partial(model.translate, **options))
    fn = translate if "rng" in accepted else (lambda s, x, rng, **kw: translate(s, x, **kw))
    targets_fn = model.attribute_targets if by_attrs else None  # eager: keeps its outputs in attribute order
    key = jax.random.key(seed)
    scale = getattr(model, "SCALE", None)
    channels = config.channels
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for i, path in enumerate(files):
        image = read_image(path, channels)
        stem = os.path.splitext(os.path.basename(path))[0]
        rng = jax.random.fold_in(key, i)
        if scale:
            result = upscale_tiled(lambda x: fn(state, x, rng), to_model(image), scale, tile, overlap)
            outputs = {f"{stem}_x{scale}": result}
        else:
            x = to_model(resize(image, model_size()))
            if by_attrs:  # one output per target attribute vector
                outputs = {f"{stem}_{k}": np.asarray(fn(state, x, rng, attrs=v))[0]
                           for k, v in targets_fn(state, x, attrs).items()}
            elif references is not None:  # [K, 1, H, W, C], one per reference image
                result = np.asarray(fn(state, x, rng))
                outputs = {f"{stem}_{ref}": result[k, 0] for k, ref in enumerate(ref_names)}
            elif n_styles is not None:  # [K, 1, H, W, C]
                result = np.asarray(fn(state, x, rng))
                outputs = {f"{stem}_style{k}": result[k, 0] for k in range(n_styles)}
            else:
                suffix = f"_{direction}" if "direction" in options else "_out"
                outputs = {f"{stem}{suffix}": np.asarray(fn(state, x, rng))[0]}
            if keep_size:
                outputs = {k: resize(to_uint8(v), image.shape[:2]).astype(np.float32) / 127.5 - 1.0
                           for k, v in outputs.items()}
        for out_name, result in outputs.items():
            out_path = os.path.join(out_dir, out_name + ".png")
            save_png(result, out_path)
            written.append(out_path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_jax.translate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run", required=True, help="run directory (as written by gan_jax.train)")
    p.add_argument("--input", required=True, nargs="+", help="image files or folders")
    p.add_argument("--out", default=None, help="output folder (default RUN/translations)")
    p.add_argument("--direction", default=None, choices=("AtoB", "BtoA"), help="two-way models: which generator")
    p.add_argument("--n_styles", type=int, default=None, help="multimodal models: translations per input")
    p.add_argument("--style_from", nargs="+", default=None, metavar="PATH",
                   help="multimodal models: target-domain images (files or folders) whose styles to use, one output "
                        "each")
    p.add_argument("--attrs", default=None,
                   help="stargan: attributes to set, e.g. Blond_Hair,Male=0 (the rest kept as its classifier reads "
                        "them); default: one output per attribute, flipped")
    p.add_argument("--keep_size", action="store_true", help="resize outputs back to their input's size")
    p.add_argument("--tile", type=int, default=128, help="super-resolution: tile side, in input pixels")
    p.add_argument("--overlap", type=int, default=16, help="super-resolution: tile overlap, in input pixels")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.tile < 1:
        p.error(f"--tile must be >= 1, got {args.tile}")
    from gan_jax import cli

    cli.quiet_logs()
    from gan_jax.runs import load_run

    def translate():
        files = input_files(args.input)
        model, config, state, _ = load_run(args.run, args.step)
        if not hasattr(model, "translate"):
            raise ValueError(f"model {model.__name__.rsplit('.', 1)[-1]} does not translate images (no translate)")
        written = translate_files(model, config, state, files, args.out or os.path.join(args.run, "translations"),
                                  direction=args.direction, n_styles=args.n_styles, keep_size=args.keep_size,
                                  tile=args.tile, overlap=args.overlap, seed=args.seed, attrs=args.attrs,
                                  style_from=input_files(args.style_from) if args.style_from else None)
        print("\n".join(written))

    return cli.run_main(translate, cli.RUN_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
