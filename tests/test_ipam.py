"""IPAM behaviour checked against /work/shared/facts/engine.md §2 (IPAM defaults) and the moby
sources/tests it cites; expected values come from there, not from the implementation."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnmsim.engine.ipam import (
    ALLOC_SERIAL,
    ERR_IP_ON_PREDEFINED_NETWORK,
    ERR_IP_WITHOUT_USER_SUBNET,
    GLOBAL_ADDRESS_SPACE,
    LOCAL_ADDRESS_SPACE,
    DefaultIpam,
    Ipam,
    IpamConf,
    IpamError,
    allocate_endpoint,
    allocate_network,
    confs_from_flags,
    default_bridge_conf,
    release_endpoint,
    release_network,
    validate_endpoint_ip,
    validate_ipam,
)

LOCAL = LOCAL_ADDRESS_SPACE
SERIAL = {ALLOC_SERIAL: "true"}


def new_net(ipam: DefaultIpam, *confs: IpamConf, name: str = "n", gw: bool = True,
            space: str = LOCAL):
    return allocate_network(ipam, list(confs), name, name + "-id", gw, space)


def ep(ipam: DefaultIpam, infos, ip: str | None = None, options=None, name: str = "n") -> str:
    return str(allocate_endpoint(ipam, infos, ip, name, name + "-id", options).ip)


def test_protocol_and_address_spaces():
    ipam = DefaultIpam()
    assert isinstance(ipam, Ipam)
    assert ipam.default_address_spaces() == ("LocalDefault", "GlobalDefault")


# --- 2.1 / 2.2 pools ------------------------------------------------------------------------

def test_default_local_pools_in_order_then_exhausted():
    ipam = DefaultIpam()
    got = [str(ipam.request_pool(LOCAL, None, None, {}).subnet) for _ in range(31)]
    expected = [f"172.{i}.0.0/16" for i in range(17, 32)]
    expected += [f"192.168.{16 * i}.0/20" for i in range(16)]
    assert got == expected
    with pytest.raises(IpamError) as e:
        ipam.request_pool(LOCAL, None, None, {})
    assert str(e.value) == "all predefined address pools have been fully subnetted"


def test_on_link_route_is_skipped():
    ipam = DefaultIpam(reserved=lambda: [IPv4Network("172.18.0.0/16")])
    assert str(ipam.request_pool(LOCAL, None, None, {}).subnet) == "172.17.0.0/16"
    assert str(ipam.request_pool(LOCAL, None, None, {}).subnet) == "172.19.0.0/16"


def test_nameserver_inside_a_pool_blocks_that_subnet():
    ipam = DefaultIpam(reserved=lambda: [IPv4Network("172.17.0.53/32")])
    assert str(ipam.request_pool(LOCAL, None, None, {}).subnet) == "172.18.0.0/16"


def test_released_subnets_reused_lowest_first():
    ipam = DefaultIpam()
    grants = [ipam.request_pool(LOCAL, None, None, {}) for _ in range(3)]  # .17 .18 .19
    ipam.release_pool(grants[1].pool_id)
    ipam.release_pool(grants[0].pool_id)
    got = [str(ipam.request_pool(LOCAL, None, None, {}).subnet) for _ in range(3)]
    assert got == ["172.17.0.0/16", "172.18.0.0/16", "172.20.0.0/16"]


def test_static_subnet_is_skipped_by_dynamic_allocation():
    ipam = DefaultIpam()
    ipam.request_pool(LOCAL, "172.17.0.0/16", None, {})
    assert str(ipam.request_pool(LOCAL, None, None, {}).subnet) == "172.18.0.0/16"


def test_unspecified_subnet_means_size_from_default_pools():
    ipam = DefaultIpam()
    assert str(ipam.request_pool(LOCAL, "0.0.0.0/24", None, {}).subnet) == "172.17.0.0/24"
    assert str(ipam.request_pool(LOCAL, "0.0.0.0/24", None, {}).subnet) == "172.17.1.0/24"


def test_daemon_default_network_pools_example():
    # integration/network/service_test.go::TestDaemonDefaultNetworkPools
    ipam = DefaultIpam(local_pools=[{"base": "175.30.0.0/16", "size": 16},
                                    {"base": "175.33.0.0/16", "size": 24}])
    bridge = allocate_network(ipam, [default_bridge_conf(None, None)], "bridge", "b", True, LOCAL)
    assert str(bridge[0].subnet) == "175.30.0.0/16"
    assert str(new_net(ipam, name="a")[0].subnet) == "175.33.0.0/24"
    assert str(new_net(ipam, name="b")[0].subnet) == "175.33.1.0/24"


def test_swarm_global_pools_ignore_reserved():
    ipam = DefaultIpam(reserved=lambda: [IPv4Network("10.0.0.0/24")])
    got = [str(ipam.request_pool(GLOBAL_ADDRESS_SPACE, None, None, {}).subnet) for _ in range(2)]
    assert got == ["10.0.0.0/24", "10.0.1.0/24"]  # ingress, first overlay (facts 2.5)
    custom = DefaultIpam(global_pools=[{"base": "20.20.0.0/16", "size": 24}])
    got = [str(custom.request_pool(GLOBAL_ADDRESS_SPACE, None, None, {}).subnet) for _ in range(2)]
    assert got == ["20.20.0.0/24", "20.20.1.0/24"]


def test_overlapping_static_subnet_refused():
    ipam = DefaultIpam()
    new_net(ipam, IpamConf(subnet="10.1.0.0/16"), name="a")
    with pytest.raises(IpamError) as e:
        new_net(ipam, IpamConf(subnet="10.1.2.0/24"), name="b")
    assert str(e.value) == "invalid pool request: Pool overlaps with other one on this address space"
    assert e.value.status == 403


def test_moby_46756_no_overlap_check_with_ip_range():
    ipam = DefaultIpam()
    new_net(ipam, IpamConf(subnet="10.1.0.0/16"), name="a")
    # same subnet, or an overlapping one, is accepted as soon as --ip-range is given
    b = new_net(ipam, IpamConf(subnet="10.1.0.0/16", ip_range="10.1.8.0/24"), name="b")
    c = new_net(ipam, IpamConf(subnet="10.1.4.0/24", ip_range="10.1.4.0/25"), name="c")
    assert str(b[0].subnet) == "10.1.0.0/16" and str(c[0].subnet) == "10.1.4.0/24"
    with pytest.raises(IpamError, match="Pool overlaps"):  # but not the same range twice
        new_net(ipam, IpamConf(subnet="10.1.0.0/16", ip_range="10.1.8.0/24"), name="d")


# --- 2.3 / 2.4 addresses ----------------------------------------------------------------------

def test_gateway_first_then_containers():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf())
    assert str(infos[0].subnet) == "172.17.0.0/16"
    assert infos[0].gateway == IPv4Interface("172.17.0.1/16")
    assert [ep(ipam, infos) for _ in range(2)] == ["172.17.0.2", "172.17.0.3"]
    assert allocate_endpoint(ipam, infos, None, "n", "id").network.prefixlen == 16


def test_no_gateway_when_driver_skips_it():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="192.0.2.0/24"), gw=False)
    assert infos[0].gateway is None
    assert ep(ipam, infos) == "192.0.2.1"


def test_user_gateway_honoured():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="192.0.2.0/24", gateway="192.0.2.254"))
    assert infos[0].gateway == IPv4Interface("192.0.2.254/24")
    assert ep(ipam, infos) == "192.0.2.1"


def test_released_address_reused_immediately():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.0.0.0/24"))
    addrs = [ep(ipam, infos) for _ in range(3)]  # .2 .3 .4
    release_endpoint(ipam, infos, addrs[1])
    assert ep(ipam, infos) == "10.0.0.3"  # allocator_test.go::TestRelease


def test_serial_mode_does_not_reuse_right_away_and_wraps():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.0.0.0/29"))  # .1 gw, .2-.6 usable
    assert [ep(ipam, infos, options=SERIAL) for _ in range(3)] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    release_endpoint(ipam, infos, "10.0.0.3")
    assert ep(ipam, infos, options=SERIAL) == "10.0.0.5"
    assert ep(ipam, infos, options=SERIAL) == "10.0.0.6"
    assert ep(ipam, infos, options=SERIAL) == "10.0.0.3"  # wrapped


def test_serial_sub_pool_sequence_from_moby():
    # ipams/defaultipam/allocator_test.go::TestSerializeRequestReleaseAddressFromSubPool
    ipam = DefaultIpam()
    pid = ipam.request_pool(LOCAL, "10.2.0.0/16", "10.2.2.0/24", {}).pool_id
    assert str(ipam.request_address(pid, "10.2.2.1", SERIAL).ip) == "10.2.2.1"
    uno = ipam.request_address(pid, None, SERIAL)
    assert str(uno.ip) == "10.2.2.0"
    assert str(ipam.request_address(pid, None, SERIAL).ip) == "10.2.2.2"
    ipam.release_address(pid, str(uno.ip))
    assert str(ipam.request_address(pid, None, SERIAL).ip) == "10.2.2.3"
    ipam.release_address(pid, "10.2.2.1")
    assert str(ipam.request_address(pid, None, SERIAL).ip) == "10.2.2.4"


def test_ip_range_limits_dynamic_allocation():
    # allocator_test.go::TestRequestReleaseAddressFromSubPool: the whole /24 range, .0 to .255
    ipam = DefaultIpam()
    pid = ipam.request_pool(LOCAL, "172.28.0.0/16", "172.28.30.0/24", {}).pool_id
    got = []
    with pytest.raises(IpamError, match="^no available addresses on this pool$"):
        while True:
            got.append(ipam.request_address(pid, None, {}))
    assert len(got) == 256 and str(got[0].ip) == "172.28.30.0" and str(got[-1].ip) == "172.28.30.255"
    assert all(a.network == IPv4Network("172.28.0.0/16") for a in got)


def test_ip_range_network_level():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.1.0.0/16", ip_range="10.1.5.0/24", gateway="10.1.0.1"))
    assert [ep(ipam, infos) for _ in range(2)] == ["10.1.5.0", "10.1.5.1"]
    assert ep(ipam, infos, "10.1.9.9") == "10.1.9.9"  # --ip may lie outside the range


def test_aux_address_is_reserved():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.5.0.0/24", aux_addresses={"router": "10.5.0.2"}))
    assert infos[0].aux["router"] == IPv4Interface("10.5.0.2/24")
    assert ep(ipam, infos) == "10.5.0.3"


def test_slash_31_has_two_usable_addresses():
    ipam = DefaultIpam()
    pid = ipam.request_pool(LOCAL, "10.9.0.0/31", None, {}).pool_id
    got = [str(ipam.request_address(pid, None, {}).ip) for _ in range(2)]
    assert got == ["10.9.0.0", "10.9.0.1"]
    with pytest.raises(IpamError, match="no available addresses on this pool"):
        ipam.request_address(pid, None, {})


def test_network_and_broadcast_are_reserved():
    ipam = DefaultIpam()
    pid = ipam.request_pool(LOCAL, "10.8.0.0/30", None, {}).pool_id
    assert [str(ipam.request_address(pid, None, {}).ip) for _ in range(2)] == ["10.8.0.1", "10.8.0.2"]
    for addr in ("10.8.0.0", "10.8.0.3"):
        with pytest.raises(IpamError, match="^Address already in use$"):
            ipam.request_address(pid, addr, {})


def test_fixed_cidr_example():
    # docker_cli_daemon_test.go::TestDaemonBridgeFixedCidr2: --bip 10.2.2.1/16 --fixed-cidr 10.2.2.0/24
    conf = default_bridge_conf("10.2.2.1/16", "10.2.2.0/24")
    assert (conf.subnet, conf.gateway, conf.ip_range) == ("10.2.0.0/16", "10.2.2.1", "10.2.2.0/24")
    ipam = DefaultIpam()
    infos = allocate_network(ipam, [conf], "bridge", "b", True, LOCAL)
    assert infos[0].gateway == IPv4Interface("10.2.2.1/16")
    assert [ep(ipam, infos) for _ in range(2)] == ["10.2.2.0", "10.2.2.2"]


def test_default_bridge_without_options_takes_first_pool():
    ipam = DefaultIpam()
    infos = allocate_network(ipam, [default_bridge_conf(None, None)], "bridge", "b", True, LOCAL)
    assert (str(infos[0].subnet), str(infos[0].gateway.ip)) == ("172.17.0.0/16", "172.17.0.1")
    with pytest.raises(IpamError, match="^parse bip failed: invalid CIDR address: 10.0.0.1$"):
        default_bridge_conf("10.0.0.1", None)


# --- endpoint messages --------------------------------------------------------------------------

def test_endpoint_messages():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.3.0.0/30"), name="web")  # .1 gw, .2 usable
    assert ep(ipam, infos, name="web") == "10.3.0.2"
    with pytest.raises(IpamError) as e:
        ep(ipam, infos, name="web")
    assert str(e.value) == ("no available IPv4 addresses on this network's address pools: "
                            "web (web-id)")
    with pytest.raises(IpamError, match="^Address already in use$"):
        ep(ipam, infos, "10.3.0.2")
    with pytest.raises(IpamError) as e:
        ep(ipam, infos, "10.99.0.1")
    assert str(e.value) == ("invalid address 10.99.0.1: It does not belong to any of this "
                            "network's subnets")


def test_user_ip_checks():
    with pytest.raises(IpamError) as e:
        validate_endpoint_ip("bridge", [IpamConf(subnet="172.17.0.0/16")], "172.17.0.9")
    assert ERR_IP_ON_PREDEFINED_NETWORK in str(e.value)
    with pytest.raises(IpamError) as e:
        validate_endpoint_ip("n0", [IpamConf()], "172.28.99.88")
    assert ERR_IP_WITHOUT_USER_SUBNET in str(e.value)
    validate_endpoint_ip("n1", [IpamConf(subnet="172.30.0.0/16")], "172.30.55.44")


# --- CLI pairing and API validation ----------------------------------------------------------

def test_cli_pairs_flags_with_subnets():
    confs = confs_from_flags(["10.1.0.0/16", "10.2.0.0/16"], ["10.2.3.0/24"],
                             ["10.2.0.1", "10.1.0.1"], ["a=10.1.0.5"])
    assert confs == [IpamConf("10.1.0.0/16", None, "10.1.0.1", {"a": "10.1.0.5"}),
                     IpamConf("10.2.0.0/16", "10.2.3.0/24", "10.2.0.1", {})]


@pytest.mark.parametrize("flags,message", [
    ((["10.1.0.0/16"], [], ["10.9.1.1"]), "no matching subnet for gateway 10.9.1.1"),
    ((["10.1.0.0/16"], ["10.9.0.0/24"], []), "no matching subnet for range 10.9.0.0/24"),
    (([], [], ["10.1.1.1"]), "every ip-range or gateway must have a corresponding subnet"),
    ((["10.1.0.0/16", "10.1.2.0/24"], [], []), "multiple overlapping subnet configuration is not supported"),
    ((["10.1.0.0/16", "foo"], [], []), "invalid subnet: invalid CIDR address: foo"),
    ((["10.1.0.0/16", "10.2.0.0/16"], [], ["10.1.0.1", "10.1.0.2"]),
     "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)"),
])
def test_cli_pairing_errors(flags, message):
    with pytest.raises(IpamError) as e:
        confs_from_flags(*flags)
    assert str(e.value) == message


def test_validate_ipam_messages():
    with pytest.raises(IpamError) as e:
        validate_ipam([IpamConf(subnet="10.0.0.1/24", gateway="10.9.9.9")])
    assert str(e.value) == ("invalid network config:\n"
                            "* invalid subnet 10.0.0.1/24: it should be 10.0.0.0/24\n"
                            "* invalid gateway 10.9.9.9: parent subnet 10.0.0.0/24 doesn't contain this address")
    validate_ipam([IpamConf(subnet="10.0.0.0/24", ip_range="10.0.0.128/25", gateway="10.0.0.1")])


# --- rollback ----------------------------------------------------------------------------------

@pytest.mark.parametrize("conf", [
    IpamConf(subnet="10.7.0.0/24", aux_addresses={"x": "10.8.0.1"}),  # aux outside the subnet
    IpamConf(subnet="10.7.0.0/24", gateway="10.7.0.0"),  # gateway = network address
    IpamConf(subnet="10.7.0.0/24", gateway="10.7.0.1", aux_addresses={"x": "10.7.0.1"}),
])
def test_errors_leave_nothing_allocated(conf):
    ipam = DefaultIpam()
    with pytest.raises(IpamError):
        new_net(ipam, IpamConf(subnet="10.6.0.0/24"), conf)
    assert ipam.subnets() == []
    infos = new_net(ipam, IpamConf(subnet="10.6.0.0/24"), IpamConf(subnet="10.7.0.0/24"))
    assert [str(i.gateway.ip) for i in infos] == ["10.6.0.1", "10.7.0.1"]


def test_gateway_failure_message():
    ipam = DefaultIpam()
    with pytest.raises(IpamError) as e:
        new_net(ipam, IpamConf(subnet="10.7.0.0/24", gateway="10.7.0.0"))
    assert str(e.value) == "failed to allocate gateway (10.7.0.0): Address already in use"


def test_release_network_frees_subnet():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.6.0.0/24", aux_addresses={"r": "10.6.0.9"}))
    release_network(ipam, infos)
    assert ipam.subnets() == []
    assert str(new_net(ipam, IpamConf(subnet="10.6.0.0/24"))[0].subnet) == "10.6.0.0/24"


# --- properties and scale ------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(prefix=st.integers(24, 30), serial=st.booleans(), use_range=st.booleans(),
       ops=st.lists(st.tuples(st.sampled_from(["get", "get", "pref", "rel"]), st.integers(0, 255)),
                    max_size=120))
def test_never_duplicate_never_network_or_broadcast(prefix, serial, use_range, ops):
    ipam = DefaultIpam()
    subnet = IPv4Network(f"10.50.0.0/{prefix}")
    rng = IPv4Network(f"10.50.0.0/{prefix + 1}") if use_range else None
    pid = ipam.request_pool(LOCAL, str(subnet), str(rng) if rng else None, {}).pool_id
    opts = SERIAL if serial else {}
    held: set[str] = set()
    for op, n in ops:
        try:
            if op == "get":
                addr = str(ipam.request_address(pid, None, opts).ip)
                assert rng is None or ip_address(addr) in rng
            elif op == "pref":
                addr = str(ipam.request_address(pid, str(subnet[n % subnet.num_addresses]), opts).ip)
            else:
                if held:
                    victim = sorted(held)[n % len(held)]
                    ipam.release_address(pid, victim)
                    held.discard(victim)
                continue
        except IpamError as e:
            assert str(e) in ("no available addresses on this pool", "Address already in use")
            continue
        assert addr not in held
        assert addr not in (str(subnet.network_address), str(subnet.broadcast_address))
        held.add(addr)


def test_thousand_allocations_on_a_slash_16():
    ipam = DefaultIpam()
    infos = new_net(ipam, IpamConf(subnet="10.20.0.0/16"))
    got = [allocate_endpoint(ipam, infos, None, "n", "id") for _ in range(1000)]
    assert len({a.ip for a in got}) == 1000
    assert str(got[0].ip) == "10.20.0.2" and str(got[-1].ip) == "10.20.3.233"
