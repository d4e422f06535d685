"""Captioning on the offline scenes: train both decoders within a fixed CPU budget, then BLEU-1..4 on the test
split for beam 1/3/5, and the decoding throughput.

    python -m benchmarks.captioning_quality [--steps 4000] [--decoders attention,nic]

Writes benchmarks/out/captioning.md. Runs go to benchmarks/out/runs/captioning_<decoder>; a run that already has
its final checkpoint is evaluated without retraining (its training wall time is read from the run's own files).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

from benchmarks.common import OUT, machine, table, write

BEAMS = (1, 3, 5)


def train(decoder: str, steps: int, run_dir: str) -> None:
    from captioning import train as train_cli

    args = ["--decoder", decoder, "--out", run_dir, "--steps", str(steps), "--log_interval", "100",
            "--eval_interval", "500", "--checkpoint_interval", "1000", "--no_progress"]
    if train_cli.main(args) != 0:
        raise SystemExit(f"training {decoder} failed")


def train_wall_s(run_dir: str) -> float:
    """From the engine's first file (config.json) to the last checkpoint: the training loop's wall time."""
    ckpts = os.path.join(run_dir, "checkpoints")
    last = max((d for d in os.listdir(ckpts) if d.isdigit()), key=int)
    return os.path.getmtime(os.path.join(ckpts, last)) - os.path.getmtime(os.path.join(run_dir, "config.json"))


def throughput(state, images: np.ndarray, beam: int, repeats: int = 3) -> float:
    """Images/s of encoder + search on one batch (compiled beforehand; median of ``repeats``)."""
    from captioning import decode

    jax.block_until_ready(decode.caption(state, images, beam))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(decode.caption(state, images, beam))
        times.append(time.perf_counter() - t0)
    return len(images) / float(np.median(times))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--decoders", default="attention,nic")
    p.add_argument("--batch", type=int, default=100, help="images per decoding batch (throughput)")
    args = p.parse_args(argv)
    from captioning import data, evaluate, runs
    from gan_jax.data.pipeline import to_model_range

    rows, speed_rows, notes = [], [], []
    for decoder in args.decoders.split(","):
        run_dir = os.path.join(OUT, "runs", f"captioning_{decoder}")
        ckpts = os.path.join(run_dir, "checkpoints")
        if not (os.path.isdir(ckpts) and str(args.steps) in os.listdir(ckpts)):
            train(decoder, args.steps, run_dir)
        r = runs.load_run(run_dir)
        wall = train_wall_s(run_dir)
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            dev = [json.loads(line) for line in f]
        dev = [(d["step"], d["dev_bleu4"]) for d in dev if "dev_bleu4" in d]
        notes.append(f"- {decoder}: dev BLEU-4 (greedy, 250 val images) by step: "
                     + ", ".join(f"{s}: {b:.3f}" for s, b in dev))
        test = data.load("offline", "test", data_seed=r.saved["data"]["data_seed"])
        refs = evaluate.references(test)
        for beam in BEAMS:
            hyps, _ = evaluate.caption_set(r.state, test, r.vocab, img_size=r.config.img_size, beam_size=beam,
                                           batch_size=args.batch)
            s = evaluate.score(refs, hyps, optional=False)
            rows.append({"decoder": decoder, "beam": beam, **{f"BLEU-{i}": round(s[f"bleu{i}"], 4)
                                                              for i in range(1, 5)},
                         "train steps": r.step, "train wall (min)": round(wall / 60, 1)})
            print(rows[-1], file=sys.stderr)
        images = to_model_range(test.images(np.arange(args.batch), r.config.img_size))
        for beam in BEAMS:
            speed_rows.append({"decoder": decoder, "beam": beam, "batch": args.batch,
                               "images/s": round(throughput(r.state, images, beam), 1)})
            print(speed_rows[-1], file=sys.stderr)
    config = r.config
    text = "\n".join([
        "# Captioning: offline captioned scenes",
        "",
        f"Machine: {machine()} (a shared machine: other engineers' jobs ran at the same time, load average "
        f"{os.getloadavg()[0]:.1f} when this was written; wall times and speeds are what we got, not the CPU's best).",
        "",
        f"Data: {len(test)} test scenes (64x64, two objects, five references each, test digits unseen in training); "
        "training 12,000 scenes x 5 captions. Model: the `offline` preset "
        f"({config.encoder} width {config.encoder_width}, {config.encoder_stages} stages, "
        f"{config.encoded_image_size}x{config.encoded_image_size} grid, embedding {config.emb_dim}, attention "
        f"{config.attention_dim}, LSTM {config.decoder_dim}, batch {config.batch_size}, Adam "
        f"{config.decoder_lr:g}/{config.encoder_lr:g}), encoder trained from scratch. "
        f"Budget: {args.steps} steps on the CPU.",
        "",
        "Command: `python -m benchmarks.captioning_quality` (= `python -m captioning.train --decoder D --steps "
        f"{args.steps}` + `python -m captioning.evaluate --beam 1,3,5`).",
        "",
        "## BLEU on the test split (corpus BLEU, all references per image)",
        "",
        table(rows, ["decoder", "beam", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "train steps", "train wall (min)"]),
        "",
        "## Decoding throughput (encoder + search, jit-compiled, one batch; median of 3)",
        "",
        table(speed_rows, ["decoder", "beam", "batch", "images/s"]),
        "",
        "## Dev BLEU during training",
        "",
        *notes,
    ])
    print(text)
    print(write("captioning.md", text), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
