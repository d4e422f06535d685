"""The design-space exploration of YOLOv3-tiny at 416x416 on the Zedboard (XC7Z020) and a ZC706 (XC7Z045):
the calibration point (N_max=32, P_mem=8) against the paper, the sweep, Pareto front and chosen points.

    python benchmarks/fpga_dse.py     # writes benchmarks/out/fpga_dse.md and fpga_dse.png (a second, no training)

These are model predictions, not measurements (the paper's measured figures are quoted beside them).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detection import darknet  # noqa: E402
from fpga import dse  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def main() -> str:
    os.makedirs(OUT, exist_ok=True)
    network = darknet.builtin_cfg("yolov3-tiny")
    hw = (416, 416)
    ref = dse.Design(n_max=32, p_mem=8)
    lat, res = dse.latency(network, ref, hw), dse.resources(ref)
    lines = ["# FPGA design-space exploration (analytical models)", "",
             "YOLOv3-tiny, 416x416, 16-bit data, 100 MHz. `python -m fpga.dse` reproduces every row.", "",
             "| design point | latency ms | BRAM18K | DSP48E | LUT | FF |", "|---|---|---|---|---|---|",
             "| paper, measured on the Zedboard (N_max=32, P_mem=8) | 532 | 185 | 160 | 25,900 | 46,700 |",
             f"| our model, N_max=32, P_mem=8 | {lat['ms']:.1f} | {res['bram18k']} | {res['dsp']} | "
             f"{res['lut']:,} | {res['ff']:,} |"]
    for key in ("xc7z020", "xc7z045"):
        device = dse.DEVICES[key]
        points = dse.sweep(network, device, hw)
        chosen = dse.choose(points, device)
        if key == "xc7z020":
            front = dse.pareto(dse.feasible(points, device))
            dse.plot(points, front, chosen, device, os.path.join(OUT, "fpga_dse.png"))
        r = chosen.res
        lines.append(f"| chosen for the {device.name} (N_max={chosen.design.n_max}, P_mem={chosen.design.p_mem}) | "
                     f"{chosen.ms:.1f} | {r['bram18k']} | {r['dsp']} | {r['lut']:,} | {r['ff']:,} |")
    lines += ["", "BRAM18K of the reference point by buffer: " + ", ".join(
        f"{k[5:]} {v}" for k, v in res.items() if k.startswith("bram:")) + ".", "",
        "Pareto front and sweep on the XC7Z020: fpga_dse.png."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(OUT, "fpga_dse.md"), "w") as f:
        f.write(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
