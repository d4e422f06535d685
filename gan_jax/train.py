"""Train a GAN: ``python -m gan_jax.train --model NAME [flags]``.

Flags are PyTorch-GAN's (generated from the model's Config) plus the run's: ``--dataset --out --resume --seed
--steps --devices``. Without ``--steps`` or ``--n_epochs`` a run stops after the model's quick budget
(``DEFAULT_STEPS``: minutes on a laptop CPU); ``--n_epochs 200`` is PyTorch-GAN's full schedule.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from gan_jax import cli, registry


def build_parser(model=None, add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_jax.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter, add_help=add_help)
    p.add_argument("--model", help="which GAN (see --list)")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    p.add_argument("--dataset", default=None,
                   help="mnist (offline, the default of most models) | digits | tfds:NAME | path to an image folder")
    p.add_argument("--data_dir", default=None, help="tensorflow-datasets data_dir")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="total training steps (overrides --n_epochs)")
    p.add_argument("--devices", type=int, default=None, help="number of devices for data parallelism (default all)")
    p.add_argument("--checkpoint_interval", type=int, default=500)
    p.add_argument("--keep", type=int, default=3, help="checkpoints kept")
    p.add_argument("--log_interval", type=int, default=10)
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop after this much training time (checkpoint and grid written; --resume continues)")
    p.add_argument("--eval_interval", type=int, default=None,
                   help="every N steps log the Frechet distance of --eval_n samples to real images (on MNIST also "
                        "the digits drawn: classes, class_kl)")
    p.add_argument("--eval_n", type=int, default=500, help="samples and real images per --eval_interval score")
    if model is not None:
        cli.add_config_flags(p, model.Config)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # First pass without -h: `--model X --help` must list model X's own flags.
    first, _ = build_parser(add_help=False).parse_known_args(argv)
    cli.quiet_logs()
    if first.list:
        print(registry.describe())
        return 0
    if not first.model:
        parser = build_parser()
        if {"-h", "--help"} & set(argv):
            parser.parse_args(argv)  # prints the help and exits
        parser.error("--model is required (see --list)")
    try:
        model = registry.get(first.model)
    except registry.UnknownModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    parser = build_parser(model)
    args = parser.parse_args(argv)
    return cli.run_main(lambda: run(model, args))


def run(model, args) -> int:
    from gan_jax import data, engine, evaluate

    out = args.out or os.path.join("runs", args.model)
    for name in ("steps", "devices", "checkpoint_interval", "keep", "log_interval", "max_minutes", "eval_interval"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be > 0, got {value}")
    if args.eval_n < 10:
        raise ValueError(f"--eval_n must be >= 10, got {args.eval_n}")
    if args.eval_interval:
        evaluate.check_scored(model)
    config = cli.config_from_args(model.Config, args)
    if args.resume:
        config = _resumed_config(model, out, args)
    # Fail on a bad --devices, batch size or --out before loading data or compiling anything.
    batch_size = loader_batch_size(model, config)
    engine.check_batch_size(batch_size, engine.make_mesh(args.devices))
    engine.prepare_run_dir(out)
    dataset = args.dataset or getattr(model, "DEFAULT_DATASET", "mnist")
    source = data.load(dataset, getattr(model, "DATA", "images"), img_size=config.img_size,
                       channels=config.channels, data_dir=args.data_dir, config=config)
    loader = data.Loader(source, batch_size, seed=args.seed)
    if getattr(config, "steps_per_epoch", None) == 0:  # a schedule counted in epochs (cyclegan's LR decay): fill in
        config = dataclasses.replace(config, steps_per_epoch=loader.steps_per_epoch)
    if args.steps is not None:
        steps = args.steps
    elif args.n_epochs is not None:
        steps = config.n_epochs * loader.steps_per_epoch
    elif args.resume:
        steps = _saved_run(out)["run"]["steps"]
    else:
        steps = model.DEFAULT_STEPS
    options = engine.RunOptions(steps=steps, seed=args.seed, devices=args.devices,
                                sample_interval=config.sample_interval,
                                checkpoint_interval=args.checkpoint_interval, keep=args.keep,
                                log_interval=args.log_interval, progress=not args.no_progress,
                                max_seconds=None if args.max_minutes is None else args.max_minutes * 60)
    print(f"{args.model}: {len(source)} training examples from {dataset}, batch {batch_size}, "
          f"{steps} steps ({steps / loader.steps_per_epoch:.1f} epochs) -> {os.path.abspath(out)}", file=sys.stderr)
    hooks = () if not args.eval_interval else (
        evaluate.training_hook(model, config, dataset, args.eval_interval, args.eval_n, args.data_dir),)
    engine.fit(model, config, loader, out, options, resume=args.resume, extra={"dataset": dataset}, hooks=hooks)
    return 0


def loader_batch_size(model, config) -> int:
    """Examples one train_step consumes: ``config.batch_size``, or ``batch_size * n_critic`` for the models whose
    step runs n_critic critic updates on fresh batches (they define ``loader_batch_size``)."""
    hook = getattr(model, "loader_batch_size", None)
    return hook(config) if hook is not None else config.batch_size


def _saved_run(out: str) -> dict:
    from gan_jax.runs import saved_run

    return saved_run(out, missing="nothing to resume: {} has no config.json")


def _resumed_config(model, out: str, args):
    """The saved config; flags given on the command line must agree with it."""
    from gan_jax.engine import CheckpointError, config_from_dict

    saved = _saved_run(out)
    if saved.get("model") != args.model:
        raise CheckpointError(f"{os.path.abspath(out)} holds a run of model {saved.get('model')!r}, not {args.model!r}")
    config = config_from_dict(model.Config, saved["config"])
    for f in dataclasses.fields(model.Config):
        given = getattr(args, f.name, None)
        if given is not None and f.name != "n_epochs" and given != getattr(config, f.name):
            raise ValueError(f"--{f.name} {given} differs from the resumed run's {getattr(config, f.name)}; "
                             f"a resumed run keeps its config")
    return config


if __name__ == "__main__":
    sys.exit(main())
