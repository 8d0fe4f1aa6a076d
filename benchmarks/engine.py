"""Engine speed and memory: the Docker Pets scenario as a process, and 1,000 containers on one
user-defined bridge, compared in the same run with the real kernel doing the same plumbing.

Prints:
- wall time of `cnmsim run scenarios/docker-pets-bridge.yaml` as a whole process (target < 2 s);
- time per `docker run -itd --network big busybox sh` for 1,000 containers (target < 5 ms)
  and memory per container (tracemalloc, target < 100 KiB);
- wall time of one `ping -c 1` between two of the 1,000 containers (target < 2 ms);
- the comparison: the real kernel's cost of one container's plumbing (netns + veth pair +
  bridge port + address, with `ip -batch`), when run as root; the ratio says how many simulated
  `docker run`s fit in the time the kernel takes for one sandbox.

    python benchmarks/engine.py [--n 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnmsim import Lab  # noqa: E402


def pets_process() -> float | None:
    scenario = ROOT / "scenarios" / "docker-pets-bridge.yaml"
    exe = shutil.which("cnmsim") or str(Path(sys.executable).parent / "cnmsim")
    if not scenario.exists() or not Path(exe).exists():
        return None
    t = time.perf_counter()
    subprocess.run([exe, "run", str(scenario)], check=True, capture_output=True)
    return time.perf_counter() - t


def many_containers(n: int) -> tuple[float, float, float, Lab]:
    lab = Lab(seed=0, trace=False)
    lab.add_host("host-A", address="192.168.0.2/24")
    assert lab.run("host-A", "docker network create big").ok
    lab.run("host-A", "docker run -itd --network big --name warmup busybox sh")  # imports, caches
    lab.run("host-A", "docker rm -f warmup")
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    for i in range(n):
        r = lab.run("host-A", f"docker run -itd --network big --name c{i} busybox sh")
        assert r.ok, r.stderr
    per_run = (time.perf_counter() - t) / n
    per_mem = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    lab.run("c0", f"ping -c 1 c{n - 1}")  # the first contact floods ARP to all n ports
    times = []
    for _ in range(7):  # the median of warm pings: name lookup via 127.0.0.11, echo, reply
        t = time.perf_counter()
        r = lab.run("c0", f"ping -c 1 c{n - 1}")
        times.append(time.perf_counter() - t)
        assert r.ok, r.stdout + r.stderr
    ping = sorted(times)[len(times) // 2]
    return per_run, per_mem, ping, lab


def real_plumbing(n: int = 50) -> float | None:
    """Seconds per sandbox for the real kernel: netns, veth, bridge port, address, up."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return None
    pre = f"cnmb{os.getpid() % 10000}"
    lines = [f"link add {pre}br type bridge", f"link set {pre}br up"]
    for i in range(n):
        lines += [f"netns add {pre}n{i}", f"link add {pre}v{i} type veth peer name eth0 netns {pre}n{i}",
                  f"link set {pre}v{i} master {pre}br up",
                  f"netns exec {pre}n{i} ip addr add 10.99.{i // 250}.{i % 250 + 2}/16 dev eth0",
                  f"netns exec {pre}n{i} ip link set eth0 up"]
    try:
        t = time.perf_counter()
        subprocess.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True,
                       capture_output=True)
        return (time.perf_counter() - t) / n
    except subprocess.CalledProcessError:
        return None
    finally:
        cleanup = [f"netns del {pre}n{i}" for i in range(n)] + [f"link del {pre}br"]
        subprocess.run(["ip", "-force", "-batch", "-"], input="\n".join(cleanup) + "\n", text=True,
                       capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    pets = pets_process()
    if pets is not None:
        print(f"docker-pets-bridge scenario, whole `cnmsim run` process: {pets:.2f} s (target < 2 s)")
    per_run, per_mem, ping, _ = many_containers(a.n)
    print(f"{a.n} containers on one bridge: {per_run * 1e3:.2f} ms per docker run (target < 5 ms), "
          f"{per_mem / 1024:.1f} KiB per container (target < 100 KiB)")
    print(f"ping -c 1 between two of them (by name, median of 7): {ping * 1e3:.2f} ms wall (target < 2 ms)")
    real = real_plumbing()
    if real is not None:
        print(f"real kernel, one sandbox's plumbing (netns+veth+bridge port+addr via ip -batch): "
              f"{real * 1e3:.2f} ms; simulated docker run / real plumbing = {per_run / real:.2f}")


if __name__ == "__main__":
    main()
