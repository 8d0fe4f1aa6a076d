"""ipvsadm: the table, connections, save/restore, rates, timeouts, and its error messages."""

from __future__ import annotations

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.shell.registry import Proc, lookup
from tests.ipvs_lab import (
    RS,
    SVC,
    VIP,
    Session,
    balanced,
    dir_ns,
    director_lab,
    ipvsadm,
    sh,
    who,
)

# ---------------------------------------------------------------- ipvsadm output


def test_ipvsadm_listing_connections_and_save_formats() -> None:
    lab = director_lab()
    balanced(lab)
    assert ipvsadm(lab, "-Ln") == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        f"TCP  {VIP}:80 rr\n"
        "  -> 10.0.0.2:80                  Masq    1      0          0         \n"
        "  -> 10.0.0.3:80                  Masq    1      0          0         \n"
        "  -> 10.0.0.4:80                  Masq    1      0          0         \n")
    assert ipvsadm(lab, "-S -n") == (f"-A -t {VIP}:80 -s rr\n" + "".join(
        f"-a -t {VIP}:80 -r {a}:80 -m -w 1\n" for a in RS))
    assert ipvsadm(lab, "-S") == (f"-A -t {VIP}:http -s rr\n" + "".join(
        f"-a -t {VIP}:http -r {a}:http -m -w 1\n" for a in RS))
    s = Session(lab)
    assert s.ask() == "rs3"
    sh(lab, "client", f"nc -z -p 40000 {VIP} 80")
    lab.wait(10.5)  # 14.5 s after the session's last segment (ask() waits 4 s), 10.5 after nc's
    assert ipvsadm(lab, "-Lnc") == (
        "IPVS connection entries\n"
        "pro expire state       source             virtual            destination\n"
        f"TCP 14:45  ESTABLISHED 192.168.0.2:{s.sock.local[1]:<5}  {VIP}:80   10.0.0.4:80\n"
        f"TCP 01:49  TIME_WAIT   192.168.0.2:40000  {VIP}:80   10.0.0.3:80\n")
    assert "  -> 10.0.0.4:80                  Masq    1      1          0         \n" in ipvsadm(lab, "-Ln")
    out = ipvsadm(lab, f"-L -n -t {VIP}:80 --stats")
    assert out.startswith("Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
                          "  -> RemoteAddress:Port\n"
                          f"TCP  {VIP}:80                    2")
    assert ipvsadm(lab, "-l --timeout") == "Timeout (tcp tcpfin udp): 900 120 300\n"
    ipvsadm(lab, "--set 100 0 50")
    assert ipvsadm(lab, "-l --timeout") == "Timeout (tcp tcpfin udp): 100 120 50\n"


def test_rates_come_from_the_two_second_estimator() -> None:
    lab = director_lab()
    balanced(lab)
    for _ in range(8):
        who(lab)
    lab.wait(2)
    rate = ipvsadm(lab, "-Ln --rate").splitlines()
    assert rate[1] == "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS"
    cps = int(rate[3].split()[2])
    # 8 connections before the first tick: sample 8 << 9, average a quarter of it (1024), shown
    # as (1024 + 511) >> 10 = 1 connection per second
    assert lab.now < 4 and cps == 1
    lab.wait(120)
    assert ipvsadm(lab, "-Ln --rate").splitlines()[3].split()[2:] == ["0"] * 5


def test_errors_leave_the_table_unchanged() -> None:
    lab = director_lab()
    balanced(lab)
    before = ipvsadm(lab, "-S -n")
    cases = [
        (f"-A -t {VIP}:80 -s rr", 255, "Service already exists"),
        (f"-E -t {VIP}:81 -s rr", 255, "No such service"),
        (f"-D -t {VIP}:81", 255, "No such service"),
        (f"-a -t {VIP}:81 -r 10.0.0.2", 255, "Service not defined"),
        (f"-a -t {VIP}:80 -r 10.0.0.2:80 -m", 255, "Destination already exists"),
        (f"-e -t {VIP}:80 -r 10.0.0.9:80 -m", 255, "No such destination"),
        (f"-d -t {VIP}:80 -r 10.0.0.9:80", 255, "No such destination"),
        (f"-e -t {VIP}:80 -r 10.0.0.2:8080 -m", 255, "No such destination"),
        (f"-a -t {VIP}:80 -r 224.0.0.1:80 -m", 255,
         "Invalid operation.  Possibly wrong module version, address not unicast, ..."),
        (f"-A -t {VIP}:82 -s foo", 255, "Scheduler or persistence engine not found"),
        (f"-A -t {VIP}", 2, "Zero port specified for non-persistent service"),
        (f"-a -t {VIP}:80 -r 10.0.0.5 -w -1", 2, "illegal weight specified"),
        (f"-a -t {VIP}:80 -r 10.0.0.5 -w 70000", 2, "illegal weight specified"),
        ("-A -s rr", 2, "You need to supply the 'service-address' option for the 'add-service' command"),
        (f"-A -t {VIP}:83 -r 10.0.0.2", 2, "Illegal 'real-server' option with the 'add-service' command"),
        (f"-A -t {VIP}:83 -t {VIP}:84", 2, "multiple 'service-address' options specified"),
        (f"-A -t {VIP}:83 -L", 2, "multiple commands specified"),
        ("-L -c --stats", 2, "options conflicts in the list command"),
        ("-L -c --timeout", 2, "The option 'timeout' conflicts with the 'connection' option in the 'list' command"),
        ("-A -t 10.0.0.300:80", 2, "illegal virtual server address[:port] specified"),
        ("-A -f 0", 2, "invalid fwmark value `0' specified"),
        (f"-A -t {VIP}:85 -p 0", 2, "invalid timeout value `0' specified"),
        (f"-L -t {VIP}:81", 1, "No such service"),
        ("-Q", 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information."),
        ("-L --bogus", 255, "--bogus: unknown option"),
        ("-A -t", 255, "-t: missing argument"),
        ("-L extra", 2, "unexpected argument extra"),
    ]
    for args, code, msg in cases:
        r = sh(lab, "dir", f"ipvsadm {args}")
        assert (r.exit_code, r.stderr, r.stdout) == (code, msg + "\n", ""), args
    assert ipvsadm(lab, "-S -n") == before
    d = dir_ns(lab)
    try:
        d.ipvs_dest_add(SVC, api.IpvsDest("10.0.0.2", 80, weight=-1))
        raise AssertionError("a negative weight was accepted")
    except KernelError as e:
        assert (str(e), e.errno_name) == ("Numerical result out of range", "ERANGE")


def test_restore_clear_zero_and_the_vs_sysctls() -> None:
    lab = director_lab()
    rules = f"-A -t {VIP}:80 -s wrr -p 60 -M 255.255.255.0\n\n-a -t {VIP}:80 -r 10.0.0.2:80 -m -w 2\n"
    proc = Proc(lab, lab["h"].place.in_ns(dir_ns(lab)), ["ipvsadm", "-R"], stdin=rules)
    assert lookup("ipvsadm")(proc) == 0, proc.stderr  # type: ignore[misc]
    assert ipvsadm(lab, "-S -n") == rules.replace("\n\n", "\n")
    assert f"TCP  {VIP}:80 wrr persistent 60 mask 255.255.255.0\n" in ipvsadm(lab, "-Ln")
    assert who(lab) == "rs1"
    ipvsadm(lab, "-Z")
    assert ipvsadm(lab, "-Ln --stats --exact").splitlines()[3].split()[2:] == ["0"] * 5
    ipvsadm(lab, "-C")
    assert ipvsadm(lab, "-Ln").count("\n") == 3
    assert not dir_ns(lab).nf.registered("INPUT")  # the hooks leave with the last service
    assert sh(lab, "dir", "sysctl net.ipv4.vs.conntrack net.ipv4.vs.conn_reuse_mode").stdout == (
        "net.ipv4.vs.conntrack = 0\nnet.ipv4.vs.conn_reuse_mode = 1\n")
    assert "net.ipv4.vs.expire_nodest_conn = 0" in sh(lab, "dir", "sysctl -a").stdout
