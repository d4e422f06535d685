"""What srgan and esrgan exist for: 4x upscaling that beats bicubic interpolation, measured on held-out photos.

    python -m benchmarks.superres [--models srgan,esrgan] [--preset cpu|full] [--vgg_weights FILE] [--set K=V,...]
    python -m benchmarks.superres --memory        # compiled peak memory of one train step, with and without remat

Each model trains on the offline HR crops (gan_jax/data/kinds/superres.py) in two stages, as PyTorch-GAN's esrgan:
``warmup`` steps of pixel loss only (the PSNR-oriented pre-training), then ``adversarial`` steps with the perceptual
and adversarial terms. After each stage: PSNR and SSIM (gan_jax.metrics.image, data range [-1, 1]) of G's 4x
upscaling of the 100 test crops (held-out photos: chelsea, coffee) against the HR crops, next to PIL's bicubic
upscaling of the same LR images, twice: on RGB over the whole crop, and (``psnr_y``, ``ssim_y``) by the SRGAN
paper's protocol, on the luma with a 4-pixel border removed (gan_jax/metrics/image.py). Without ``--vgg_weights``
the perceptual loss runs on random VGG features (see gan_jax/nets/vgg.py): expect the adversarial stage to trade
PSNR for texture, more so with real VGG weights. The warm-up runs ``pretrain_step``, as the engine does.

``--preset cpu`` (default) is sized for a shared 2-core CPU (64 px HR, few residual blocks, minutes per model);
``full`` uses the scripts' architectures at 256 px (meant for an accelerator). Speed at PyTorch-GAN's defaults:
``python -m benchmarks.speed --models srgan,esrgan``. Writes benchmarks/out/superres.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from benchmarks import common, memory
from gan_jax import data, registry
from gan_jax.metrics.image import psnr, sr_measures, ssim

MODELS = ("srgan", "esrgan")
# model: (Config overrides, warm-up steps, adversarial steps)
PRESETS = {
    "cpu": {"srgan": ({"hr_height": 64, "hr_width": 64, "residual_blocks": 4, "batch_size": 8}, 400, 200),
            "esrgan": ({"hr_height": 64, "hr_width": 64, "residual_blocks": 2, "batch_size": 8}, 400, 200)},
    "full": {"srgan": ({}, 5000, 5000), "esrgan": ({}, 5000, 5000)},
}
COLUMNS = ["model", "config", "stage", "steps", "wall_s", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "psnr_y",
           "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y"]


def bicubic_up(lr_m1_1: np.ndarray, scale: int) -> np.ndarray:
    """PIL bicubic upscaling of [-1, 1] LR images (the baseline every SR paper reports)."""
    out = []
    for img in np.round((lr_m1_1 + 1) * 127.5).clip(0, 255).astype(np.uint8):
        h, w = img.shape[:2]
        out.append(np.asarray(Image.fromarray(img).resize((w * scale, h * scale), Image.BICUBIC)))
    return np.stack(out).astype(np.float32) / 127.5 - 1


def measures(sr: np.ndarray, hr: np.ndarray, scale: int) -> dict:
    """Mean PSNR/SSIM over the test crops: RGB on the whole crop, and the SR papers' protocol (``*_y``: luma,
    ``scale`` border pixels shaved; gan_jax.metrics.image.sr_measures)."""
    sr, hr = jnp.asarray(sr), jnp.asarray(hr)
    paper = sr_measures(sr, hr, shave=scale)
    return {"psnr": float(jnp.mean(psnr(sr, hr))), "ssim": float(jnp.mean(ssim(sr, hr))),
            "psnr_y": float(jnp.mean(paper["psnr_y"])), "ssim_y": float(jnp.mean(paper["ssim_y"]))}


def evaluate(model, state, test: dict) -> dict:
    up = jax.jit(model.translate)
    sr = np.concatenate([np.asarray(up(state, test["lr"][i:i + 25])) for i in range(0, len(test["lr"]), 25)])
    return measures(sr, test["hr"], model.SCALE)


def run(name: str, overrides: dict, warmup: int, adversarial: int, vgg_weights: str,
        max_minutes: float | None = None) -> list[dict]:
    model = registry.get(name)
    config = model.Config(**{**overrides, "warmup_batches": warmup, "vgg_weights": vgg_weights})
    config.validate()
    train = data.load("offline", model.DATA, img_size=config.img_size, channels=config.channels, config=config)
    test_src = data.load("offline", model.DATA, img_size=config.img_size, channels=config.channels, config=config,
                         split="test")
    test = test_src.get(np.arange(len(test_src)))
    baseline = {f"bicubic_{k}": v for k, v in measures(bicubic_up(test["lr"], model.SCALE), test["hr"],
                                                         model.SCALE).items()}
    loader = data.Loader(train, config.batch_size, seed=0, prefetch=0)
    state = model.init(jax.random.key(0), config)
    step = jax.jit(model.train_step, donate_argnums=0)
    pretrain = jax.jit(model.pretrain_step, donate_argnums=0)  # the engine's warm-up step (= train_step there)
    key = jax.random.key(1)
    shown = common.shown(overrides)
    rows, t0, done = [], time.perf_counter(), 0
    for stage, n in (("pre-training (pixel loss)", warmup), ("adversarial", adversarial)):
        if stage == "adversarial" and done < warmup:
            break  # the warm-up was cut short by --max_minutes: train_step would still be in its pixel-loss stage
        # each stage gets its share of --max_minutes
        deadline = common.Deadline(None if max_minutes is None else max_minutes * n / (warmup + adversarial))
        for _ in range(n):
            if deadline.passed():
                break
            train = pretrain if done < warmup else step
            state, metrics = train(state, loader.batch(done), jax.random.fold_in(key, done))
            done += 1
        jax.block_until_ready(metrics)
        rows.append({"model": name, "config": shown, "stage": stage, "steps": done,
                     "wall_s": time.perf_counter() - t0, **evaluate(model, state, test), **baseline})
        print(rows[-1], file=sys.stderr)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--vgg_weights", default="", help=".npz of VGG19 weights (gan_jax/nets/vgg.py)")
    p.add_argument("--memory", action="store_true", help="compiled peak memory with/without remat instead")
    p.add_argument("--steps", default=None, help="WARMUP,ADVERSARIAL: override the preset's steps")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop each model's training after this long (the steps reached are reported)")
    p.add_argument("--set", default="", metavar="KEY=VALUE,...",
                   help="Config overrides on top of the preset's (e.g. batch_norm=false for srgan)")
    p.add_argument("--out", default="superres.md")
    args = p.parse_args(argv)
    names = common.names(p, args.models, MODELS)
    if args.memory:
        rows = [r for n in names for r in memory.rows(n)]
        text = (f"# Super-resolution: compiled train-step memory, default architecture, batch 1, 256 px HR\n\n"
                f"{common.machine()}\n\n" + common.table(rows, ["model", "config", *common.MEMORY_COLUMNS]))
        print(common.write("superres_memory.md", text))
        return 0
    rows = []
    for name in names:
        overrides, warmup, adversarial = PRESETS[args.preset][name]
        overrides = {**overrides, **common.config_overrides(registry.get(name).Config, args.set)}
        if args.steps:
            warmup, adversarial = (int(x) for x in args.steps.split(","))
        rows += run(name, overrides, warmup, adversarial, args.vgg_weights, args.max_minutes)
        text = (f"# Super-resolution quality (4x, 100 held-out photo crops), preset {args.preset}, VGG weights: "
                f"{args.vgg_weights or 'none (random features)'}\n\n{common.machine()}\n\n"
                + common.table(rows, COLUMNS))
        path = common.write(args.out, text)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
