"""Train a captioner: ``python -m captioning.train [--decoder attention|nic] [--dataset ...] [flags]``.

Datasets: ``offline`` (default: generated captioned scenes, no download), a Karpathy split file
(``--dataset dataset_coco.json --image_folder DIR``; Flickr8k/30k likewise), or ``tfds:coco_captions`` (prepared
beforehand; never downloaded here). The vocabulary is built from the training captions (words seen at least
``--min_word_freq`` times) and saved as ``vocab.json`` in the run directory.

``--preset`` picks the Config's starting values: ``reference`` (the reference implementation: ResNet-101, 256 px,
14x14 grid, 512-wide decoder) or ``offline`` (a small ResNet on 64 px scenes, for a CPU); the default is
``offline`` on the offline set and ``reference`` elsewhere. Flags override the preset. Training runs on
``gan_jax.engine`` (all devices, checkpoints, ``--resume``, progress bar); a Hook writes BLEU-1/4 on the first
``--eval_images`` validation images every ``--eval_interval`` steps into ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from captioning import data as data_lib
from captioning import model as model_lib
from captioning.vocab import Vocab
from gan_jax import cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m captioning.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="offline", help="offline | PATH/dataset_*.json | tfds:coco_captions")
    p.add_argument("--image_folder", default=None, help="images of a Karpathy split file")
    p.add_argument("--data_dir", default=None, help="tensorflow-datasets data_dir")
    p.add_argument("--data_seed", type=int, default=0, help="seed of the offline scenes")
    p.add_argument("--n_train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--min_word_freq", type=int, default=5)
    p.add_argument("--captions_per_image", type=int, default=5)
    p.add_argument("--preset", choices=sorted(model_lib.PRESETS), default=None,
                   help="starting Config values (default: offline for the offline set, else reference)")
    p.add_argument("--out", default=None, help="run directory (default runs/captioning_DECODER)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="total training steps (default: --epochs epochs)")
    p.add_argument("--devices", type=int, default=None, help="devices for data parallelism (default all)")
    p.add_argument("--checkpoint_interval", type=int, default=500)
    p.add_argument("--keep", type=int, default=3, help="checkpoints kept")
    p.add_argument("--log_interval", type=int, default=50)
    p.add_argument("--eval_interval", type=int, default=500, help="dev BLEU every N steps (a multiple of "
                   "--log_interval; 0 = never)")
    p.add_argument("--eval_images", type=int, default=250, help="validation images for the dev BLEU")
    p.add_argument("--eval_beam", type=int, default=1, help="beam size of the dev BLEU")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    cli.add_config_flags(p, model_lib.Config)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    cli.quiet_logs()
    return cli.run_main(lambda: run(args))


def make_config(args, vocab: Vocab, max_len: int) -> model_lib.Config:
    preset = args.preset or ("offline" if args.dataset == "offline" else "reference")
    values = {**model_lib.PRESETS[preset], "vocab_size": len(vocab), "max_len": max_len}
    for f in dataclasses.fields(model_lib.Config):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    config = model_lib.Config(**values)
    cli.validate(config)
    return config


def resumed_config(args, saved: dict) -> model_lib.Config:
    from gan_jax.engine import config_from_dict

    config = config_from_dict(model_lib.Config, saved["config"])
    for f in dataclasses.fields(model_lib.Config):
        given = getattr(args, f.name, None)
        if given is not None and f.name != "epochs" and given != getattr(config, f.name):
            raise ValueError(f"--{f.name} {given} differs from the resumed run's {getattr(config, f.name)}; a "
                             f"resumed run keeps its config")
    return config


def _has_checkpoint(out: str) -> bool:
    d = os.path.join(out, "checkpoints")
    return os.path.isdir(d) and any(name.isdigit() for name in os.listdir(d))


def run(args) -> int:
    import functools

    import jax

    from captioning import evaluate, runs
    from gan_jax import data, engine

    for name in ("steps", "devices", "checkpoint_interval", "keep", "log_interval", "eval_images", "eval_beam",
                 "captions_per_image", "n_train"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be > 0, got {value}")
    if args.eval_interval < 0 or (args.eval_interval and args.eval_interval % args.log_interval):
        raise ValueError(f"--eval_interval {args.eval_interval} must be a multiple of --log_interval "
                         f"{args.log_interval} (the engine runs hooks on logging steps)")
    out = os.path.abspath(args.out or os.path.join("runs", f"captioning_{args.decoder or 'attention'}"))
    if args.resume:
        saved = runs.read_saved(out)
        data_spec = saved["data"]
        vocab = Vocab.load(os.path.join(out, runs.VOCAB_FILE))
        config = resumed_config(args, saved)
        runs.check_vocab(vocab, config, saved, os.path.join(out, runs.VOCAB_FILE))
    else:
        if _has_checkpoint(out):
            raise engine.RunDirError(f"{out} already holds a run: pass --resume to continue it, or choose another "
                                     f"--out")
        data_spec = {"dataset": args.dataset, "image_folder": args.image_folder, "data_dir": args.data_dir,
                     "data_seed": args.data_seed, "n_train": args.n_train,
                     "captions_per_image": args.captions_per_image, "min_word_freq": args.min_word_freq}
    load = dict(image_folder=data_spec["image_folder"], data_dir=data_spec["data_dir"],
                data_seed=data_spec["data_seed"])
    train_set = data_lib.load(data_spec["dataset"], "train", n_images=data_spec["n_train"], **load)
    if not args.resume:
        vocab = Vocab.build([c for caps in train_set.captions for c in caps], data_spec["min_word_freq"])
        config = make_config(args, vocab, data_lib.max_words(train_set) + 2)
        unused = model_lib.check_pretrained(config)
        if unused:
            print(f"pretrained: {len(unused)} tensors of {config.pretrained} are not used by this encoder "
                  f"(e.g. {unused[0]})", file=sys.stderr)
    engine.check_batch_size(config.batch_size, engine.make_mesh(args.devices))
    engine.prepare_run_dir(out)
    if not args.resume:
        vocab.save(os.path.join(out, runs.VOCAB_FILE))
    source = data_lib.CaptionSource(train_set, vocab, img_size=config.img_size, max_len=config.max_len,
                                    captions_per_image=data_spec["captions_per_image"], seed=data_spec["data_seed"])
    loader = data.Loader(source, config.batch_size, seed=args.seed)
    if args.steps is not None:
        steps = args.steps
    elif args.resume and args.epochs is None:
        steps = saved["run"]["steps"]
    else:
        steps = config.epochs * loader.steps_per_epoch
    hooks = ()
    if args.eval_interval:
        val = data_lib.load(data_spec["dataset"], "val", **load)
        fn = evaluate.dev_bleu_hook(val, vocab, img_size=config.img_size, n=args.eval_images,
                                    beam_size=args.eval_beam)
        hooks = (engine.Hook(args.eval_interval, fn),)
    options = engine.RunOptions(steps=steps, seed=args.seed, devices=args.devices,
                                sample_interval=max(steps, 1), checkpoint_interval=args.checkpoint_interval,
                                keep=args.keep, log_interval=args.log_interval, progress=not args.no_progress)
    counts = model_lib.count_params(jax.eval_shape(functools.partial(model_lib.init, config=config),
                                                   jax.random.key(0)))
    print(f"captioning ({config.decoder}, {config.encoder} w{config.encoder_width}): {len(train_set)} training "
          f"images x {data_spec['captions_per_image']} captions from {data_spec['dataset']}, vocabulary "
          f"{len(vocab)}, batch {config.batch_size}, {steps} steps ({steps / loader.steps_per_epoch:.2f} epochs), "
          f"{counts['encoder']:,} + {counts['decoder']:,} parameters -> {out}", file=sys.stderr)
    engine.fit(model_lib, config, loader, out, options, resume=args.resume, hooks=hooks,
               extra={"data": data_spec, "vocab_sha": vocab.sha})
    return 0


if __name__ == "__main__":
    sys.exit(main())
