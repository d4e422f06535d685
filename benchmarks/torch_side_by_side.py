"""PyTorch-GAN's own training scripts, timed on synthetic batches: the PyTorch side of ``benchmarks.speed``.

    <torch-venv>/bin/python benchmarks/torch_side_by_side.py --pytorch_gan PATH [--models dcgan,pixelda] [--iters N]

PATH is a checkout of PyTorch-GAN (its ``implementations/`` folder). Run this with an interpreter that has torch
(CPU) and numpy, never the project's: torch is not a dependency of gan-jax. Nothing else is needed: torchvision is
replaced by a stand-in (the transforms and the image saving do nothing; ``vgg19`` and ``resnet18`` are built
untrained, as only their shapes matter for a timing), and every dataset by batches of uniform noise of the shapes
the script's loop expects, so no data is read or downloaded.

Each script runs unmodified as ``__main__`` for one epoch of ``--iters`` batches, with its default flags (batch
size, image size, n_critic...), on ``torch.set_num_threads(--threads)``. The time of an iteration is the time
between two batches leaving the loader: the script's whole loop body (both updates, its Variable wrapping, its
logging), without data loading or decoding. The first ``--skip`` iterations (the first draws a sample grid) are
left out; for the n_critic scripts, whose generator trains on every n_critic-th iteration, the mean over whole
cycles is the time per critic step, the unit ``benchmarks.speed`` reports for them.

A few scripts do not run as written. The smallest fix that keeps their intent is applied to the temporary copy
(the checkout is never changed), and each result lists the fixes it needed:
- bgan and dragan loop over an undefined ``mnist_loader``: their ``dataloader``;
- began indexes a 0-d tensor with ``.data[0]``: ``.item()``;
- bicyclegan's and munit's multi-scale discriminators name an undefined ``in_channels``: 3, their input's channels;
- ccgan applies a ``weights_init_normal`` it never defines: the N(0, 0.02) init of its siblings;
- cluster_gan makes CUDA tensors only: CPU ones.
softmax_gan and cluster_gan still fail on current PyTorch: their generator loss back-propagates through a
discriminator that the same iteration's optimizer step has already changed in place, which autograd refuses. A
failing script is reported with its error; the others still run.

Prints one line per model and, with ``--out``, writes a JSON ``{model: {"mean_ms", "min_ms", "iters_ms"}}`` that
``python -m benchmarks.speed --torch_json FILE`` puts beside our times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import types

# (layout of one batch, image size) per script; "mnist": (images, labels) with 1 channel; "pair": {"A", "B"}.
BATCHES = {
    "gan": ("mnist", 28), "wgan": ("mnist", 28), "wgan_gp": ("mnist", 28), "wgan_div": ("mnist", 28),
    "bgan": ("mnist", 28), "softmax_gan": ("mnist", 28), "cgan": ("mnist", 32), "aae": ("mnist", 32),
    "cluster_gan": ("mnist", 28), "dcgan": ("mnist", 32), "lsgan": ("mnist", 32), "dragan": ("mnist", 32),
    "began": ("mnist", 32), "ebgan": ("mnist", 32), "relativistic_gan": ("mnist", 32), "acgan": ("mnist", 32),
    "infogan": ("mnist", 32), "sgan": ("mnist", 32),
    "cogan": ("two_domains", 32), "pixelda": ("two_domains", 32),
    "ccgan": ("ccgan", 128), "context_encoder": ("context_encoder", 128), "stargan": ("stargan", 128),
    "srgan": ("superres", 256), "esrgan": ("superres", 256),
    "pix2pix": ("pair", 256), "cyclegan": ("pair", 256), "discogan": ("pair", 64), "dualgan": ("pair", 128),
    "bicyclegan": ("pair", 128), "munit": ("pair", 128), "unit": ("pair", 256),
}
SCRIPT = {"cluster_gan": "clustergan"}
# Flags that make one epoch a timing run: no grid after the first iteration, a LR decay that may start at epoch 0.
EXTRA_FLAGS = {"cyclegan": ["--decay_epoch", "0"], "munit": ["--decay_epoch", "0"], "unit": ["--decay_epoch", "0"],
               "stargan": ["--decay_epoch", "0"], "esrgan": ["--warmup_batches", "0"]}
N_CRITIC = {"wgan": 5, "wgan_gp": 5, "wgan_div": 5, "dualgan": 5, "stargan": 5, "cluster_gan": 5}
HEAVY = ("srgan", "esrgan", "cyclegan", "unit", "discogan")  # seconds per iteration
VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def torchvision_stand_in(torch):
    """Modules for ``torchvision`` and its parts with what the scripts touch; timing needs no real transform."""
    nn = torch.nn

    class NoOp:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, x):
            return x

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 3
            for v in VGG19:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                    c = v
            self.features = nn.Sequential(*layers)

    class BasicBlock(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)
            self.conv2, self.bn2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out)
            self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                             if stride != 1 or c_in != c_out else nn.Identity())

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()  # the children in torchvision's order: the scripts slice that list
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
            self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
            self.layer1 = nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))
            self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
            self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256, 1))
            self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512, 1))
            self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(512, 1000)

    tv = types.ModuleType("torchvision")
    parts = {name: types.ModuleType(f"torchvision.{name}") for name in ("transforms", "utils", "datasets", "models")}
    for name in ("Compose", "Resize", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomCrop", "CenterCrop",
                 "Grayscale", "Lambda"):
        setattr(parts["transforms"], name, NoOp)
    parts["utils"].save_image = lambda *args, **kwargs: None
    parts["utils"].make_grid = lambda tensor, *args, **kwargs: tensor
    parts["datasets"].MNIST = lambda *args, **kwargs: None
    parts["models"].vgg19 = lambda *args, **kwargs: VGG()
    parts["models"].resnet18 = lambda *args, **kwargs: ResNet18()
    for name, module in parts.items():
        setattr(tv, name, module)
    return {"torchvision": tv, **{f"torchvision.{k}": v for k, v in parts.items()}}


def make_loader_class(torch, name: str, iters: int, stamps: list):
    """A DataLoader stand-in yielding ``iters`` noise batches shaped as the script's own loader's, and stamping
    the time each batch leaves it. With two loaders (cogan, pixelda), the first is MNIST's (1 channel)."""
    layout, size = BATCHES[name]

    class NoiseLoader:
        created = 0

        def __init__(self, dataset=None, batch_size=1, **kwargs):
            self.n, self.index = batch_size, NoiseLoader.created
            NoiseLoader.created += 1

        def __len__(self):
            return iters

        def image(self, gen, c, s):
            return torch.rand(self.n, c, s, s, generator=gen) * 2 - 1

        def labels(self, gen):
            return torch.randint(0, 10, (self.n,), generator=gen)

        def batch(self, gen):
            if layout == "mnist":
                return self.image(gen, 1, size), self.labels(gen)
            if layout == "two_domains":
                return self.image(gen, 1 if self.index == 0 else 3, size), self.labels(gen)
            if layout == "pair":
                return {"A": self.image(gen, 3, size), "B": self.image(gen, 3, size)}
            if layout == "superres":
                return {"lr": self.image(gen, 3, size // 4), "hr": self.image(gen, 3, size)}
            if layout == "ccgan":
                return {"x": self.image(gen, 3, size), "x_lr": self.image(gen, 3, size // 4)}
            if layout == "stargan":
                return self.image(gen, 3, size), torch.randint(0, 2, (self.n, 5), generator=gen).float()
            if layout == "context_encoder":  # train: (image, masked image, masked part); val: the part's corner
                third = self.image(gen, 3, size // 2) if self.index == 0 else torch.full((self.n,), size // 4)
                return self.image(gen, 3, size), self.image(gen, 3, size), third
            raise ValueError(layout)

        def __iter__(self):
            gen = torch.Generator().manual_seed(self.index)
            for _ in range(iters):
                if self.index == 0:
                    stamps.append(time.perf_counter())
                yield self.batch(gen)
            if self.index == 0:
                stamps.append(time.perf_counter())

    return NoiseLoader


def weights_init_normal(m):
    """The N(0, 0.02) initialisation PyTorch-GAN's scripts share (ccgan calls it without defining it)."""
    import torch

    if "Conv" in type(m).__name__:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif "BatchNorm2d" in type(m).__name__:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


def prepare_copy(pytorch_gan: str, name: str) -> tuple[str, list[str]]:
    """A temporary copy of the script's folder with the fixes that let it start; returns (folder, fixes)."""
    src = os.path.join(pytorch_gan, "implementations", name)
    if not os.path.isdir(src):
        raise SystemExit(f"{src} not found: --pytorch_gan must point at a PyTorch-GAN checkout")
    work = os.path.join(tempfile.mkdtemp(prefix="pytorch-gan-"), name)
    shutil.copytree(src, work)
    fixes = []

    def patch(file, old, new, why):
        path = os.path.join(work, file)
        if not os.path.exists(path):
            return
        text = open(path).read()
        if old in text:
            open(path, "w").write(text.replace(old, new))
            fixes.extend([why] if why else [])

    patch("models.py", "nn.AvgPool2d(in_channels,", "nn.AvgPool2d(3,", "in_channels -> 3")
    if name in ("bgan", "dragan"):
        patch(f"{name}.py", "enumerate(mnist_loader)", "enumerate(dataloader)", "mnist_loader -> dataloader")
        patch(f"{name}.py", "len(mnist_loader)", "len(dataloader)", "")
    if name == "began":
        patch("began.py", ".data[0]", ".item()", ".data[0] -> .item()")
    if name == "cluster_gan":
        patch("clustergan.py", "torch.cuda.FloatTensor", "torch.FloatTensor", "CPU tensors")
        patch("clustergan.py", ".cuda()", "", "no .cuda()")
    return work, fixes


def time_script(pytorch_gan: str, name: str, iters: int, skip: int, threads: int) -> dict:
    import numpy as np
    import torch
    import torch.utils.data

    torch.set_num_threads(threads)
    work, fixes = prepare_copy(pytorch_gan, name)
    stamps: list[float] = []
    try:
        os.chdir(work)
        sys.path.insert(0, work)
        sys.modules.update(torchvision_stand_in(torch))
        sys.modules["mnistm"] = types.SimpleNamespace(MNISTM=lambda *args, **kwargs: None)
        torch.utils.data.DataLoader = make_loader_class(torch, name, iters, stamps)
        if os.path.exists("datasets.py"):  # their Dataset classes read folders: the loader ignores them anyway
            import datasets

            for key, value in list(vars(datasets).items()):
                if isinstance(value, type) and issubclass(value, torch.utils.data.Dataset) \
                        and value.__module__ == "datasets":
                    setattr(datasets, key, lambda *args, **kwargs: None)
        script = SCRIPT.get(name, name) + ".py"
        flags = ["-n", "1"] if name == "cluster_gan" else ["--n_epochs", "1", "--sample_interval", "1000000"]
        sys.argv = [script, *flags, *EXTRA_FLAGS.get(name, [])]
        code = compile(open(script).read(), script, "exec")
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
        try:
            exec(code, {"__name__": "__main__", "weights_init_normal": weights_init_normal})
        finally:
            sys.stdout.close()
            sys.stdout = stdout
    except SystemExit:
        pass
    except Exception as e:  # the script itself failed: report it
        return {"error": f"{type(e).__name__}: {e}".splitlines()[0][:200],
                "where": traceback.format_exc().strip().splitlines()[-3].strip()}
    finally:
        shutil.rmtree(os.path.dirname(work), ignore_errors=True)
    ms = np.diff(stamps) * 1000
    if len(ms) <= skip:
        return {"error": f"only {len(ms)} iterations ran"}
    cycle = N_CRITIC.get(name, 1)
    timed = ms[skip:][: (len(ms) - skip) // cycle * cycle]  # whole cycles: each holds the one G update
    if not len(timed):
        return {"error": f"{len(ms) - skip} iterations after the skipped ones: fewer than one n_critic cycle ({cycle})"}
    result = {"mean_ms": float(timed.mean()), "min_ms": float(timed.min()),
              "iters_ms": [round(float(x), 1) for x in ms]}
    if fixes:
        result["fixed"] = fixes
    return result


def default_iters(name: str, skip: int) -> int:
    """Enough batches for a stable mean: many for the millisecond MLP scripts, few for the slowest, and whole
    n_critic cycles after the skipped ones."""
    if name in HEAVY:
        return skip + 4
    n = 60 if BATCHES[name] == ("mnist", 28) else 12
    cycle = N_CRITIC.get(name, 1)
    return skip + max(n - skip, 3 * cycle) // cycle * cycle


def iterations(name: str, skip: int, asked: int | None) -> int:
    """Batches to run: ``default_iters``, or ``asked`` rounded up to whole n_critic cycles after the skipped ones
    (for stargan, ``--iters 4 --skip 1`` would otherwise time four critic-only iterations, none with the G update
    that our per-critic-step figure includes)."""
    if asked is None:
        return default_iters(name, skip)
    cycle = N_CRITIC.get(name, 1)
    return skip + -(-max(asked - skip, 1) // cycle) * cycle


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pytorch_gan", required=True, help="a PyTorch-GAN checkout (with implementations/)")
    p.add_argument("--models", default=",".join(BATCHES), help="comma-separated script names")
    p.add_argument("--iters", type=int, default=None,
                   help="batches per script, rounded up to whole n_critic cycles after the skipped ones (default: 12; "
                        "60 for the MLP scripts, 6 for the slowest)")
    p.add_argument("--skip", type=int, default=2, help="leading iterations left out (the first draws a grid)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="JSON file for the results")
    p.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = args.models.split(",")
    unknown = [n for n in names if n not in BATCHES]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(BATCHES)}")
    try:
        import torch
    except ImportError:
        raise SystemExit("this benchmark needs torch: run it with a Python that has torch and numpy installed "
                         "(not a dependency of gan-jax)")
    if args.single:  # the child process: one script, its result as the last line
        print(json.dumps(time_script(args.pytorch_gan, names[0], args.iters, args.skip, args.threads)))
        return 0
    results = {}
    for name in names:  # each script in a fresh interpreter, as it runs on its own
        cmd = [sys.executable, os.path.abspath(__file__), "--single", "--pytorch_gan", args.pytorch_gan,
               "--models", name, "--iters", str(iterations(name, args.skip, args.iters)),
               "--skip", str(args.skip), "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        try:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            r = {"error": f"exit {proc.returncode}", "where": proc.stderr.strip().splitlines()[-1:]}
        results[name] = r
        line = (f"{name}: {r['mean_ms']:.1f} ms per iteration (min {r['min_ms']:.1f})" if "mean_ms" in r
                else f"{name}: FAILED {r['error']} ({r.get('where', '')})")
        print(line + (f"  [fixed: {', '.join(r['fixed'])}]" if r.get("fixed") else ""), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"torch": torch.__version__, "threads": args.threads, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
