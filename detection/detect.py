"""Detect objects in images with a darknet network.

    python -m detection.detect dog.jpg street.png --weights yolov3-tiny.weights [--cfg yolov4-tiny | FILE.cfg]
        [--names coco.names] [--thresh 0.25] [--img-size 416] --out DIR

writes DIR/<image name>.png (the image with labelled boxes) for each image and DIR/detections.json:
``[{"image": path, "width": w, "height": h, "detections": [{"class_id", "class_name", "score",
"box_xyxy": [x0, y0, x1, y1] in pixels}, ...]}, ...]``. An image that cannot be decoded stops the run with its
name (before any output is written); grayscale and RGBA images are converted to RGB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m detection.detect", description=__doc__.split("\n")[0])
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--weights", required=True, help="darknet .weights file")
    p.add_argument("--cfg", default="yolov3-tiny",
                   help="a darknet .cfg file or a built-in name: yolov3-tiny (default), yolov4-tiny")
    p.add_argument("--names", default=None, help="class names, one per line (default: COCO's 80 / VOC's 20)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--thresh", type=float, default=0.25, help="score threshold (obj * class probability)")
    p.add_argument("--nms", type=float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--img-size", type=int, default=None,
                   help="network input side, a multiple of 32 (default: the cfg's width/height)")
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args(argv)

    import numpy as np

    from detection import inference

    if args.img_size is not None:
        inference.check_size((args.img_size, args.img_size))
    names = inference.read_names(args.names) if args.names else None
    detector = inference.Detector.from_darknet(args.cfg, args.weights, names, args.img_size)
    images = []
    for path in args.images:
        try:
            images.append(inference.load_image(path))
        except inference.ImageError as e:
            raise SystemExit(f"error: {e}") from None
        except FileNotFoundError:
            raise SystemExit(f"error: no such image {path!r}") from None
    os.makedirs(args.out, exist_ok=True)
    report = []
    used = set()
    for start in range(0, len(images), args.batch_size):
        chunk = images[start:start + args.batch_size]
        paths = args.images[start:start + args.batch_size]
        # pad the last chunk to the same batch shape (one compilation)
        padded = chunk + [np.zeros_like(chunk[0])] * (min(args.batch_size, len(images)) - len(chunk))
        results = detector(padded, thresh=args.thresh, iou_thresh=args.nms)[:len(chunk)]
        for path, image, dets in zip(paths, chunk, results):
            stem = os.path.splitext(os.path.basename(path))[0]
            name, k = stem, 1
            while name in used:  # two inputs with the same file name
                k += 1
                name = f"{stem}_{k}"
            used.add(name)
            inference.draw(image, dets).save(os.path.join(args.out, name + ".png"))
            report.append({"image": path, "output": name + ".png", "width": int(image.shape[1]),
                           "height": int(image.shape[0]), "detections": [d.to_json() for d in dets]})
            print(f"{path}: " + (", ".join(f"{d.class_name} {d.score:.2f}" for d in dets) or "nothing"))
    with open(os.path.join(args.out, "detections.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
