"""Detection inference speed: ms per image for YOLOv3-tiny / YOLOv4-tiny (80 classes, published layer lists).

    python benchmarks/detection_speed.py [--models yolov3-tiny yolov4-tiny] [--size 416] [--batches 1 8]

Times the jitted network + decoding + class-aware NMS (``inference.detect_batch``, darknet's evaluation
thresholds) on random weights and random letterboxed inputs, after a compile/warm-up call; reports the median of
``--repeats`` timed calls. Host-side letterboxing and JPEG decoding are not included. Run it on a quiet machine:
the figures are only comparable between runs on the same device with the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detection import darknet, inference  # noqa: E402


def time_model(name: str, size: int, batch: int, repeats: int, thresh: float) -> dict:
    network = darknet.builtin_cfg(name)
    variables = darknet.init_variables(jax.random.key(0), network)
    images = jax.random.uniform(jax.random.key(1), (batch, size, size, 3))
    run = lambda: jax.block_until_ready(  # noqa: E731
        inference.detect_batch(variables, images, network, thresh=thresh, iou_thresh=0.45))
    t = time.perf_counter()
    run()
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    median = float(np.median(times))
    return {"model": name, "size": size, "batch": batch, "ms_per_batch": round(median * 1e3, 2),
            "ms_per_image": round(median * 1e3 / batch, 2), "images_per_s": round(batch / median, 1),
            "compile_s": round(compile_s, 1), "repeats": repeats}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["yolov3-tiny", "yolov4-tiny"])
    p.add_argument("--size", type=int, default=416)
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--thresh", type=float, default=0.25, help="score threshold (darknet's demo default 0.25)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out",
                                                 "detection_speed.json"))
    args = p.parse_args(argv)
    device = f"{jax.devices()[0].device_kind} ({jax.default_backend()}), {platform.machine()}, {os.cpu_count()} cpus"
    rows = []
    for name in args.models:
        for batch in args.batches:
            row = time_model(name, args.size, batch, args.repeats, args.thresh)
            row["device"] = device
            rows.append(row)
            print(f"{name:12s} {args.size}x{args.size} batch {batch:2d}: {row['ms_per_image']:8.2f} ms/image  "
                  f"({row['images_per_s']} images/s; compile {row['compile_s']} s)  on {device}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
