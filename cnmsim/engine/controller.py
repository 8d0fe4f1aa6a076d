"""The network controller (libnetwork controller.go): drivers, IPAM, networks, endpoints, sandboxes.

Every operation either completes or leaves things as they were: a failure part way through
undoes the steps already taken (release the addresses, delete the endpoint ...), as libnetwork
does with its deferred rollbacks.

Swarm-scoped networks (overlay) are allocated by the swarm manager and *adopted* by each
host's controller (`adopt_network`): their endpoints take the address the manager gave
(`new_endpoint(net, name, ip=...)`), never local IPAM.  A sandbox whose endpoints give no
gateway gets an extra endpoint on docker_gwbridge (drivers/overlay/gwbridge.py).
"""

from __future__ import annotations

from ipaddress import IPv4Interface, ip_address
from typing import TYPE_CHECKING, Any

from cnmsim.engine import registry
from cnmsim.engine.driverapi import DriverContext, InterfaceInfo, JoinInfo
from cnmsim.engine.drivers.overlay import gwbridge
from cnmsim.engine.errors import Conflict, EngineError, Forbidden, NotFound, find_by_ref
from cnmsim.engine.ipam import netconfig
from cnmsim.engine.network import Endpoint, Network
from cnmsim.engine.sandbox import Sandbox

if TYPE_CHECKING:
    from cnmsim.engine.ipam.netconfig import IpamConf


class Controller:
    def __init__(self, ctx: DriverContext, clock: Any, reserved: Any) -> None:
        self.ctx = ctx
        self.clock = clock  # () -> simulated seconds
        self.reserved = reserved  # () -> networks IPAM must avoid (host on-link routes, nameservers)
        self.drivers: dict[str, Any] = {}
        self.ipams: dict[str, Any] = {}
        self.networks: dict[str, Network] = {}
        self.sandboxes: dict[str, Sandbox] = {}

    def new_id(self) -> str:
        return f"{self.ctx.rng.getrandbits(256):064x}"

    # ------------------------------------------------------------ plug-ins
    def driver(self, name: str) -> Any:
        if name not in self.drivers:
            cls = registry.load(registry.NETWORK_GROUP, name)
            if cls is None:
                raise NotFound(f'plugin "{name}" not found')
            self.drivers[name] = cls(self.ctx)
        return self.drivers[name]

    def ipam(self, name: str) -> Any:
        if name not in self.ipams:
            cls = registry.load(registry.IPAM_GROUP, name)
            if cls is None:
                raise NotFound(f'plugin "{name}" not found')
            if name == "default":
                self.ipams[name] = cls(local_pools=self.ctx.config.get("default-address-pools"),
                                       reserved=self.reserved)
            else:
                self.ipams[name] = cls()
        return self.ipams[name]

    # ------------------------------------------------------------ networks
    def network(self, ref: str) -> Network:
        """By full id, then name, then unique id prefix (daemon FindNetwork)."""
        return find_by_ref(list(self.networks.values()), ref, lambda n: n.name, "network {ref} not found",
                           "network {ref} is ambiguous ({n} matches found based on ID prefix)")

    def new_network(self, name: str, driver: str = "bridge", *, ipam_driver: str = "default",
                    ipam_confs: list[IpamConf] | None = None, ipam_options: dict[str, str] | None = None,
                    options: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                    internal: bool = False, attachable: bool = False, predefined: bool = False) -> Network:
        if any(n.name == name for n in self.networks.values()):
            raise Conflict(f"network with name {name} already exists")
        drv = self.driver(driver)
        net = Network(self.new_id(), name, driver, scope=drv.capability().data_scope, internal=internal,
                      attachable=attachable, created=self.clock(), ipam_driver=ipam_driver,
                      ipam_options=dict(ipam_options or {}), ipam_confs=list(ipam_confs or []),
                      options=dict(options or {}), labels=dict(labels or {}),
                      user_subnet=any(c.subnet for c in ipam_confs or []))
        if not getattr(drv, "skip_ipam", False):
            ipam = self.ipam(ipam_driver)
            wants_gw = getattr(drv, "wants_gateway", True) or any(c.gateway for c in net.ipam_confs)
            space = ipam.default_address_spaces()[0 if net.scope == "local" else 1]
            net.ipam_infos = netconfig.allocate_network(ipam, net.ipam_confs, name, net.id, wants_gw, space,
                                                        options=net.ipam_options)
            if not net.ipam_confs:
                net.ipam_confs = [netconfig.IpamConf(subnet=str(i.subnet),
                                                     gateway=str(i.gateway.ip) if i.gateway else "")
                                  for i in net.ipam_infos]
        try:
            _kernel_call(drv.create_network, net.id, name, net.options, net.ipam_infos, internal)
        except Exception:
            if net.ipam_infos:
                netconfig.release_network(self.ipam(ipam_driver), net.ipam_infos)
            raise
        self.networks[net.id] = net
        return net

    def adopt_network(self, net: Network) -> Network:
        """Register a swarm-scoped network the manager allocated (scope "global", the swarm's id,
        ipam_infos given) and create it in its driver; returns the one already here if any."""
        old = self.networks.get(net.id)
        if old is not None:
            return old
        net.extra[SWARM_IPAM] = True
        net.created = net.created or self.clock()
        _kernel_call(self.driver(net.driver).create_network, net.id, net.name, net.options,
                     net.ipam_infos, net.internal)
        self.networks[net.id] = net
        return net

    def delete_network(self, net: Network, *, force: bool = False) -> None:
        if net.predefined and not force:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        if net.endpoints:
            raise Forbidden(f"error while removing network: network {net.name} id {net.id} has active endpoints")
        self.driver(net.driver).delete_network(net.id)
        if _local_ipam(net):
            netconfig.release_network(self.ipam(net.ipam_driver), net.ipam_infos)
        del self.networks[net.id]

    # ------------------------------------------------------------ endpoints
    def new_endpoint(self, net: Network, name: str, *, ip: str | None = None,
                     aliases: list[str] | None = None, mac: str | None = None) -> Endpoint:
        ep = Endpoint(self.new_id(), name, net, aliases=list(aliases or []), requested_ip=ip)
        drv = self.driver(net.driver)
        ipam = None
        if net.extra.get(SWARM_IPAM):
            ep.address = _swarm_address(net, ip)
        elif net.ipam_infos:
            ipam = self.ipam(net.ipam_driver)
            ep.address = netconfig.allocate_endpoint(ipam, net.ipam_infos, ip, net.name, net.id)
        iface = InterfaceInfo(ep.address, mac)
        try:
            _kernel_call(drv.create_endpoint, net.id, ep.id, iface, {})
        except Exception:
            if ipam is not None and ep.address is not None:
                netconfig.release_endpoint(ipam, net.ipam_infos, str(ep.address.ip))
            raise
        ep.mac = iface.mac or ""
        net.endpoints[ep.id] = ep
        return ep

    def delete_endpoint(self, ep: Endpoint) -> None:
        net = ep.network
        if ep.sandbox is not None:
            self.leave(ep)
        self.driver(net.driver).delete_endpoint(net.id, ep.id)
        if ep.address is not None and _local_ipam(net):
            netconfig.release_endpoint(self.ipam(net.ipam_driver), net.ipam_infos, str(ep.address.ip))
        net.endpoints.pop(ep.id, None)

    # ------------------------------------------------------------ sandboxes
    def new_sandbox(self, host_mode: bool = False) -> Sandbox:
        sb = Sandbox(self.new_id(), self.ctx.kernel, host_mode=host_mode)
        self.sandboxes[sb.id] = sb
        return sb

    def delete_sandbox(self, sb: Sandbox) -> None:
        sb.deleting = True
        for ep in list(sb.endpoints):
            self.leave(ep)
        sb.destroy()
        self.sandboxes.pop(sb.id, None)

    def join(self, ep: Endpoint, sb: Sandbox) -> None:
        """endpoint.Join: the driver wires it, the sandbox takes the interface, routes follow."""
        from cnmsim.kernel import api

        drv = self.driver(ep.network.driver)
        jinfo = JoinInfo()
        _kernel_call(drv.join, ep.network.id, ep.id, sb.key, jinfo, {})
        try:
            _kernel_call(sb.add_interface, ep, jinfo.src_name, jinfo.dst_prefix)
            for r in jinfo.static_routes:
                _kernel_call(sb.ns.route_add, api.Route(dst=r.destination, via=r.next_hop, dev=ep.ifname))
        except Exception:
            sb.remove_interface(ep)
            drv.leave(ep.network.id, ep.id)
            raise
        ep.gateway = jinfo.gateway
        ep.sandbox = sb
        sb.endpoints.append(ep)
        sb.join_info[ep.id] = jinfo
        ep.network.generation += 1
        try:
            self._update_gateway(sb)
            # docker_gwbridge when no endpoint gives a gateway; load-balancer endpoints never
            # change it, except in the ingress sandbox (endpoint.go sbJoin)
            if not getattr(ep, "load_balancer", False) or getattr(sb, "ingress", False):
                gwbridge.update(self, sb)
        except Exception:
            if ep in sb.endpoints:
                self.leave(ep)
            raise

    def leave(self, ep: Endpoint) -> None:
        sb = ep.sandbox
        if sb is None:
            return
        drv = self.driver(ep.network.driver)
        sb.endpoints.remove(ep)
        if sb.gateway_ep is ep:
            drv.revoke_external_connectivity(ep.network.id, ep.id)
            ep.bindings = []
            sb.gateway_ep = None
        sb.remove_interface(ep)
        drv.leave(ep.network.id, ep.id)
        sb.join_info.pop(ep.id, None)
        ep.sandbox = None
        ep.network.generation += 1
        self._update_gateway(sb)
        if not gwbridge.in_gw_network(ep):
            gwbridge.update(self, sb)

    def _program(self, ep: Endpoint, sb: Sandbox) -> None:
        drv = self.driver(ep.network.driver)
        try:
            ep.bindings = drv.program_external_connectivity(ep.network.id, ep.id, list(sb.port_bindings), {})
        except EngineError as e:  # sandbox.go: the driver's error with the endpoint named
            raise EngineError(f"driver failed programming external connectivity on endpoint {ep.name} "
                              f"({ep.id}): {e}") from None

    def _update_gateway(self, sb: Sandbox) -> None:
        """Default route and published ports go with the gateway endpoint (ProgramExternalConnectivity).

        If the new gateway endpoint cannot publish (port taken ...), the old one is restored."""
        new, old = sb.pick_gateway(), sb.gateway_ep
        if new is old:
            return
        if old is not None:
            self.driver(old.network.driver).revoke_external_connectivity(old.network.id, old.id)
            old.bindings = []
        if new is not None:
            try:
                self._program(new, sb)
            except Exception:
                if old is not None:
                    self._program(old, sb)
                raise
        sb.gateway_ep = new
        sb.set_default_route(new)


SWARM_IPAM = "swarm_ipam"  # Network.extra flag: addresses come from the swarm manager


def _local_ipam(net: Network) -> bool:
    return bool(net.ipam_infos) and not net.extra.get(SWARM_IPAM)


def _swarm_address(net: Network, ip: str | None) -> IPv4Interface | None:
    """The manager's address for an endpoint, with the prefix of the subnet that holds it."""
    if not ip:
        return None
    try:
        if "/" in ip:
            return IPv4Interface(ip)
        addr = ip_address(ip)
    except ValueError:
        raise EngineError(f"invalid IPv4 address: {ip}") from None
    for info in net.ipam_infos:
        if addr in info.subnet:
            return IPv4Interface(f"{ip}/{info.subnet.prefixlen}")
    raise EngineError(f"no configured subnet or ip-range contain the IP address {ip}")


def _kernel_call(fn: Any, *args: Any) -> Any:
    """A netlink refusal reaches the user as the daemon's error, as libnetwork returns it."""
    from cnmsim.kernel.api import KernelError

    try:
        return fn(*args)
    except KernelError as e:
        raise EngineError(str(e).removeprefix("RTNETLINK answers: ").lower()) from None
