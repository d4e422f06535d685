"""YOLOv3-tiny on an FPGA, after Yu, Bouganis et al., "A Parameterisable FPGA-Tailored Architecture for
YOLOv3-Tiny" (ARC 2020): fixed-point quantisation (:mod:`fpga.quantize`), a bit-exact integer reference
(:mod:`fpga.reference`), the layer-group schedule (:mod:`fpga.schedule`), the analytical design-space exploration
(:mod:`fpga.dse`), the HLS project generator (:mod:`fpga.hls`) with its C-simulation (:mod:`fpga.csim`), mAP of
float vs fixed point (:mod:`fpga.accuracy`) and the end-to-end CLI (``python -m fpga.build``). See README.md.
"""
