"""The long benchmark runs a 2-core CPU cannot finish, as one batch of jobs for a single accelerator.

    python -m benchmarks.accelerator [--jobs lsgan,acgan,...] [--max_minutes 5] [--parallel 10] [--dry_run]

Each job is one benchmark command (``benchmarks.quality``, ``conditional``, ``domain``, ``translation``,
``multimodal``, ``superres``) with a step budget and ``--max_minutes``: training stops at whichever comes first and
the table reports the steps reached. Jobs run as separate processes, ``--parallel`` at a time (the small MNIST models
leave a large GPU mostly idle, so sharing it multiplies what a short lease measures). Each writes its own table
(benchmarks/out/gpu_*.md, with the machine named) and log (benchmarks/out/accelerator/JOB.log); the summary lists
each job's exit status.

What the first run taught (an H200, 20 jobs at once; benchmarks/RESULTS.md): the small models were fine, but six of
the 128-256 px jobs ran out of GPU memory, and stargan made one step in 5 minutes. Hence GPU memory is allocated on
demand, CUDA command buffers are off (they failed first, reserving memory per compiled graph), at most
``--parallel`` jobs share the card, and the heavy jobs start first. The second (an H200, six jobs for 6 minutes:
stargan at 128 px made 1,485 steps, cluster_gan 60,398, munit 4,788, cogan 17,907, two bgan runs 40,000 each): six
at once is a good size for a 15-minute lease. The third (an H200, munit at both presets and bgan at batch 256, 7.5
minutes): munit made 13,196 steps at 128 px and 17,404 at 64 px, bgan 40,000 steps in 157 s, so the MNIST models can
try several seeds or settings in one short call. A machine without the package's pure-Python dependencies needs only
their wheels and ``PYTHONPATH=<site>:<repo>``; no install.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchmarks import common

# job: (module, arguments); heavy (128-256 px) jobs first so that they are not starved by the queue
JOBS = {
    "stargan": ("multimodal", "--preset full --models stargan --steps 20000"),
    "cyclegan": ("translation", "--preset full --models cyclegan --steps 20000"),
    "dualgan": ("translation", "--preset full --models dualgan --steps 20000"),
    "discogan": ("translation", "--preset full --models discogan --steps 20000"),
    "unit": ("multimodal", "--preset full --models unit --steps 20000"),
    "munit": ("multimodal", "--preset full --models munit --steps 20000"),
    # the 64 px CPU preset for many more steps: does munit's A->B reach the target palette with training length?
    "munit_cpu": ("multimodal", "--preset cpu --models munit --steps 100000"),
    "bicyclegan": ("multimodal", "--preset full --models bicyclegan --steps 20000"),
    "ccgan": ("domain", "--preset full --models ccgan --steps 10000"),
    "srgan": ("superres", "--preset cpu --models srgan --steps 20000,5000"),
    "esrgan": ("superres", "--preset cpu --models esrgan --steps 20000,5000"),
    "pix2pix": ("translation", "--preset full --models pix2pix --steps 20000"),
    "pixelda": ("domain", "--preset full --models pixelda --steps 3000"),
    "cogan": ("domain", "--preset full --models cogan --steps 20000"),
    "infogan": ("conditional", "--models infogan --steps 30000"),
    "sgan": ("conditional", "--models sgan --steps 8000"),
    "cluster_gan": ("conditional", "--models cluster_gan --steps 60000"),
    # the authors' WGAN-GP variant: 0.534 purity at 21,950 steps on the CPU, still rising
    "cluster_gan_wass": ("conditional", "--models cluster_gan --set wass_flag=true --steps 100000"),
    "acgan": ("conditional", "--models acgan --steps 30000"),
    **{name: ("quality", f"--models {name} --steps 30000 --checkpoints 10 --n 500")
       for name in ("lsgan", "dragan", "ebgan", "began", "bgan")},
    # bgan sits near the 5x line (benchmarks/RESULTS.md): another seed and a lower learning rate, FD every 2,000 steps
    "bgan_seed1": ("quality", "--models bgan --steps 40000 --checkpoints 20 --n 1000 --seed 1"),
    "bgan_lr": ("quality", "--models bgan --steps 40000 --checkpoints 20 --n 1000 --set lr=0.0001"),
    "bgan_b256": ("quality", "--models bgan --steps 40000 --checkpoints 20 --n 1000 --set batch_size=256"),
}


def command(job: str, max_minutes: float) -> list[str]:
    module, args = JOBS[job]
    return [sys.executable, "-m", f"benchmarks.{module}", *args.split(), "--max_minutes", str(max_minutes),
            "--out", f"gpu_{module}_{job}.md"]


def environment() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", XLA_PYTHON_CLIENT_PREALLOCATE="false", TF_CPP_MIN_LOG_LEVEL="2")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_gpu_enable_command_buffer=").strip()
    return env


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.accelerator", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", default=",".join(JOBS), help="comma-separated, from: " + ", ".join(JOBS))
    p.add_argument("--max_minutes", type=float, default=5.0, help="training time per job")
    p.add_argument("--parallel", type=int, default=10, help="jobs sharing the accelerator at once")
    p.add_argument("--dry_run", action="store_true", help="print the commands only")
    args = p.parse_args(argv)
    jobs = common.names(p, args.jobs, JOBS, "jobs")
    if args.max_minutes <= 0 or args.parallel <= 0:
        p.error("--max_minutes and --parallel must be > 0")
    if args.dry_run:
        for job in jobs:
            print(" ".join(command(job, args.max_minutes)))
        return 0
    logs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "accelerator")
    os.makedirs(logs, exist_ok=True)
    queue, running, done, t0 = list(jobs), {}, {}, time.time()
    while queue or running:
        while queue and len(running) < args.parallel:
            job = queue.pop(0)
            log = open(os.path.join(logs, f"{job}.log"), "w")
            running[job] = (subprocess.Popen(command(job, args.max_minutes), stdout=log, stderr=subprocess.STDOUT,
                                             env=environment()), log)
        time.sleep(2)
        for job, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                done[job] = (proc.returncode, time.time() - t0)
                del running[job]
                print(f"{job}: exit {proc.returncode} after {done[job][1]:.0f} s", file=sys.stderr, flush=True)
    failed = [j for j, (rc, _) in done.items() if rc]
    print(f"{len(done) - len(failed)} of {len(done)} jobs succeeded"
          + (f"; failed: {', '.join(failed)} (logs in {logs})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
