"""Design-space exploration: analytical latency and resource models of the five engines, a sweep under a
device's limits, the Pareto front and the chosen point.

    python -m fpga.dse                          # sweep on the XC7Z020 (Zedboard), table + fpga_dse.png
    python -m fpga.dse --n-max 32 --p-mem 8     # one design point: latency, BRAM18K, DSP, LUT, FF
    python -m fpga.dse --device xc7z045         # a larger Zynq

Parameters: N_max, the kernels computed in parallel (each takes one 64-bit beat = 4 channels per cycle, so
4 N_max MAC/cycle); P_mem, the memory parallelism of the accumulation side: the partial-sum memory is split in
P_mem banks so that the accumulation engine retires P_mem output channels per cycle (each lane: partial + bias,
leaky product, rounding shift); the line-buffer and weight-buffer depths (tile sizes) set the input-channel fold.

Latency of one pass (one output fold x one input fold, see :mod:`fpga.schedule`), in cycles at the PL clock:
    weights load   N x K^2 x C/4 beats over one DMA
  + streaming      H x W x max(K^2 C/4 + D_PIX, N / P_mem, DDR beats per pixel / ETA)
  + line fill      (K // 2) x (W + 1) x C/4
  + ARM            T_SETUP_US (registers of three engines, two DMA descriptors, the interrupt)
                   + ARM_NS_PER_BYTE x bytes moved (cache flush before, invalidate after each DMA: the ARM
                   walks every 32-byte line through L1 and the PL310 L2)
D_PIX is the per-pixel cost of restarting the pipelined tap loop (it is not flattened across pixels because the
line-buffer shift sits between them); ETA is the fraction of the 64-bit, 100 MHz DMA stream that DDR sustains.
These are the calibration constants: D_PIX, ETA and T_SETUP_US are set from the structure, ARM_NS_PER_BYTE
(4.4 ns, ~150 Cortex-A9 cycles per cache line) is then fitted to the paper's measured 532 ms at N_max=32,
P_mem=8, the only measured latency; every other design point is a prediction. With the ideal engine alone
(4 x 32 MAC per cycle, 2.78 GMAC) a frame would take 217 ms: the ARM side is the other half, which is why
the paper's ARM-scheduled design is bandwidth- and driver-bound and why bigger N_max buys little here.

Resources: DSP48E1 = 4 per kernel (one 16x16 MAC per packed channel) + 4 per accumulation lane (32x17 leaky
product: 2, partial-sum and bias adders mapped to DSP ALUs: 2) + the yolo engine's table index (0) ...;
BRAM18K by the block rule (one BRAM18K is 512 x 36, 1K x 18, 2K x 9 ...; wider words take several side by side)
applied to each buffer: line buffer (K_max rows), weight buffer (one bank per kernel), partial-sum banks (P_mem),
maxpool rows, upsample row, the sigmoid table, the two AXI DMAs' FIFOs. LUT and FF: per-engine linear models in
N_max and P_mem (fitted to the paper's 25.9k LUT / 46.7k FF at the reference point, with the PS7/DMA/interconnect
share as a constant).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import sys
from typing import Sequence

from detection import darknet
from fpga import schedule as S

# calibration constants (see the module docstring)
D_PIX = 2  # cycles per output pixel lost restarting the tap loop
ETA = 0.55  # DDR efficiency of a 64-bit DMA stream
T_SETUP_US = 20.0  # ARM work per pass: engine registers, two DMA descriptors, the interrupt
ARM_NS_PER_BYTE = 4.4  # ARM cache maintenance (flush before / invalidate after each DMA) per byte moved
ACC_LATENCY = 12  # pipeline depth of conv -> accumulation -> post engine per pass


@dataclasses.dataclass(frozen=True)
class Device:
    name: str
    part: str
    bram18k: int
    dsp: int
    lut: int
    ff: int


DEVICES = {
    "xc7z020": Device("Zedboard XC7Z020", "xc7z020clg484-1", 280, 220, 53_200, 106_400),
    "xc7z045": Device("ZC706 XC7Z045", "xc7z045ffg900-2", 1_090, 900, 218_600, 437_200),
}


@dataclasses.dataclass(frozen=True)
class Design:
    n_max: int = 32
    p_mem: int = 8
    lb_depth: int = 1664  # line-buffer beats per row (416 px x 16 channels)
    wb_depth: int = 512  # weight-buffer beats per kernel (3x3 x 224 channels)
    w_max: int = 416
    clock_mhz: float = 100.0

    @property
    def limits(self) -> S.Limits:
        return S.Limits(self.n_max, self.lb_depth, self.wb_depth, self.w_max)

    def __post_init__(self):
        if self.n_max < 4 or self.n_max % 4:
            raise ValueError(f"N_max={self.n_max} must be a positive multiple of 4 (4 channels per beat)")
        if self.p_mem < 1 or self.p_mem & (self.p_mem - 1):
            raise ValueError(f"P_mem={self.p_mem} must be a power of two (memory banks)")


def bram18k(depth: int, width: int) -> int:
    """Blocks for one memory of ``depth`` words x ``width`` bits (the 18Kb block's aspect ratios)."""
    if depth <= 0 or width <= 0:
        return 0
    best = None
    for d, w in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)):
        n = math.ceil(depth / d) * math.ceil(width / w)
        best = n if best is None else min(best, n)
    return best


def resources(design: Design) -> dict[str, int]:
    n, p = design.n_max, design.p_mem
    brams = {
        # K_max + 1 rows: the next row fills while the window reads the other three
        "line buffer": 4 * bram18k(design.lb_depth, 64),
        "weights": n * bram18k(design.wb_depth, 64),  # one bank per kernel
        # one output row of partial sums, N_max channels in P_mem banks (row bursts to and from DDR)
        "partial sums": p * bram18k(design.w_max * -(-n // p), 32),
        "maxpool rows": 2 * bram18k(design.w_max * n // 4, 64),
        "upsample row": bram18k(design.w_max // 2 * n // 4, 64),
        "sigmoid table": bram18k(4096, 16),
        "engine fifos": 2 * bram18k(1024, 64),  # conv -> accumulation -> post streams
        "dma buffers": 2 * 4,  # two AXI DMAs (MM2S + S2MM data FIFOs, 64 bits)
    }
    dsp = 4 * n + 4 * p
    lut = 5_200 + 480 * n + 650 * p
    ff = 9_800 + 980 * n + 680 * p
    return {"bram18k": sum(brams.values()), "dsp": dsp, "lut": lut, "ff": ff,
            **{f"bram:{k}": v for k, v in brams.items()}}


def pass_bytes(group: S.Group, p: S.Pass) -> int:
    """DDR bytes one pass moves: input fold, weights, partial sums in/out (32-bit), output (16-bit)."""
    (h, w), (oh, ow) = group.in_hw, group.out_hw
    return (h * w * p.c * 2 + p.n * group.k ** 2 * p.c * 2 + (0 if p.first else h * w * p.n * 4)
            + (oh * ow * p.n * 2 if p.last else h * w * p.n * 4))


def pass_cycles(group: S.Group, p: S.Pass, design: Design) -> float:
    h, w = group.in_hw
    oh, ow = group.out_hw
    pixels = h * w
    cycles_per_ns = design.clock_mhz / 1e3
    setup = T_SETUP_US * design.clock_mhz + pass_bytes(group, p) * ARM_NS_PER_BYTE * cycles_per_ns
    if group.conv is None:  # a post engine alone: stream in, stream out
        beats = pixels * p.c / 4 + oh * ow * p.n / 4
        return beats / ETA + setup
    k = group.k
    compute = k * k * p.c / 4 + D_PIX
    acc = p.n / design.p_mem
    ddr = (p.c / 4 + (0 if p.first else p.n / 2) + (p.n / 4 * oh * ow / pixels if p.last else p.n / 2)) / ETA
    weights = p.n * k * k * p.c / 4 / ETA
    fill = (k // 2) * (w + 1) * p.c / 4
    return weights + pixels * max(compute, acc, ddr) + fill + ACC_LATENCY + setup


def latency(network: darknet.Network, design: Design, hw: tuple[int, int] | None = None) -> dict:
    """{'ms', 'cycles', 'groups': [(group, cycles)], 'gmac', 'passes'}."""
    hw = hw or (network.net.height, network.net.width)
    groups = S.build(network, hw, design.limits)
    per_group = [(g, sum(pass_cycles(g, p, design) for p in g.passes)) for g in groups]
    cycles = sum(c for _, c in per_group)
    sizes = S.shapes(network, hw)
    macs = sum(sizes[i][0] * sizes[i][1] * c.size ** 2 * c.in_channels * c.filters for i, c in network.conv_layers)
    return {"ms": cycles / design.clock_mhz / 1e3, "cycles": cycles, "groups": per_group, "gmac": macs / 1e9,
            "passes": sum(len(g.passes) for g in groups)}


@dataclasses.dataclass(frozen=True)
class Point:
    design: Design
    ms: float
    res: dict

    @property
    def key(self) -> tuple:
        return (self.ms, self.res["bram18k"], self.res["dsp"])


def over_budget(res: dict, device: Device) -> list[str]:
    """Each resource over the device's limit, with by how much."""
    out = []
    for name, label in (("bram18k", "BRAM18K"), ("dsp", "DSP48E"), ("lut", "LUT"), ("ff", "FF")):
        have = getattr(device, name)
        if res[name] > have:
            out.append(f"{label} {res[name]:,} > {have:,} (over by {res[name] - have:,}, "
                       f"{100 * (res[name] - have) / have:.0f}%)")
    return out


class DesignError(ValueError):
    """A design point that does not fit the device."""


def check_fits(design: Design, device: Device) -> dict:
    res = resources(design)
    over = over_budget(res, device)
    if over:
        raise DesignError(f"N_max={design.n_max}, P_mem={design.p_mem} does not fit the {device.name}: "
                          + "; ".join(over))
    return res


def sweep(network: darknet.Network, device: Device, hw: tuple[int, int] | None = None,
          n_values: Sequence[int] = (4, 8, 12, 16, 24, 32, 40, 48, 64, 96, 128),
          p_values: Sequence[int] = (1, 2, 4, 8, 16), base: Design = Design()) -> list[Point]:
    """Every (N_max, P_mem) pair, the other parameters (tile sizes, clock) from ``base``."""
    points = []
    for n, p in itertools.product(n_values, p_values):
        d = dataclasses.replace(base, n_max=n, p_mem=p)
        points.append(Point(d, latency(network, d, hw)["ms"], resources(d)))
    return points


def feasible(points: Sequence[Point], device: Device) -> list[Point]:
    return [p for p in points if not over_budget(p.res, device)]


def pareto(points: Sequence[Point]) -> list[Point]:
    """Points no other point beats on latency, BRAM18K and DSP at once."""
    front = []
    for a in points:
        if not any(b is not a and all(x <= y for x, y in zip(b.key, a.key)) and b.key != a.key for b in points):
            front.append(a)
    return sorted(front, key=lambda p: p.ms)


def choose(points: Sequence[Point], device: Device) -> Point:
    """Least predicted latency among the points that fit (ties: fewer DSPs, then BRAMs)."""
    ok = feasible(points, device)
    if not ok:
        raise DesignError(f"no design point fits the {device.name}")
    return min(ok, key=lambda p: (round(p.ms, 3), p.res["dsp"], p.res["bram18k"]))


def point_text(design: Design, network: darknet.Network, device: Device, hw: tuple[int, int] | None = None) -> str:
    lat = latency(network, design, hw)
    res = resources(design)
    lines = [f"N_max={design.n_max} P_mem={design.p_mem} (line buffer {design.lb_depth} beats/row, weights "
             f"{design.wb_depth} beats/kernel) at {design.clock_mhz:g} MHz on {device.name}",
             f"  latency {lat['ms']:.1f} ms ({lat['gmac']:.3f} GMAC, {len(lat['groups'])} groups, {lat['passes']} "
             f"passes)",
             f"  BRAM18K {res['bram18k']} / {device.bram18k}   DSP {res['dsp']} / {device.dsp}   LUT {res['lut']:,} / "
             f"{device.lut:,}   FF {res['ff']:,} / {device.ff:,}"]
    over = over_budget(res, device)
    lines.append("  does NOT fit: " + "; ".join(over) if over else "  fits")
    return "\n".join(lines)


def table(points: Sequence[Point], device: Device) -> str:
    rows = [f"{'N_max':>5} {'P_mem':>5} {'ms':>8} {'BRAM18K':>7} {'DSP':>5} {'LUT':>7} {'FF':>7}  fits"]
    for p in sorted(points, key=lambda p: p.ms):
        fits = "yes" if not over_budget(p.res, device) else "no"
        rows.append(f"{p.design.n_max:5d} {p.design.p_mem:5d} {p.ms:8.1f} {p.res['bram18k']:7d} {p.res['dsp']:5d} "
                    f"{p.res['lut']:7,d} {p.res['ff']:7,d}  {fits}")
    return "\n".join(rows)


def plot(points: Sequence[Point], front: Sequence[Point], chosen: Point, device: Device, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for fits, marker in ((True, "o"), (False, "x")):
        sel = [p for p in points if (not over_budget(p.res, device)) == fits]
        ax.scatter([p.res["dsp"] for p in sel], [p.ms for p in sel], marker=marker, alpha=0.6,
                   label="fits" if fits else "over the device")
    ax.plot([p.res["dsp"] for p in front], [p.ms for p in front], "k--", lw=0.8, label="Pareto front")
    ax.scatter([chosen.res["dsp"]], [chosen.ms], s=120, facecolors="none", edgecolors="r", label="chosen")
    ax.axvline(device.dsp, color="grey", lw=0.5)
    ax.set_xlabel("DSP48E")
    ax.set_ylabel("latency per frame (ms)")
    ax.set_yscale("log")
    ax.set_title(f"yolov3-tiny on {device.name}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m fpga.dse", description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", default="yolov3-tiny", help="a .cfg file or a built-in name")
    ap.add_argument("--size", type=int, default=416, help="network input (square)")
    ap.add_argument("--device", default="xc7z020", choices=sorted(DEVICES))
    ap.add_argument("--n-max", type=int, default=None, help="evaluate this one design point (with --p-mem)")
    ap.add_argument("--p-mem", type=int, default=None)
    ap.add_argument("--plot", default="fpga_dse.png", help="where the sweep's plot goes ('' for none)")
    args = ap.parse_args(argv)
    network = darknet.load_network(args.cfg)
    device = DEVICES[args.device]
    hw = (args.size, args.size)
    if (args.n_max is None) != (args.p_mem is None):
        ap.error("give both --n-max and --p-mem for a single design point")
    if args.n_max is not None:
        try:
            design = Design(n_max=args.n_max, p_mem=args.p_mem)
        except ValueError as e:
            ap.error(str(e))
        print(point_text(design, network, device, hw))
        return {"design": design, **latency(network, design, hw), **resources(design)}
    points = sweep(network, device, hw)
    front = pareto(feasible(points, device))
    chosen = choose(points, device)
    print(table(points, device))
    print("\nPareto front (fitting points): " + ", ".join(f"({p.design.n_max}, {p.design.p_mem})" for p in front))
    print("chosen (least latency that fits):\n" + point_text(chosen.design, network, device, hw))
    if args.plot:
        plot(points, front, chosen, device, args.plot)
        print(f"plot: {args.plot}")
    return {"points": points, "front": front, "chosen": chosen}


if __name__ == "__main__":
    main(sys.argv[1:])
