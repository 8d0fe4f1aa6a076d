"""The example third-party plug-in package (examples/cnmsim-routed), installed with pip into a
temporary directory and found through its entry points: `-d routed --ipam-driver table`.

What the package promises (its README): no bridge; a veth per container whose host end is
cali*, with proxy ARP and a /32 route to the container; the container's default route via
169.254.1.1, so the host routes every packet; addresses from the --ipam-opt table, first free
entry first.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnmsim import Lab
from cnmsim.engine import registry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cnmsim-routed"
CREATE = ("docker network create -d routed --ipam-driver table --subnet 10.65.0.0/24 "
          "--ipam-opt table=10.65.0.10,10.65.0.20 calico")


def pip_install(target: Path) -> None:
    """As the brief says; without the `wheel` package an old setuptools cannot build in the
    venv itself (`invalid command 'bdist_wheel'`), so fall back to an isolated build."""
    base = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    r = subprocess.run([*base, "--no-build-isolation", str(EXAMPLE)], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run([*base, str(EXAMPLE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install once for the module; sys.path, the import caches and the registry are restored."""
    target = tmp_path_factory.mktemp("cnmsim-routed")
    pip_install(target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    registry.refresh()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for mod in [m for m in sys.modules if m == "cnmsim_routed" or m.startswith("cnmsim_routed.")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        registry.refresh()


def sh(lab: Lab, line: str, where: str = "host-A") -> str:
    r = lab.run(where, line)
    assert r.exit_code == 0, f"{where}$ {line} failed ({r.exit_code}): {r.stdout}{r.stderr}"
    return r.stdout


def calico_lab() -> Lab:
    """A default route on the host: proxy ARP answers 169.254.1.1 only if the host can route it."""
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24", gateway="192.168.0.1")
    sh(lab, CREATE)
    for name in ("ca", "cb"):
        sh(lab, f"docker run -d --name {name} --network calico busybox sleep 1000")
    return lab


def addr(lab: Lab, name: str) -> str:
    return sh(lab, f"docker inspect -f '{{{{.NetworkSettings.Networks.calico.IPAddress}}}}' {name}").strip()


def host_route(lab: Lab, ip: str) -> str:
    return next(ln for ln in sh(lab, "ip route").splitlines() if ln.startswith(ip + " "))


# ---------------------------------------------------------------- tests
def test_plugin_is_found_through_its_entry_points(plugin: Path) -> None:
    assert (plugin / "cnmsim_routed").is_dir()
    assert "routed" in registry.available(registry.NETWORK_GROUP)
    assert "table" in registry.available(registry.IPAM_GROUP)
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    sh(lab, CREATE)
    ls = sh(lab, "docker network ls --format '{{.Name}} {{.Driver}}'")
    assert "calico routed" in ls.splitlines()
    assert sh(lab, "docker network inspect -f '{{.IPAM.Driver}}' calico").strip() == "table"


def test_addresses_come_from_the_table(plugin: Path) -> None:
    lab = calico_lab()
    assert (addr(lab, "ca"), addr(lab, "cb")) == ("10.65.0.10", "10.65.0.20")


def test_host_routes_each_container_through_a_cali_device(plugin: Path) -> None:
    lab = calico_lab()
    for name in ("ca", "cb"):
        ip = addr(lab, name)
        route = host_route(lab, ip).split()
        assert route[1] == "dev" and route[2].startswith("cali") and "scope link" in " ".join(route)
        assert sh(lab, f"sysctl -n net.ipv4.conf.{route[2]}.proxy_arp").strip() == "1"
        assert sh(lab, "ip route", where=name).startswith("default via 169.254.1.1 dev eth0")
        assert f"inet {ip}/" in sh(lab, "ip addr show eth0", where=name)


def test_no_bridge_is_created(plugin: Path) -> None:
    lab = calico_lab()
    links = sh(lab, "ip -d link")
    assert links.count("bridge forward_delay") == 1  # docker0 only
    assert "br-" not in links
    bridges = sh(lab, "brctl show").splitlines()[1:]
    assert [b.split()[0] for b in bridges if b and not b[0].isspace()] == ["docker0"]
    assert "cali" not in sh(lab, "brctl show")


def test_host_reaches_the_containers(plugin: Path) -> None:
    lab = calico_lab()
    for name in ("ca", "cb"):
        assert lab.run("host-A", f"ping -c 1 -W 1 {addr(lab, name)}").exit_code == 0


def test_containers_ping_each_other_routed_by_the_host(plugin: Path) -> None:
    lab = calico_lab()
    r = lab.run("ca", "ping -c 1 -W 1 cb")
    assert r.exit_code == 0, r.trace.explain()
    fwd = [e for e in r.trace if e.host == "host-A" and e.ns == "" and e.verdict == "forward"
           and e.stage in ("ip:forward", "route:lookup")]
    assert fwd and fwd[0].dev.startswith("cali")
    assert "ttl=63" in r.stdout  # one routed hop


def test_removal_leaves_no_cali_device_or_route(plugin: Path) -> None:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    before = {line: sh(lab, line) for line in ("ip link", "ip route")}
    sh(lab, CREATE)
    sh(lab, "docker run -d --name ca --network calico busybox sleep 1000")
    sh(lab, "docker rm -f ca")
    sh(lab, "docker network rm calico")
    assert {line: sh(lab, line) for line in ("ip link", "ip route")} == before

