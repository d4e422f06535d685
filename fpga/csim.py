"""C-simulation without Xilinx tools: g++ compiles our engines against the Apache-2.0 ap_int headers that ship in
the hls4ml wheel, plus our own hls::stream stand-in; ctypes drives them from Python, layer group by layer group,
exactly as the ARM driver schedules them (:func:`run_network`).

    engines = csim.Engines.build(dse.Design(n_max=8, p_mem=2, w_max=64))   # compiled once, cached by source hash
    outs = csim.run_network(engines, qnet, x_int)       # {layer index: int array}, equal to fpga.reference's

Compiled libraries are cached under ``$FPGA_CSIM_CACHE`` (default ``~/.cache/gan-jax/fpga-csim``), keyed by the
hash of every source and header, the flags and the compiler's version, so a second run does not recompile.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile

import numpy as np

from detection import darknet
from fpga import hls
from fpga import quantize as Q
from fpga import schedule as S

CXXFLAGS = ("-O2", "-std=c++14", "-fPIC", "-shared", "-Wno-unknown-pragmas", "-Wno-unused-label")
ENGINE_SOURCES = ("conv_engine.cpp", "acc_engine.cpp", "maxpool_engine.cpp", "upsample_engine.cpp",
                  "yolo_engine.cpp")


class CsimError(RuntimeError):
    """g++ missing or failing, headers not found, or an engine run that went wrong (the message says which)."""


def ap_types_dir() -> str:
    """hls4ml's copy of the ap_types headers, found without importing hls4ml (slow)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise CsimError("the ap_int/ap_fixed headers come from the hls4ml package, which is not installed: "
                        'pip install "gan-jax[fpga]" (or pip install hls4ml)')
    path = os.path.join(spec.submodule_search_locations[0], "templates", "vivado", "ap_types")
    if not os.path.exists(os.path.join(path, "ap_int.h")):
        raise CsimError(f"hls4ml is installed but {path}/ap_int.h is missing; reinstall it: "
                        'pip install --force-reinstall "gan-jax[fpga]"')
    return path


def compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    path = shutil.which(cxx)
    if path is None:
        raise CsimError(f"C-simulation needs a C++ compiler: {cxx!r} is not on PATH (apt install g++, or set CXX)")
    return path


def cache_dir() -> str:
    return os.environ.get("FPGA_CSIM_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "gan-jax", "fpga-csim"))


def compile_library(firmware_dir: str, sources: list[str], name: str = "engines",
                    extra_includes: list[str] = (), link: list[str] = (), shared: bool = True) -> str:
    """Compiles ``sources`` (paths) into a shared library (or an executable), or returns the cached one. Raises
    CsimError with the compiler's own message when it fails."""
    cxx = compiler()
    includes = [*extra_includes, firmware_dir, hls.CSIM_DIR, ap_types_dir()]
    flags = [f for f in CXXFLAGS if shared or f not in ("-shared", "-fPIC")]
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    h = hashlib.sha256(("\0".join(flags + list(link)) + version).encode())
    headers = [os.path.join(d, f) for d in [*extra_includes, firmware_dir, hls.CSIM_DIR]
               for f in sorted(os.listdir(d)) if f.endswith(".h")]
    for path in list(sources) + headers:
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    out_dir = os.path.join(cache_dir(), h.hexdigest()[:20])
    lib = os.path.join(out_dir, f"lib{name}.so" if shared else name)
    if os.path.exists(lib):
        return lib
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mktemp(suffix=".tmp", dir=out_dir)
    cmd = [cxx, *flags, *(f"-I{d}" for d in includes), *sources, "-o", tmp, *link]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        names = ", ".join(os.path.basename(s) for s in sources)
        raise CsimError(f"g++ failed (exit {proc.returncode}) compiling {names}:\n{proc.stderr.strip()[-4000:]}")
    os.replace(tmp, lib)  # atomic: a concurrent run sees the whole library or none
    return lib


# ----------------------------------------------------------------------------------------------------------------
# Packing: 4 16-bit channels (or 2 32-bit partial sums) per little-endian 64-bit beat


def to_beats(x: np.ndarray, dtype=np.int16) -> np.ndarray:
    """[..., C] ints -> flat uint64 beats (C a multiple of 4 for int16, of 2 for int32)."""
    return np.ascontiguousarray(np.asarray(x).astype(dtype)).view(np.uint64).ravel()


def from_beats(beats: np.ndarray, shape: tuple[int, ...], dtype=np.int16) -> np.ndarray:
    return np.ascontiguousarray(beats).view(dtype).reshape(shape)


_U64P = ctypes.POINTER(ctypes.c_uint64)


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(_U64P)


@dataclasses.dataclass
class Engines:
    """The five compiled engines behind ctypes; arrays in, arrays out."""

    lib: ctypes.CDLL
    design: "object"
    path: str

    @classmethod
    def build(cls, design, data_bits: int = 16) -> "Engines":
        with tempfile.TemporaryDirectory() as d:
            firmware = hls.write_firmware(d, design, data_bits)
            sources = [os.path.join(firmware, s) for s in ENGINE_SOURCES] + [os.path.join(hls.CSIM_DIR, "bridge.cpp")]
            path = compile_library(firmware, sources)
        lib = ctypes.CDLL(path)
        lib.fpga_last_error.restype = ctypes.c_char_p
        for name in ("fpga_conv", "fpga_acc", "fpga_maxpool", "fpga_upsample", "fpga_yolo"):
            getattr(lib, name).restype = ctypes.c_long
        return cls(lib, design, path)

    def config(self) -> dict[str, int]:
        out = (ctypes.c_int * 16)()
        n = self.lib.fpga_config(out)
        names = ("N_MAX", "P_MEM", "LB_ROWS", "LB_DEPTH", "WB_DEPTH", "W_MAX", "MP_DEPTH", "UP_DEPTH", "DATA_BITS")
        return dict(zip(names, out[:n]))

    def _call(self, name: str, inputs: list[np.ndarray], n_out: int, *scalars: int) -> np.ndarray:
        args = []
        keep = []
        for a in inputs:
            a = np.ascontiguousarray(a, np.uint64)
            keep.append(a)
            args += [_ptr(a), ctypes.c_long(a.size)]
        out = np.zeros(max(n_out, 1), np.uint64)
        got = getattr(self.lib, name)(*args, _ptr(out), ctypes.c_long(n_out), *(ctypes.c_int(int(s)) for s in scalars))
        if got < 0:
            raise CsimError(f"{name[5:]}_engine: {self.lib.fpga_last_error().decode()}")
        if got != n_out:
            raise CsimError(f"{name[5:]}_engine wrote {got} beats, expected {n_out}")
        return out[:n_out]

    def conv(self, x_HxWxC: np.ndarray, weight_beats: np.ndarray, n: int, k: int) -> np.ndarray:
        """int16 input fold [H, W, C], the fold's weights as beats -> int32 partial sums [H, W, n]."""
        h, w, c = x_HxWxC.shape
        out = self._call("fpga_conv", [to_beats(x_HxWxC), weight_beats], h * w * n // 2, h, w, c // 4, n, k)
        return from_beats(out, (h, w, n), np.int32)

    def acc(self, psum: np.ndarray, prev: np.ndarray | None, bias: np.ndarray | None, first: bool, last: bool,
            leaky: bool, shift: int) -> np.ndarray:
        """int32 partial sums [H, W, n] (+ previous folds', + bias on the last) -> int16 data or int32 partials."""
        h, w, n = psum.shape
        empty = np.zeros(0, np.uint64)
        ins = [to_beats(psum, np.int32), empty if first else to_beats(prev, np.int32),
               to_beats(bias, np.int32) if last else empty]
        beats = h * w * (n // 4 if last else n // 2)
        out = self._call("fpga_acc", ins, beats, h * w, n, first, last, leaky, shift)
        return from_beats(out, (h, w, n), np.int16 if last else np.int32)

    def maxpool(self, x: np.ndarray, stride: int) -> np.ndarray:
        h, w, c = x.shape
        oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
        out = self._call("fpga_maxpool", [to_beats(x)], oh * ow * c // 4, h, w, c // 4, stride)
        return from_beats(out, (oh, ow, c))

    def upsample(self, x: np.ndarray) -> np.ndarray:
        h, w, c = x.shape
        out = self._call("fpga_upsample", [to_beats(x)], 4 * h * w * c // 4, h, w, c // 4)
        return from_beats(out, (2 * h, 2 * w, c))

    def yolo(self, x: np.ndarray, channel_offset: int, classes: int, frac: int) -> np.ndarray:
        h, w, c = x.shape
        out = self._call("fpga_yolo", [to_beats(x)], h * w * c // 4, h * w, c // 4, channel_offset, classes, frac)
        return from_beats(out, (h, w, c))


# ----------------------------------------------------------------------------------------------------------------
# The ARM's schedule, driven from Python


def run_network(engines: Engines, qnet: Q.QuantizedNetwork, x_int: np.ndarray, on_group=None) -> dict[int, np.ndarray]:
    """Runs one image (int [H, W, 3] at the input format) through the compiled engines group by group, the way
    the ARM driver does: DDR buffers hold pixel-major tensors with channels padded to 4, input folds are read at
    their channel offset, partial sums of all but the last input fold go to DDR and come back, concatenating
    routes are placements in a shared buffer. Returns every written layer's output (padding channels removed), as
    int64 to compare with :func:`fpga.reference.forward`."""
    network = qnet.network
    design = engines.design
    h, w, c = x_int.shape
    groups = S.build(network, (h, w), design.limits)
    place = S.placements(network, groups)
    ddr: dict[int, np.ndarray] = {-1: np.zeros((h, w, S.pad4(c)), np.int16)}
    ddr[-1][..., :c] = x_int
    input_place = S.Placement(-1, 0, S.pad4(c))
    sizes = S.shapes(network, (h, w))

    def buffer(p: S.Placement, hw: tuple[int, int]) -> np.ndarray:
        if p.buffer not in ddr:
            ddr[p.buffer] = np.zeros((*hw, p.stride), np.int16)
        return ddr[p.buffer]

    for g in groups:
        src = input_place if g.source < 0 else place[g.source]
        src_buf = ddr[src.buffer]
        dst = place[g.output]
        dst_buf = buffer(dst, g.out_hw)
        qconv = qnet.convs.get(g.conv) if g.conv is not None else None
        partials: dict[int, np.ndarray] = {}
        for p in g.passes:
            fold = src_buf[:, :, src.offset + p.in_lo:src.offset + p.in_lo + p.c]
            if qconv is not None:
                psum = engines.conv(fold, hls.pass_weight_beats(qconv, p, g.c_in, g.c_out), p.n, g.k)
                bias = hls.padded_bias(qconv, g.c_out)[p.out_lo:p.out_lo + p.n]
                y = engines.acc(psum, partials.get(p.out_lo), bias, p.first, p.last, qconv.leaky, qconv.shift)
                if not p.last:
                    partials[p.out_lo] = y  # to DDR, back on the next input fold
                    continue
            else:
                y = fold
            if g.post_kind == "maxpool":
                y = engines.maxpool(y, network.layers[g.post].stride)
            elif g.post_kind == "upsample":
                y = engines.upsample(y)
            elif g.post_kind == "yolo":
                yolo = network.layers[g.post]
                y = engines.yolo(y, p.out_lo, yolo.classes, qnet.frac_of_input(g.post))
            dst_buf[:, :, dst.offset + p.out_lo:dst.offset + p.out_lo + p.n] = y
        if on_group is not None:
            on_group(g)
    outs = {}
    for layer, p in place.items():
        if p.buffer in ddr and not isinstance(network.layers[layer], darknet.Route):
            n = network.channels[layer]
            outs[layer] = ddr[p.buffer][:, :, p.offset:p.offset + n].astype(np.int64)
            assert outs[layer].shape[:2] == sizes[layer]
    return outs


# ----------------------------------------------------------------------------------------------------------------
# The generated ARM driver itself, on the C-simulation platform


def run_driver(engines: Engines, qnet: Q.QuantizedNetwork, x_int: np.ndarray, data_bits: int = 16
               ) -> dict[int, np.ndarray]:
    """Compiles the generated ``arm/driver.c`` for this network with ``platform_csim.cpp`` (DMAs and switches
    simulated, engines from ``engines``' library) and runs one image through it; returns the DDR outputs as
    :func:`run_network` does."""
    network = qnet.network
    h, w, c = x_int.shape
    prog = hls.program(qnet, engines.design, (h, w))
    with tempfile.TemporaryDirectory() as d:
        firmware = hls.write_firmware(d, engines.design, data_bits)
        arm = hls.write_arm(d, prog, engines.design)
        lib_dir = os.path.dirname(engines.path)
        sources = [os.path.join(arm, "driver.c"), os.path.join(hls.CSIM_DIR, "platform_csim.cpp")]
        path = compile_library(firmware, sources, name="driver", extra_includes=[arm],
                               link=[f"-L{lib_dir}", "-l:libengines.so", f"-Wl,-rpath,{lib_dir}"])
    lib = ctypes.CDLL(path)
    lib.fpga_csim_error.restype = ctypes.c_char_p
    bufs = [np.zeros((bh, bw, bc), np.int16) for bh, bw, bc in prog["buffers"]]
    bufs[prog["input_buffer"]][..., :c] = x_int
    ptrs = (ctypes.c_void_p * len(bufs))(*(b.ctypes.data for b in bufs))
    weights = np.ascontiguousarray(prog["weights"])
    biases = np.ascontiguousarray(prog["biases"])
    if lib.fpga_csim_run(ptrs, weights.ctypes.data_as(ctypes.c_void_p), biases.ctypes.data_as(ctypes.c_void_p)):
        raise CsimError(f"ARM driver: {lib.fpga_csim_error().decode()}")
    place = S.placements(network, prog["groups"])
    return {layer: bufs[p.buffer][:, :, p.offset:p.offset + network.channels[layer]].astype(np.int64)
            for layer, p in place.items() if not isinstance(network.layers[layer], darknet.Route)}


def run_testbench(engines: Engines, project_dir: str) -> dict[str, str]:
    """Builds the project's ``firmware/testbench.cpp`` (all engines, -DTB_ALL) against ``engines``' library and
    runs it on every ``tb/<engine>`` folder, as Vivado's csim_design would per IP. Returns {engine: its PASS line};
    raises CsimError with the testbench's output on a mismatch."""
    firmware = os.path.join(project_dir, "firmware")
    lib_dir = os.path.dirname(engines.path)
    exe = compile_library(firmware, [os.path.join(firmware, "testbench.cpp")], name="testbench", shared=False,
                          link=["-DTB_ALL", f"-L{lib_dir}", "-l:libengines.so", f"-Wl,-rpath,{lib_dir}"])
    results = {}
    tb = os.path.join(project_dir, "tb")
    for engine in sorted(os.listdir(tb)):
        proc = subprocess.run([exe, engine, os.path.join(tb, engine)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise CsimError(f"testbench {engine}: {proc.stdout.strip()} {proc.stderr.strip()}")
        results[engine] = proc.stdout.strip()
    return results
