"""Real mode's cost: bring-up and tear-down of the Docker Pets bridge scenario on the real kernel,
against the same steps on the simulator, in the same run.

Bring-up is building the lab (host namespaces, underlay bridge, dockerd's docker0 and rules) and
every step before the scenario's first `wait` (network create, the two `docker run`s with their
sandboxes, veths, addresses, iptables rules, embedded DNS, docker-proxy and app processes, the first
ping); tear-down is `lab.close()`.  Target: real bring-up under 3 s.  Needs root.

    python benchmarks/real.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnmsim.scenario import Scenario  # noqa: E402

PETS = ROOT / "scenarios" / "docker-pets-bridge.yaml"


def bring_up(backend: str) -> tuple[float, float, int]:
    """(bring-up seconds, tear-down seconds, steps run) for one run of the scenario's set-up."""
    sc = Scenario.load(PETS)
    t0 = time.perf_counter()
    lab = sc.build(backend=backend, trace=False)
    steps = 0
    try:
        for step in sc.steps:
            if step.kind == "wait":
                break
            r = lab.run(step.where, step.line)
            if r.exit_code != 0:
                raise SystemExit(f"{backend}: step failed: {step.text}\n{r.stdout}{r.stderr}")
            steps += 1
        up = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        lab.close()
        down = time.perf_counter() - t1
    return up, down, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("real mode needs root (network namespaces)")
    bring_up("sim")  # imports and caches warm for both
    rows = {b: [bring_up(b) for _ in range(args.repeat)] for b in ("sim", "real")}
    med = {b: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
           for b, rs in rows.items()}
    steps = rows["real"][0][2]
    print(f"Docker Pets bridge scenario, {steps} set-up steps, median of {args.repeat}:")
    for b in ("sim", "real"):
        up, down = med[b]
        print(f"  {b:4}  bring-up {up * 1000:8.1f} ms   tear-down {down * 1000:7.1f} ms")
    up_ratio = med["real"][0] / med["sim"][0]
    print(f"  real/sim bring-up ratio {up_ratio:.1f}x; real bring-up "
          f"{'under' if med['real'][0] < 3 else 'OVER'} the 3 s target")


if __name__ == "__main__":
    main()
