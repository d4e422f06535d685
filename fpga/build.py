"""End to end: darknet weights -> fixed point -> (accuracy) -> design point -> HLS project -> C-simulation.

    python -m fpga.build --weights yolov3-tiny.weights --out prj/
    python -m fpga.build --weights benchmarks/out/detection_yolov3-tiny.weights --size 128 --data offline --out prj/
    python -m fpga.build --weights yolov3-tiny.weights --out prj/ --synth   # runs vivado_hls / vitis_hls if present

Steps: load the cfg (``--cfg``, else the .cfg beside the weights, else yolov3-tiny) and the weights; quantise
(formats from the flags, the per-layer report on calibration images); with ``--data``, mAP of float vs fixed point
on that evaluation set; the design point (``--n-max``/``--p-mem``, or the DSE's choice for ``--device``; one over
the device's resources is an error naming the resource); generate the project into ``--out``; C-simulate one
image through the compiled engines, driven by the generated ARM driver, and check it equals the bit-exact
reference; ``--synth``: run each IP's run_hls.tcl and read its csynth.xml. Writes ``--out``/report.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Sequence

import numpy as np


def _calibration(dataset, n: int, size: int) -> np.ndarray:
    from detection import inference

    return np.stack([inference.letterbox(dataset[i].image, (size, size))[0] for i in range(min(n, len(dataset)))])


def synthesize(out_dir: str, steps: str) -> list[dict] | None:
    """Runs every IP's run_hls.tcl with vivado_hls or vitis_hls; None when neither is on PATH."""
    from fpga import hls

    tool = shutil.which("vivado_hls") or shutil.which("vitis_hls")
    if tool is None:
        return None
    reports = []
    for engine in hls.ENGINES:
        d = os.path.join(out_dir, "ip", engine)
        proc = subprocess.run([tool, "-f", "run_hls.tcl"], cwd=d, env={**os.environ, "FPGA_HLS_STEPS": steps},
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{os.path.basename(tool)} failed on {engine} (exit {proc.returncode}):\n"
                             f"{(proc.stdout + proc.stderr)[-3000:]}")
        reports.append(hls.parse_csynth(hls.csynth_report_path(out_dir, engine)))
    return reports


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m fpga.build", description=__doc__.split("\n")[0])
    p.add_argument("--weights", required=True, help="darknet .weights file")
    p.add_argument("--cfg", default=None, help=".cfg file or built-in name (default: the .cfg beside the weights, "
                                               "else yolov3-tiny)")
    p.add_argument("--out", required=True, help="project folder to write")
    p.add_argument("--size", type=int, default=None, help="network input (default: the cfg's width)")
    p.add_argument("--data", default=None, help="evaluation set for float vs fixed-point mAP (offline, voc, coco, "
                                                "folder:PATH, ...; as detection.evaluate)")
    p.add_argument("--limit", type=int, default=100, help="evaluation images")
    p.add_argument("--calibration", type=int, default=8, help="images for the per-layer report / profiling")
    p.add_argument("--data-bits", type=int, default=16)
    p.add_argument("--data-frac", type=int, default=8)
    p.add_argument("--weight-bits", type=int, default=16)
    p.add_argument("--weight-frac", type=int, default=8)
    p.add_argument("--profile", action="store_true", help="per-layer fractional bits from the calibration images")
    p.add_argument("--device", default="xc7z020", help="xc7z020 (Zedboard) or xc7z045")
    p.add_argument("--n-max", type=int, default=None)
    p.add_argument("--p-mem", type=int, default=None)
    p.add_argument("--lb-depth", type=int, default=1664, help="line-buffer beats per row (tile size)")
    p.add_argument("--wb-depth", type=int, default=512, help="weight-buffer beats per kernel (tile size)")
    p.add_argument("--w-max", type=int, default=416, help="widest feature map the engines take")
    p.add_argument("--no-csim", action="store_true", help="skip the C-simulation of one image")
    p.add_argument("--synth", action="store_true", help="run vivado_hls / vitis_hls on every IP (when installed)")
    p.add_argument("--steps", default="csim csynth", help="HLS steps for --synth (csim csynth cosim export)")
    args = p.parse_args(argv)

    from detection import darknet, data
    from fpga import accuracy, csim, dse, hls
    from fpga import quantize as Q
    from fpga import reference as R

    t0 = time.time()
    cfg = args.cfg or (args.weights.rsplit(".", 1)[0] + ".cfg" if os.path.exists(args.weights.rsplit(".", 1)[0]
                                                                                 + ".cfg") else "yolov3-tiny")
    network = darknet.load_network(cfg)
    variables = darknet.load_weights(args.weights, network)
    size = args.size or network.net.width
    if size % 32:
        p.error(f"--size {size} is not a multiple of 32")
    if args.device not in dse.DEVICES:
        p.error(f"--device {args.device!r}: choose from {', '.join(dse.DEVICES)}")
    device = dse.DEVICES[args.device]
    lines = [f"# FPGA build: {os.path.basename(args.weights)} ({cfg}), {size}x{size}", ""]

    dataset = data.get_dataset(args.data, "test") if args.data else None
    calib_source = dataset if dataset is not None else data.OfflineDetection("train", size=size)
    calib = _calibration(calib_source, args.calibration, size)
    config = Q.QuantConfig(data_bits=args.data_bits, weight_bits=args.weight_bits, data_frac=args.data_frac,
                           weight_frac=args.weight_frac, profile=args.profile)
    qnet = Q.quantize(network, variables, config, calibration=calib)
    print(qnet.report_text())
    lines += ["## Fixed point", "", "```", qnet.report_text(), "```", ""]

    if dataset is not None:
        r = accuracy.compare(network, variables, qnet, dataset, size, limit=args.limit)
        text = (f"VOC mAP@0.5 on {r['fixed']['n_images']} images of {args.data}: float {r['float']['mAP']:.4f}, "
                f"fixed point {r['fixed']['mAP']:.4f} ({r['drop_points']:+.2f} points lost)")
        print(text)
        lines += ["## Accuracy", "", text, ""]

    if (args.n_max is None) != (args.p_mem is None):
        p.error("give both --n-max and --p-mem, or neither (the DSE chooses)")
    if args.n_max is not None:
        try:
            design = dse.Design(n_max=args.n_max, p_mem=args.p_mem, lb_depth=args.lb_depth,
                                wb_depth=args.wb_depth, w_max=args.w_max)
            dse.check_fits(design, device)
        except (dse.DesignError, ValueError) as e:
            raise SystemExit(f"error: {e}") from None
    else:
        base = dse.Design(lb_depth=args.lb_depth, wb_depth=args.wb_depth, w_max=args.w_max)
        design = dse.choose(dse.sweep(network, device, (size, size), base=base), device).design
    point = dse.point_text(design, network, device, (size, size))
    print(point)
    lines += ["## Design point", "", "```", point, "```", ""]

    x_int = R.quantize_input(qnet, calib[:1])[0]
    paths = hls.generate(qnet, design, args.out, image_int=x_int, part=device.part)
    print(f"project written to {args.out}/ (firmware, tb, ip/*/run_hls.tcl, vivado/block_design.tcl, arm/)")

    if not args.no_csim:
        engines = csim.Engines.build(design, qnet.data_bits)
        t = time.time()
        outs = csim.run_driver(engines, qnet, x_int, qnet.data_bits)
        ref = R.forward(qnet, x_int[None])
        same = all(np.array_equal(y, ref[layer][0]) for layer, y in outs.items())
        tb = csim.run_testbench(engines, args.out)
        text = (f"C-simulation of one image through the generated ARM driver and the compiled engines: "
                f"{'bit-exact with' if same else 'DIFFERS from'} the reference ({time.time() - t:.1f} s); "
                f"testbench: {', '.join(tb)} pass")
        print(text)
        lines += ["## C-simulation", "", text, ""]
        if not same:
            raise SystemExit("error: the C-simulation differs from the bit-exact reference")

    if args.synth:
        reports = synthesize(args.out, args.steps)
        if reports is None:
            text = ("--synth: neither vivado_hls nor vitis_hls is on PATH; the project is generated, stopping here. "
                    f"With the tools installed: cd {args.out}/ip/<engine> && vivado_hls -f run_hls.tcl, then "
                    f"cd {args.out}/vivado && vivado -mode batch -source block_design.tcl")
            print(text)
            lines += ["## Synthesis", "", text, ""]
        else:
            rows = ["| IP | latency (cycles) | clock ns | BRAM18K | DSP48E | FF | LUT |",
                    "|---|---|---|---|---|---|---|"]
            for r in reports:
                rows.append(f"| {r['top']} | {r['latency_worst'] if r['latency_worst'] is not None else 'undef'} | "
                            f"{r['clock_ns']} | {r['bram18k']} | {r['dsp']} | {r['ff']} | {r['lut']} |")
            total = {k: sum(r[k] or 0 for r in reports) for k in ("bram18k", "dsp", "ff", "lut")}
            rows.append(f"| total | | | {total['bram18k']} | {total['dsp']} | {total['ff']} | {total['lut']} |")
            print("\n".join(rows))
            lines += ["## Synthesis (csynth.xml)", ""] + rows + [""]
    lines.append(f"Built in {time.time() - t0:.0f} s.")
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return {"qnet": qnet, "design": design, "paths": paths}


if __name__ == "__main__":
    main(sys.argv[1:])
