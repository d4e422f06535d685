"""Corpus BLEU-1..4 of a trained run on a split, for several beam sizes:
``python -m captioning.evaluate --run DIR --beam 1,3,5 [--split test] [--n 1000]``.

Every image is captioned once per beam size (beam 1 = greedy) and scored against *all* its reference captions.
METEOR and CIDEr are added when their packages are installed (``captioning.metrics.optional_metrics``). Results
go to ``DIR/eval/step_XXXXXXXX.json`` and are printed as a table, with the decoding speed (images/s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

from captioning import data as data_lib
from captioning import decode, metrics
from captioning.vocab import Vocab
from gan_jax.data.pipeline import to_model_range


def parse_beams(text: str) -> list[int]:
    try:
        beams = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise decode.DecodeError(f"--beam {text!r}: expected comma-separated integers such as 1,3,5") from None
    if not beams:
        raise decode.DecodeError("--beam: give at least one beam size")
    for b in beams:
        decode.check_beam(b)
    return beams


def caption_set(state, captions: data_lib.CaptionSet, vocab: Vocab, *, img_size: int, beam_size: int,
                batch_size: int = 50, n: int | None = None, max_len: int = 0) -> tuple[list[list[str]], float]:
    """(hypotheses as word lists, images per second) for the first ``n`` images of ``captions``; the batches
    all have one shape (the last is padded), so decoding compiles once."""
    n = len(captions) if n is None else min(n, len(captions))
    hyps, seconds = [], 0.0
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        images = to_model_range(captions.images(np.pad(idx, (0, batch_size - len(idx)), mode="edge"), img_size))
        t0 = time.perf_counter()
        out = jax.device_get(decode.caption(state, images, beam_size, max_len))
        if start > 0:  # the first batch includes compilation
            seconds += time.perf_counter() - t0
        hyps += [vocab.decode(row) for row in out["tokens"][:len(idx)]]
    timed = n - min(batch_size, n)
    return hyps, (timed / seconds if seconds > 0 else float("nan"))


def references(captions: data_lib.CaptionSet, n: int | None = None) -> list[list[list[str]]]:
    n = len(captions) if n is None else min(n, len(captions))
    return [[list(c) for c in captions.captions[i]] for i in range(n)]


def score(refs, hyps, optional: bool = True) -> dict:
    bleu = metrics.corpus_bleu(refs, hyps)
    result = {f"bleu{i + 1}": b for i, b in enumerate(bleu)}
    if optional:
        extra, skipped = metrics.optional_metrics(refs, hyps)
        result.update(extra)
        if skipped:
            result["skipped"] = skipped
    return result


def dev_bleu_hook(captions: data_lib.CaptionSet, vocab: Vocab, *, img_size: int, n: int, beam_size: int,
                  batch_size: int = 50):
    """The engine Hook's function: BLEU-1..4 of the current state on the first ``n`` images of ``captions``."""
    refs = references(captions, n)

    def fn(step, state):
        hyps, _ = caption_set(state, captions, vocab, img_size=img_size, beam_size=beam_size,
                              batch_size=min(batch_size, len(refs)), n=n)
        s = score(refs, hyps, optional=False)
        return {f"dev_bleu{i}": s[f"bleu{i}"] for i in (1, 4)}

    return fn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m captioning.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run directory of python -m captioning.train")
    p.add_argument("--beam", default="1,3,5", help="comma-separated beam sizes (1 = greedy)")
    p.add_argument("--split", default="test", choices=data_lib.SPLITS)
    p.add_argument("--n", type=int, default=None, help="first N images of the split (default all)")
    p.add_argument("--batch_size", type=int, default=50)
    p.add_argument("--max_len", type=int, default=0, help="longest caption in tokens (default the run's)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default the latest)")
    p.add_argument("--dataset", default=None, help="evaluate on another dataset than the run's")
    p.add_argument("--image_folder", default=None)
    p.add_argument("--data_dir", default=None)
    args = p.parse_args(argv)
    from gan_jax import cli

    cli.quiet_logs()
    return cli.run_main(lambda: run(args))


def run(args) -> int:
    from captioning import runs

    beams = parse_beams(args.beam)
    if args.n is not None and args.n < 1 or args.batch_size < 1:
        raise ValueError("--n and --batch_size must be >= 1")
    r = runs.load_run(args.run, args.step)
    spec = dict(r.saved.get("data", {}))
    for key in ("dataset", "image_folder", "data_dir"):
        if getattr(args, key):
            spec[key] = getattr(args, key)
    captions = data_lib.load(spec.get("dataset", "offline"), args.split, image_folder=spec.get("image_folder"),
                             data_dir=spec.get("data_dir"), data_seed=spec.get("data_seed", 0))
    refs = references(captions, args.n)
    batch = min(args.batch_size, len(refs))
    result = {"run": os.path.abspath(args.run), "step": r.step, "split": args.split, "n_images": len(refs),
              "decoder": r.config.decoder, "beams": {}}
    print(f"{r.config.decoder} decoder, step {r.step}, {len(refs)} {args.split} images of "
          f"{spec.get('dataset', 'offline')}", file=sys.stderr)
    print("| beam | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | images/s |")
    print("|---|---|---|---|---|---|")
    for beam in beams:
        hyps, speed = caption_set(r.state, captions, r.vocab, img_size=r.config.img_size, beam_size=beam,
                                  batch_size=batch, n=args.n, max_len=args.max_len)
        s = score(refs, hyps)
        s["images_per_s"] = speed
        s["examples"] = [" ".join(h) for h in hyps[:5]]
        result["beams"][str(beam)] = s
        extra = "".join(f" {k} {s[k]:.3f}" for k in ("meteor", "cider") if k in s)
        print(f"| {beam} | {s['bleu1']:.4f} | {s['bleu2']:.4f} | {s['bleu3']:.4f} | {s['bleu4']:.4f} | "
              f"{speed:.1f} |{extra}")
    skipped = next((s["skipped"] for s in result["beams"].values() if "skipped" in s), None)
    if skipped:
        print("skipped: " + "; ".join(skipped), file=sys.stderr)
    out = os.path.join(os.path.abspath(args.run), "eval", f"step_{r.step:08d}_{args.split}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
