"""Train YOLOv3-tiny / YOLOv4-tiny on gan_jax.engine:

    python -m detection.train --model yolov3-tiny --dataset offline --out runs/v3     # 3000 steps, 128 px
    python -m detection.train --out runs/v3 --resume                  # continues exactly where it stopped
    python -m detection.train --model yolov4-tiny --dataset tfds:voc/2007 --data_dir ~/tensorflow_datasets
    python -m detection.train --dataset path/to/darknet_folder [--names obj.names] [--val other_folder]
    python -m detection.train --dataset annotations/instances_train2017.json [--image_dir train2017]

Datasets (``data.get_dataset``): ``offline`` (generated, the default), ``tfds:voc/2007`` / ``tfds:coco/2017``
(prepared beforehand; never downloaded here), a darknet label folder or list file, a COCO ``instances_*.json``.
Held-out split for the periodic mAP: the offline 'test' split, tfds' 'validation', ``--val SPEC``, or else a seeded
``--val_fraction`` of a folder/json dataset. The engine does the rest: every device (data parallel over a mesh),
checkpoints and ``--resume``, progress bar, ``metrics.jsonl`` (loss terms, lr, images/s, ``val_mAP50``).
At the end the network is written as darknet files, ``RUN/<model>.weights`` + ``.cfg``, and ``RUN/results.json``.

``--preset offline`` (the default for the offline set; measured in benchmarks/detection_quality.py) or
``darknet`` (the published cfgs' [net] values: SGD, lr 1e-3, burn-in 1000, 416 px, batch 64) sets the Config's
starting values; any Config field is a flag (``--lr 1e-3 --batch_size 16 --cutout_holes 1``...). The learning
rate drops x0.1 at 80% and 90% of ``--steps`` (darknet's yolov3-tiny.cfg: steps=400000,450000 of 500200) unless
``--lr_steps``/``--lr_scales`` say otherwise.

In Python (the same data pipeline and the same jitted step as the CLI, without the run directory):

    from detection import data, model, train
    config = model.Config(n_classes=13, img_size=128, batch_size=16, optimizer="adam", lr=1e-3, burn_in=100)
    state = train.train(config, data.OfflineDetection("train", size=128), steps=2000, seed=0)
    model.export_weights(state, "runs/det/yolov3-tiny.weights")   # + .cfg, for detection.detect / evaluate
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import typing
from typing import Callable

import jax
import numpy as np

from detection import augment, data, darknet, evaluate, model
from gan_jax import cli

PRESETS = {
    # what benchmarks/detection_quality.py measured on the offline set (128 px, CPU): Adam, short burn-in, BN
    # averages that catch up within a few hundred steps, AlexeyAB's iou_thresh, mild zoom/shift, no flip (a
    # mirrored digit is not that digit), no Cutout (it can erase a small digit whole)
    "offline": dict(img_size=128, batch_size=8, max_boxes=8, optimizer="adam", lr=2e-3, burn_in=50, bn_momentum=0.9,
                    iou_thresh=0.213, scale_min=0.8, scale_max=1.2, translate=0.1, flip=0.0, cutout_holes=0),
    "darknet": {},  # model.Config's defaults: the [net] section of darknet's yolov3-tiny.cfg
}
DEFAULT_STEPS = {"offline": 3000, "darknet": 500200}
RUN_DEFAULTS = {"checkpoint_interval": 500, "keep": 3, "log_interval": 25, "eval_interval": 500, "eval_images": 200}
# Config fields that are not flags: chosen by --model, by the data, or by the flags below
NOT_FLAGS = ("model", "n_classes", "anchors", "masks", "steps", "scales", "dataset")


def _flag_fields():
    hints = typing.get_type_hints(model.Config)
    return [(f.name, hints[f.name], dataclasses.field(default=f.default)) for f in dataclasses.fields(model.Config)
            if f.name not in NOT_FLAGS]


Flags = dataclasses.make_dataclass("Flags", _flag_fields(), frozen=True)
Flags.__module__ = model.Config.__module__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m detection.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=None, choices=sorted(darknet.BUILTIN), help="(default yolov3-tiny)")
    p.add_argument("--dataset", default=None, help="offline (default) | tfds:voc/2007 | tfds:coco/2017 | a darknet "
                   "label folder or list file | a COCO instances_*.json")
    p.add_argument("--data_dir", default=None, help="tensorflow-datasets data_dir")
    p.add_argument("--names", default=None, help="class names of a darknet folder (default: its *.names file)")
    p.add_argument("--image_dir", default=None, help="images of a COCO json (default: COCO's layout)")
    p.add_argument("--val", default=None, help="held-out dataset for the mAP (default: see above)")
    p.add_argument("--val_fraction", type=float, default=0.1, help="held out of a folder/json dataset without --val")
    p.add_argument("--n_train", type=int, default=None, help="offline set: training images (default 4000)")
    p.add_argument("--offline_objects", type=int, default=None,
                   help="offline set: at most this many objects per training image (default 8; the held-out split "
                   "keeps its 4: denser training images give more supervision per step)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="starting Config values (default: offline for the offline set, else darknet)")
    p.add_argument("--anchors", default=None, help="kmeans (on the training boxes; default for the offline set) | "
                   "darknet (the cfg's; default otherwise) | w,h,w,h,... in input pixels (6 pairs)")
    p.add_argument("--masks", default=None, help="anchor indices of the coarse and the fine head, e.g. 3,4,5/0,1,2 "
                   "(default: the cfg's; 3,4,5/0,1,2 with k-means anchors)")
    p.add_argument("--lr_steps", default=None, help="steps where the lr drops, comma-separated (default 80%%,90%%)")
    p.add_argument("--lr_scales", default=None, help="factor at each --lr_steps (default 0.1 each)")
    p.add_argument("--out", default=None, help="run directory (default runs/detection_MODEL)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=None, help="(default 0)")
    p.add_argument("--steps", type=int, default=None, help="total training steps (default: the preset's)")
    p.add_argument("--devices", type=int, default=None, help="devices for data parallelism (default all)")
    # run options: defaults below for a new run, the saved ones on --resume
    p.add_argument("--checkpoint_interval", type=int, default=None, help="(default 500)")
    p.add_argument("--keep", type=int, default=None, help="checkpoints kept (default 3)")
    p.add_argument("--log_interval", type=int, default=None, help="(default 25)")
    p.add_argument("--eval_interval", type=int, default=None,
                   help="held-out mAP every N steps, 0 = only at the end (default 500)")
    p.add_argument("--eval_images", type=int, default=None, help="held-out images for the periodic mAP (default 200)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    cli.add_config_flags(p, Flags)
    return p


# ------------------------------------------------------------------------------------------------------------ data


def load_splits(spec: dict) -> tuple:
    """(train, held-out) datasets of a run's data spec (the dict saved in its config.json)."""
    name = spec["dataset"]
    kw = dict(data_dir=spec["data_dir"], names=spec["names"], image_dir=spec["image_dir"])
    if name == "offline":  # the set is rendered at its own 128 px whatever the network's input size
        train = data.OfflineDetection("train", n=spec["n_train"], max_objects=spec["offline_objects"])
        return train, data.OfflineDetection("test")
    train = data.get_dataset(name, "train", **kw)
    if spec["val"]:
        return train, data.get_dataset(spec["val"], "val", **kw)
    if isinstance(train, data.TfdsDetection):
        return train, data.get_dataset(name, "val", **kw)
    return data.holdout(train, spec["val_fraction"], seed=0)


def parse_anchors(text: str) -> tuple[tuple[float, float], ...]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--anchors {text!r}: use kmeans, darknet or w,h,w,h,... (numbers)") from None
    if len(values) != 12 or min(values) <= 0:
        raise ValueError(f"--anchors needs 6 positive (w, h) pairs (12 numbers), got {len(values)} numbers")
    return tuple(zip(values[0::2], values[1::2]))


def parse_masks(text: str) -> tuple[tuple[int, ...], ...]:
    try:
        masks = tuple(tuple(int(v) for v in part.split(",")) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--masks {text!r}: use two comma-separated index lists, e.g. 3,4,5/0,1,2") from None
    if len(masks) != 2 or any(not 0 <= i < 6 for m in masks for i in m):
        raise ValueError(f"--masks {text!r}: two lists (coarse head / fine head) of anchor indices 0..5")
    return masks


def make_config(args, train_set, steps: int, preset: str) -> model.Config:
    values = {**PRESETS[preset], "model": args.model or "yolov3-tiny", "n_classes": len(train_set.class_names),
              "dataset": args.dataset or "offline"}
    for name, _, _ in _flag_fields():
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    anchors = args.anchors or ("kmeans" if values["dataset"] == "offline" else "darknet")
    if anchors == "kmeans":
        values["anchors"] = data.kmeans_anchors(train_set, values["img_size"], k=6, n_samples=1000, seed=0)
        values["masks"] = ((3, 4, 5), (0, 1, 2))  # every anchor to a head (yolov4-tiny's cfg skips anchor 0)
    elif anchors != "darknet":
        values["anchors"] = parse_anchors(anchors)
    if args.masks:
        values["masks"] = parse_masks(args.masks)
    lr_steps = (tuple(int(v) for v in args.lr_steps.split(",")) if args.lr_steps
                else (int(steps * 0.8), int(steps * 0.9)))
    values["steps"] = lr_steps
    values["scales"] = (tuple(float(v) for v in args.lr_scales.split(",")) if args.lr_scales
                        else (0.1,) * len(lr_steps))
    config = model.Config(**values)
    cli.validate(config)
    return config


# ----------------------------------------------------------------------------------------------------- the hook


class HeldOutMap:
    """Engine hook: VOC mAP@0.5 of the current weights on the first ``n`` held-out images."""

    def __init__(self, dataset, img_size: int, n: int):
        self.dataset, self.img_size, self.n = dataset, img_size, min(n, len(dataset))
        self.last: dict = {}

    def __call__(self, step: int, state) -> dict:
        r = evaluate.evaluate(state.variables, state.network, self.dataset, self.img_size,
                              batch_size=min(32, self.n), limit=self.n)
        self.last = {"step": step, "val_mAP50": r["mAP"], "val_mAP50_11point": r["mAP_11point"],
                     "val_images": r["n_images"]}
        return {"val_mAP50": r["mAP"], "val_mAP50_11point": r["mAP_11point"]}


# ------------------------------------------------------------------------------------------------------- the CLI


def _has_checkpoint(out: str) -> bool:
    d = os.path.join(out, "checkpoints")
    return os.path.isdir(d) and any(name.isdigit() for name in os.listdir(d))


def _resumed(args, out: str) -> tuple[model.Config, dict, dict]:
    from gan_jax.engine import config_from_dict
    from gan_jax.runs import saved_run

    saved = saved_run(out, "nothing to resume: {} has no config.json")
    config = config_from_dict(model.Config, saved["config"])
    given = {name: getattr(args, name) for name, _, _ in _flag_fields() if getattr(args, name, None) is not None}
    given.update({k: v for k, v in (("model", args.model), ("dataset", args.dataset)) if v is not None})
    for name, value in given.items():
        if value != getattr(config, name):
            raise ValueError(f"--{name} {value} differs from the resumed run's {getattr(config, name)}; a resumed "
                             f"run keeps its config")
    if args.seed is not None and args.seed != saved["run"]["seed"]:
        raise ValueError(f"--seed {args.seed} differs from the resumed run's {saved['run']['seed']}")
    return config, saved["data"], saved["run"]


def run(args) -> dict:
    from gan_jax import engine

    for name in ("steps", "devices", "checkpoint_interval", "keep", "log_interval", "eval_images", "n_train",
                 "offline_objects"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be > 0, got {value}")
    if args.eval_interval is not None and args.eval_interval < 0:
        raise ValueError(f"--eval_interval must be >= 0, got {args.eval_interval}")
    out = os.path.abspath(args.out or os.path.join("runs", f"detection_{args.model or 'yolov3-tiny'}"))
    if args.resume:
        config, spec, saved_run = _resumed(args, out)
        steps, seed = args.steps or saved_run["steps"], saved_run["seed"]
        saved_options = {**saved_run, **spec.get("eval", {})}
        train_set, val_set = load_splits(spec)
    else:
        if _has_checkpoint(out):
            raise engine.RunDirError(f"{out} already holds a run: pass --resume to continue it, or choose another "
                                     "--out")
        dataset = args.dataset or "offline"
        preset = args.preset or ("offline" if dataset == "offline" else "darknet")
        steps, seed = args.steps or DEFAULT_STEPS[preset], args.seed or 0
        spec = {"dataset": dataset, "data_dir": args.data_dir, "names": args.names, "image_dir": args.image_dir,
                "val": args.val, "val_fraction": args.val_fraction, "n_train": args.n_train,
                "offline_objects": args.offline_objects or 8}
        saved_options = {}
        train_set, val_set = load_splits(spec)
        config = make_config(args, train_set, steps, preset)
    if len(val_set.class_names) != config.n_classes:
        raise ValueError(f"the held-out set has {len(val_set.class_names)} classes, the training set "
                         f"{config.n_classes}")
    opts = {k: getattr(args, k) if getattr(args, k) is not None else saved_options.get(k, default)
            for k, default in RUN_DEFAULTS.items()}
    spec["eval"] = {k: opts[k] for k in ("eval_interval", "eval_images")}
    engine.check_batch_size(config.batch_size, engine.make_mesh(args.devices))
    source = data.DetectionSource(train_set, config.img_size, config.max_boxes,
                                  augment.DetectionAugment.from_config(config))
    loader = data.DetectionLoader(source, config.batch_size, seed=seed)
    held_out = HeldOutMap(val_set, config.img_size, opts["eval_images"])
    options = engine.RunOptions(steps=steps, seed=seed, devices=args.devices, sample_interval=max(steps, 1),
                                checkpoint_interval=opts["checkpoint_interval"], keep=opts["keep"],
                                log_interval=opts["log_interval"], progress=not args.no_progress)
    print(f"{config.model}: {len(train_set)} training images from {spec['dataset']} ({config.n_classes} classes), "
          f"{config.img_size} px, batch {config.batch_size}, {steps} steps, held-out mAP on "
          f"{held_out.n} images -> {out}", file=sys.stderr)
    t0 = time.perf_counter()
    state = engine.fit(model, config, loader, out, options, resume=args.resume,
                       hooks=(engine.Hook(opts["eval_interval"] or steps, held_out),), extra={"data": spec})
    weights, cfg = model.export_weights(state, os.path.join(out, f"{config.model}.weights"))
    results = {"model": config.model, "dataset": spec["dataset"], "steps": int(jax.device_get(state.step)),
               "img_size": config.img_size, "batch_size": config.batch_size, **held_out.last,
               "wall_s_this_session": round(time.perf_counter() - t0, 1), "weights": weights, "cfg": cfg}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    if held_out.last:
        print(f"held-out VOC mAP@0.5 {held_out.last['val_mAP50']:.4f} on {held_out.n} images at step "
              f"{held_out.last['step']}; darknet files: {weights}, {cfg}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    cli.quiet_logs()
    return cli.run_main(lambda: run(args))


# ------------------------------------------------------------------------------------------ the plain Python loop


def train(config: model.Config, dataset, steps: int, seed: int = 0, state: model.State | None = None,
          callback: Callable[[int, model.State, dict | None], None] | None = None, log_every: int = 50,
          devices: int | None = 1) -> model.State:
    """Runs ``steps`` steps (continuing from ``state.step`` when a state is given) and returns the state.

    The same keys, batches (``data.DetectionLoader``, augmentation included) and jitted step
    (``engine.compile_step``) as ``python -m detection.train`` with the same seed, without a run directory:
    the CLI's parameters after N steps equal these bit for bit. ``callback(step, state, metrics)`` runs after
    every step (metrics on the host every ``log_every`` steps, else None).
    """
    from gan_jax import engine
    from gan_jax.engine.loop import init_state

    mesh = engine.make_mesh(devices)
    engine.check_batch_size(config.batch_size, mesh)
    init_key, step_key, _ = engine.run_keys(seed)
    if state is None:
        state = init_state(model, config, init_key, mesh)
    start = int(jax.device_get(state.step))
    step_fn = engine.compile_step(model, mesh)
    source = data.DetectionSource(dataset, config.img_size, config.max_boxes,
                                  augment.DetectionAugment.from_config(config))
    loader = data.DetectionLoader(source, config.batch_size, seed=seed, start=start)
    t0, seen = time.time(), 0
    try:
        for step in range(start, start + steps):
            state, metrics = step_fn(state, engine.shard_batch(next(loader), mesh), step_key)
            seen += config.batch_size
            host = None
            if (step + 1) % log_every == 0 or step + 1 == start + steps:
                host = {k: float(v) for k, v in jax.device_get(metrics).items()}
                if not np.isfinite(host["loss"]):
                    raise FloatingPointError(f"loss became {host['loss']} at step {step + 1}: {host}")
                print(f"step {step + 1:6d}  loss {host['loss']:8.3f}  box {host['loss_box']:7.3f}  "
                      f"obj {host['loss_obj']:7.3f}  cls {host['loss_cls']:7.3f}  iou {host['avg_iou']:.3f}  "
                      f"lr {host['lr']:.2e}  {seen / (time.time() - t0):6.1f} img/s", flush=True)
            if callback is not None:
                callback(step + 1, state, host)
    finally:
        loader.close()
    return state


if __name__ == "__main__":
    sys.exit(main())
