"""Checks for a machine with torchvision and an accelerator (neither is needed by the tests):

1. The Flax ResNet and the torchvision-weight loader against torchvision itself: a randomly initialised
   torchvision ResNet (random BatchNorm statistics too, eval mode) is saved as a state-dict .npz exactly as the
   conversion in captioning/resnet.py says, loaded into ``resnet.Encoder``, and both networks run on the same
   images; the reference's ``AdaptiveAvgPool2d((14, 14))`` is compared with ours.
2. The reference-size model (ResNet-101, 256 px, 14x14 grid, 512-wide attention decoder, a COCO-sized vocabulary of
   9,490 tokens, 52 token slots, batch 32, encoder fine-tuned) on the accelerator: train-step and beam-search speed.

    python -m benchmarks.captioning_device [--skip_torch] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from captioning import decode, model, resnet


def torchvision_check(arch: str) -> dict:
    import torch
    import torchvision

    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    with torch.no_grad():  # random BatchNorm statistics, so that the loader's mapping of them is exercised
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    path = os.path.join(tempfile.mkdtemp(), f"{arch}.npz")
    np.savez(path, **{k: v.numpy() for k, v in net.state_dict().items()})  # the documented conversion
    images = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    mean, std = resnet.IMAGENET_MEAN, resnet.IMAGENET_STD
    torch_in = torch.from_numpy((((images + 1) / 2 - mean) / std).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        body = torch.nn.Sequential(*list(net.children())[:-2])  # the reference's encoder
        want = body(torch_in)
        want_pooled = torch.nn.AdaptiveAvgPool2d((14, 14))(want).permute(0, 2, 3, 1).numpy()
        want = want.permute(0, 2, 3, 1).numpy()
    jax.config.update("jax_default_matmul_precision", "highest")  # no TF32 in this comparison
    enc = resnet.Encoder(arch, 64, 4, 14)
    shapes = jax.eval_shape(lambda: enc.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)), train=False))
    params, stats = resnet.load_torch_resnet(path, shapes["params"], shapes["batch_stats"])
    variables = {"params": params, "batch_stats": stats}
    got = resnet.ResNet(arch, 64, 4).apply({k: v["resnet"] for k, v in variables.items()}, images, train=False)
    got_pooled = enc.apply(variables, images, train=False).reshape(2, 14, 14, -1)
    jax.config.update("jax_default_matmul_precision", None)
    scale = float(np.abs(want).max())
    return {"arch": arch, "feature map": tuple(want.shape[1:]),
            "max |diff| / max |torch|": float(np.abs(np.asarray(got) - want).max()) / scale,
            "pooled 14x14 max |diff| / max": float(np.abs(np.asarray(got_pooled) - want_pooled).max()) / scale}


def reference_speed(steps: int, config: model.Config | None = None) -> dict:
    config = config or model.Config(vocab_size=9490, fine_tune_encoder=True)
    state = jax.jit(model.init, static_argnums=1)(jax.random.key(0), config)
    rng = np.random.default_rng(0)
    B, L = config.batch_size, config.max_len
    lengths = rng.integers(10, L + 1, B).astype(np.int32)
    caption = np.zeros((B, L), np.int32)
    for i, n in enumerate(lengths):
        caption[i, :n] = np.r_[1, rng.integers(4, config.vocab_size, n - 2), 2]
    batch = {"image": jnp.asarray(rng.uniform(-1, 1, (B, 256, 256, 3)).astype(np.float32)),
             "caption": jnp.asarray(caption), "length": jnp.asarray(lengths)}
    step = jax.jit(model.train_step, donate_argnums=0)
    t0 = time.perf_counter()
    state, m = step(state, batch, jax.random.key(0))
    jax.block_until_ready(m)
    out = {"compile_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    for i in range(steps):
        state, m = step(state, batch, jax.random.key(i))
    jax.block_until_ready(m)
    out["train images/s"] = steps * B / (time.perf_counter() - t0)
    out["loss"] = float(m["loss"])
    images = batch["image"]
    for beam in (1, 3, 5):
        jax.block_until_ready(decode.caption(state, images, beam))
        t0 = time.perf_counter()
        for _ in range(3):
            r = decode.caption(state, images, beam)
        jax.block_until_ready(r)
        out[f"beam {beam} images/s (batch {B}, {L - 1} tokens max)"] = 3 * B / (time.perf_counter() - t0)
        out[f"beam {beam} mean length"] = float(np.mean(np.asarray(r["lengths"])))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--skip_torch", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args(argv)
    print("devices:", jax.devices(), "jax", jax.__version__, flush=True)
    if not args.skip_torch:
        for arch in ("resnet18", "resnet101"):
            print(torchvision_check(arch), flush=True)
    print(reference_speed(args.steps), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
