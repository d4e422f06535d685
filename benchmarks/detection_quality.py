"""Detection quality: YOLOv3-tiny / YOLOv4-tiny trained from scratch on the offline detection set (CPU), through
the training CLI (``python -m detection.train``, gan_jax.engine), then evaluated on the whole held-out split.

    python benchmarks/detection_quality.py --model yolov3-tiny            # 3000 steps of 8 at 128 px
    python benchmarks/detection_quality.py --model yolov4-tiny
    python benchmarks/detection_quality.py --model yolov3-tiny -- --lr 3e-3   # any detection.train flag after --
    # a budget split into sessions of at most 10 minutes (Ctrl-C / SIGINT makes the engine checkpoint and stop):
    timeout -s INT 600 python benchmarks/detection_quality.py --model yolov3-tiny
    timeout -s INT 600 python benchmarks/detection_quality.py --model yolov3-tiny --resume   # until done

The offline set: 4,000 generated training images (MNIST digits and shapes on photo crops, 13 classes, 128 px;
rendered with up to ``--offline-objects`` 8 objects each) and the 500 held-out images (up to 4 objects, held-out
MNIST digits). Every ``--eval-every`` steps the CLI's hook writes the VOC mAP@0.5 on 200 held-out images into the
run's metrics.jsonl (the curve); at the end of each session this script evaluates VOC mAP@0.5 (area and 11-point)
and COCO mAP on all 500. Writes benchmarks/out/detection_quality_<model>.json (with each session's wall time and
load average) and the trained network as darknet files beside it; the run directory (checkpoints) goes to
--run-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="yolov3-tiny", choices=["yolov3-tiny", "yolov4-tiny"])
    p.add_argument("--img-size", type=int, default=128, help="network input (the set's images are 128 px)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--offline-objects", type=int, default=8,
                   help="at most this many objects per training image (the held-out split keeps 4)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--run-dir", default=None, help="default: runs/detection_quality_<model>")
    p.add_argument("--tag", default="", help="suffix of the output files")
    p.add_argument("--resume", action="store_true", help="continue --run-dir (a budget split into sessions)")
    p.add_argument("train_flags", nargs="*", help="more detection.train flags (after --)")
    args = p.parse_args(argv)

    import jax

    from detection import data, darknet, evaluate, train

    run_dir = os.path.abspath(args.run_dir or os.path.join("runs", f"detection_quality_{args.model}{args.tag}"))
    flags = ["--out", run_dir, "--no_progress", "--eval_interval", str(args.eval_every), "--eval_images", "200",
             "--log_interval", "25", "--checkpoint_interval", str(args.eval_every), "--keep", "1",
             "--steps", str(args.steps)]
    if args.resume:
        flags += ["--resume"]
    else:
        if os.path.isdir(run_dir):
            shutil.rmtree(run_dir)
        flags += ["--model", args.model, "--dataset", "offline", "--img_size", str(args.img_size),
                  "--batch_size", str(args.batch_size), "--offline_objects", str(args.offline_objects)]
    flags += args.train_flags
    print("python -m detection.train " + " ".join(flags), flush=True)
    t0 = time.time()
    load0 = os.getloadavg()
    results = train.run(train.build_parser().parse_args(flags))
    train_minutes = (time.time() - t0) / 60
    load1 = os.getloadavg()

    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    config = saved["config"]
    network = darknet.read_cfg(results["cfg"])
    variables = jax.tree.map(jax.numpy.asarray, darknet.load_weights(results["weights"], network))
    test_set = data.OfflineDetection("test")
    t = time.time()
    final = evaluate.evaluate(variables, network, test_set, config["img_size"], batch_size=50, coco=True)
    eval_minutes = (time.time() - t) / 60
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    curve = [{"step": r["step"], "val_mAP50_200": round(r["val_mAP50"], 4)} for r in rows if "val_mAP50" in r]
    rates = [r["images_per_s"] for r in rows if "images_per_s" in r]
    os.makedirs(OUT, exist_ok=True)
    stem = os.path.join(OUT, f"detection_{args.model}{args.tag}")
    shutil.copy(results["weights"], stem + ".weights")
    shutil.copy(results["cfg"], stem + ".cfg")
    result = {
        "model": args.model, "command": "python -m detection.train " + " ".join(flags),
        "dataset": "offline detection (13 classes, 128 px images): train 4000 / held-out 500",
        "img_size": config["img_size"], "batch_size": config["batch_size"], "steps": results["steps"],
        "wall_minutes_this_session": round(train_minutes, 2),
        "median_images_per_s": round(sorted(rates)[len(rates) // 2], 1) if rates else None,
        "eval_minutes": round(eval_minutes, 2),
        "mAP50_area": round(final["mAP"], 4), "mAP50_11point": round(final["mAP_11point"], 4),
        "coco_mAP": round(final["coco"]["mAP"], 4), "coco_mAP50": round(final["coco"]["mAP50"], 4),
        "per_class_ap": dict(zip(test_set.class_names, [round(a, 4) for a in final["ap"]])),
        "curve_200_images": curve,
        "platform": f"{platform.machine()} {os.cpu_count()} cores, jax {jax.__version__} {jax.default_backend()}",
        "load_average_start_end": [round(load0[0], 1), round(load1[0], 1)], "config": config,
        "weights": stem + ".weights", "cfg": stem + ".cfg",
    }
    path = os.path.join(OUT, f"detection_quality_{args.model}{args.tag}.json")
    earlier = []
    if args.resume and os.path.exists(path):  # a budget split into sessions: keep each session's figures
        with open(path) as f:
            earlier = json.load(f).get("sessions", [])
    result["sessions"] = earlier + [{"until_step": results["steps"], "wall_minutes": round(train_minutes, 2),
                                     "load_average_start_end": result["load_average_start_end"]}]
    result["wall_minutes_all_sessions"] = round(sum(x["wall_minutes"] for x in result["sessions"]), 2)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("config", "per_class_ap")}, indent=1))
    print(f"| {args.model} | {config['img_size']} | {results['steps']} x {config['batch_size']} | "
          f"{result['wall_minutes_all_sessions']:.1f} min | {result['mAP50_area']:.3f} | {result['mAP50_11point']:.3f} | "
          f"{result['coco_mAP']:.3f} |")
    return result


if __name__ == "__main__":
    main()
