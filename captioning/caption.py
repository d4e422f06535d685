"""Caption images with a trained run: ``python -m captioning.caption IMAGE... --run DIR [--beam 5] [--out DIR]``.

Prints one line per image (``path<TAB>caption<TAB>log-probability``) and writes ``OUT/<image name>.png``: the
image, then one panel per word with the attention that chose it shown over the image (the attended regions
bright, the rest dimmed; maps upsampled smoothly from the feature grid). A Show and Tell (``nic``) run has no
attention: its PNG shows the image and the caption.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from captioning import data as data_lib
from captioning import decode
from captioning.vocab import END_ID
from gan_jax.data.pipeline import to_model_range

PANEL = 160
COLUMNS = 5


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _fit(text: str, font, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def attention_figure(image_uint8: np.ndarray, words: list[str], alphas_TxP: np.ndarray | None,
                     title: str = "") -> Image.Image:
    """A header with the caption, then the image and, per word, the attention that produced it over the image
    (``alphas_TxP[t]`` for word t; ``None``: the image and caption only)."""
    font, label_h = _font(14), 22
    base = Image.fromarray(image_uint8).convert("RGB").resize((PANEL, PANEL), Image.BICUBIC)
    panels = [(base, "image")]
    if alphas_TxP is not None:
        grid = int(round(np.sqrt(alphas_TxP.shape[-1])))
        img = np.asarray(base, np.float32)
        for t, word in enumerate(words):
            amap = Image.fromarray(alphas_TxP[t].reshape(grid, grid).astype(np.float32), mode="F")
            amap = np.asarray(amap.resize((PANEL, PANEL), Image.BICUBIC), np.float32)
            amap = np.clip(amap / max(float(amap.max()), 1e-8), 0.0, 1.0)[..., None]
            # attended regions keep their colours (tinted orange), the rest is dimmed
            shown = img * (0.15 + 0.85 * amap) + np.asarray([255.0, 120.0, 0.0]) * 0.25 * amap
            panels.append((Image.fromarray(np.clip(shown, 0, 255).astype(np.uint8)), word))
    cols = min(COLUMNS, len(panels))
    rows = -(-len(panels) // cols)
    width = max(cols * PANEL, 2 * PANEL)
    fig = Image.new("RGB", (width, label_h + rows * (PANEL + label_h)), "white")
    draw = ImageDraw.Draw(fig)
    draw.text((4, 3), _fit(title or " ".join(w for w in words if w != "<end>"), font, width - 8), fill="black",
              font=font)
    for i, (panel, label) in enumerate(panels):
        x, y = (i % cols) * PANEL, label_h + (i // cols) * (PANEL + label_h)
        draw.text((x + 4, y + 3), _fit(label, font, PANEL - 8), fill="black", font=font)
        fig.paste(panel, (x, y + label_h))
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m captioning.caption", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--run", required=True, help="run directory of python -m captioning.train")
    p.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy)")
    p.add_argument("--max_len", type=int, default=0, help="longest caption in tokens (default the run's)")
    p.add_argument("--out", default=None, help="folder for the PNGs (default RUN/captions)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default the latest)")
    args = p.parse_args(argv)
    from gan_jax import cli

    cli.quiet_logs()
    return cli.run_main(lambda: run(args))


def run(args) -> int:
    from captioning import runs

    decode.check_beam(args.beam)
    r = runs.load_run(args.run, args.step)  # before reading images: a bad run fails first, and fast
    size = r.config.img_size
    originals, bad = [], []
    for path in args.images:
        try:
            originals.append(data_lib.read_image(path, size))
        except data_lib.DatasetError as e:
            bad.append(str(e))
    if bad:
        raise data_lib.DatasetError(f"{len(bad)} of {len(args.images)} image(s) cannot be used:\n  "
                                    + "\n  ".join(bad))
    out_dir = os.path.abspath(args.out or os.path.join(args.run, "captions"))
    os.makedirs(out_dir, exist_ok=True)
    images = to_model_range(np.stack(originals))
    result = decode.caption(r.state, images, args.beam, args.max_len, return_alphas=True)
    tokens, scores, alphas = (np.asarray(result[k]) for k in ("tokens", "scores", "alphas"))
    attention = r.config.decoder == "attention"
    written: set[str] = set()
    for i, path in enumerate(args.images):
        words = r.vocab.decode(tokens[i])
        print(f"{path}\t{' '.join(words)}\t{scores[i]:.3f}")
        ended = len(words) < len(tokens[i]) and tokens[i][len(words)] == END_ID
        shown = words + ["<end>"] if ended else words
        fig = attention_figure(originals[i], shown, alphas[i][:len(shown)] if attention else None)
        name = os.path.splitext(os.path.basename(path))[0]
        if name in written:  # two inputs with one file name
            name = f"{name}_{i}"
        written.add(name)
        fig.save(os.path.join(out_dir, name + ".png"))
    kind = "attention maps" if attention else "captions (the nic decoder has no attention)"
    print(f"wrote {kind} to {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
