"""What the daemon answers about containers, shaped as Go values for the CLI to format.

- `ps_row`: one `docker ps` row (container.Summary as formatter.ContainerContext shows it);
- `ps_select`: which containers `docker ps` lists, newest first (daemon/list.go filters);
- `container_json`: `docker inspect` of a container (container.InspectResponse as Docker 27,
  API 1.47, encodes it: structs in field order, maps sorted, nil slices as null).
Times come from the lab clock (seconds since the Unix epoch); Go prints them RFC 3339 with
the trailing zeros of the nanoseconds trimmed, and the zero time as 0001-01-01T00:00:00Z.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cnmsim.docker import units
from cnmsim.docker.jsonout import NIL_MAP, NIL_SLICE, GoMap, GoNil, GoStruct
from cnmsim.engine.errors import EngineError

if TYPE_CHECKING:
    from cnmsim.engine.container import Container

ZERO_TIME = "0001-01-01T00:00:00Z"
PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_RAW_FORMAT = ("container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\n"
                 "state: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\n"
                 "labels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n")
PS_HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
              "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
              "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS"}
PS_FILTERS = ("ancestor", "before", "exited", "expose", "health", "id", "isolation", "is-task", "label",
              "name", "network", "publish", "since", "status", "volume")
STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
          "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
EP_PTR = GoNil("ptr", "*network.EndpointSettings")
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
           "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "CHLD": 17, "CONT": 18,
           "STOP": 19, "TSTP": 20, "WINCH": 28}


def parse_signal(raw: str) -> int:
    """moby/sys/signal.ParseSignal: a number, or a name with or without SIG."""
    if raw.isdigit() and 0 < int(raw) < 65:
        return int(raw)
    sig = SIGNALS.get(raw.upper().removeprefix("SIG"))
    if sig is None:
        raise EngineError(f"Invalid signal: {raw}")
    return sig


def rfc3339nano(t: float | None) -> str:
    """time.Time marshalled (RFC3339Nano: trailing zeros of the fraction trimmed)."""
    if t is None:
        return ZERO_TIME
    ns = int(round(t * 1e9))
    base = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return base + (f".{frac}" if frac else "") + "Z"


def rfc3339nano_fixed(t: float) -> str:
    """jsonmessage.RFC3339NanoFixed, the `docker logs -t` stamp: always nine digits."""
    ns = int(round(t * 1e9))
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


# ---------------------------------------------------------------- what the container runs
def entry_cmd(c: Container) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) as the daemon stores them: --entrypoint drops the image's Cmd."""
    img = c.image
    entry = list(c.config.entrypoint) or list(getattr(img, "entrypoint", []) or [])
    if c.config.cmd:
        return entry, list(c.config.cmd)
    return entry, [] if c.config.entrypoint else list(getattr(img, "cmd", []) or [])


def path_args(c: Container) -> tuple[str, list[str]]:
    entry, cmd = entry_cmd(c)
    argv = entry + cmd
    return (argv[0], argv[1:]) if argv else ("", [])


def command_text(c: Container) -> str:
    """daemon/list.go: Path and the Args, each arg with a space in single quotes."""
    path, args = path_args(c)
    if not args:
        return path
    return path + " " + " ".join(f"'{a}'" if " " in a else a for a in args)


def image_ref(c: Container, trunc: bool = True) -> str:
    """The image as `docker ps` shows it: the reference the user gave, in its familiar form."""
    from cnmsim.engine.images.registry import parse_ref

    ref = c.config.image
    if not trunc:
        return ref
    name, tag, digest = parse_ref(ref)
    explicit = ref.rfind(":") > ref.rfind("/") and "@" not in ref
    return name + (f":{tag}" if explicit else "") + (f"@{digest}" if digest else "")


# ---------------------------------------------------------------- state
def state_string(c: Container) -> str:
    return c.state if c.state in STATES else "exited"


def status_text(c: Container, now: float) -> str:
    """container.State.String(): Up 5 seconds / Exited (0) 2 minutes ago / Created."""
    return units.container_status(now, running=c.running, started_at=c.started_at,
                                  finished_at=c.finished_at, exit_code=c.exit_code)


# ---------------------------------------------------------------- ports
def exposed_ports(c: Container) -> list[str]:
    """Config.ExposedPorts: the image's, --expose and every -p container port ("80/tcp")."""
    out = set(c.config.exposed) | {f"{b.container_port}/{b.proto}" for b in c.config.ports}
    return sorted(out)


def published(c: Container) -> list[Any]:
    """The -p bindings the driver programmed (host_ip, host_port filled in)."""
    eps = list(c.sandbox.endpoints) if c.sandbox is not None else list(c.endpoints.values())
    return [b for ep in eps for b in ep.bindings]  # the sandbox's: docker_gwbridge's too


def port_map(c: Container) -> GoMap:
    """NetworkSettings.Ports: exposed ports with their host bindings, null when unpublished."""
    pm = GoMap({}, "nat.PortMap", GoNil("slice", "[]nat.PortBinding"))
    if not c.running or c.sandbox is None or c.sandbox.host_mode or c.config.network_mode == "none":
        return pm
    for spec in exposed_ports(c):
        pm[spec] = GoNil("slice", "[]nat.PortBinding")
    for b in published(c):
        key = f"{b.container_port}/{b.proto}"
        if not isinstance(pm.get(key), list):
            pm[key] = []
        pm[key].append(GoStruct({"HostIp": b.host_ip, "HostPort": str(b.host_port)}))
    return GoMap(sorted(pm.items()), pm.go_type, pm.zero)


def port_summaries(c: Container) -> list[dict[str, Any]]:
    """container.Summary.Ports: {IP, PrivatePort, PublicPort, Type} per exposed port or binding."""
    out: list[dict[str, Any]] = []
    for key, binds in port_map(c).items():
        port, _, proto = key.partition("/")
        if not isinstance(binds, list):
            out.append({"IP": "", "PrivatePort": int(port), "PublicPort": 0, "Type": proto})
            continue
        out += [{"IP": b["HostIp"], "PrivatePort": int(port), "PublicPort": int(b["HostPort"]), "Type": proto}
                for b in binds]
    return out


# ---------------------------------------------------------------- networks
def network_names(c: Container) -> list[str]:
    return [r.network for r in c.net_requests]


def _endpoint(c: Container, name: str) -> Any:
    for ep in c.endpoints.values():
        if ep.network.name == name:
            return ep
    return None


def _dns_names(c: Container, net: Any, aliases: list[str]) -> Any:
    """buildEndpointDNSNames: name, aliases, short id, hostname (user-defined networks only)."""
    if net is None or not net.user_defined or net.driver in ("host", "null"):
        return NIL_SLICE
    names = [c.name, *aliases, c.short_id] + ([c.config.hostname] if c.config.hostname else [])
    return list(dict.fromkeys(names))


def endpoint_settings(d: Any, c: Container, req: Any) -> GoStruct:
    """network.EndpointSettings; the operational half is blank while the container is stopped."""
    try:
        net = d.controller.network(req.network)
    except EngineError:
        net = None
    ep = _endpoint(c, req.network)
    live = ep is not None and ep.sandbox is not None
    ipam = GoStruct({"IPv4Address": req.ip}) if req.ip else GoNil("ptr", "*network.EndpointIPAMConfig")
    return GoStruct({
        "IPAMConfig": ipam, "Links": NIL_SLICE, "Aliases": list(req.aliases) or NIL_SLICE,
        "MacAddress": ep.mac if live else (c.config.mac or ""), "DriverOpts": NIL_MAP,
        "NetworkID": net.id if net is not None else "", "EndpointID": ep.id if live else "",
        "Gateway": (ep.gateway or "") if live else "", "IPAddress": ep.ip if live else "",
        "IPPrefixLen": ep.address.network.prefixlen if live and ep.address else 0, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": _dns_names(c, net, list(req.aliases)),
    }, "*network.EndpointSettings")


def network_settings(d: Any, c: Container) -> GoStruct:
    nets = GoMap({}, "map[string]*network.EndpointSettings", EP_PTR)
    for r in sorted(c.net_requests, key=lambda r: r.network):
        nets[r.network] = endpoint_settings(d, c, r)
    bridge = nets.get("bridge")
    sb = c.sandbox if c.running else None

    def top(field: str, zero: Any) -> Any:
        return bridge[field] if bridge is not None else zero

    return GoStruct({
        "Bridge": "", "SandboxID": sb.id if sb else "", "SandboxKey": sb.path if sb else "",
        "Ports": port_map(c), "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": GoNil("slice", "[]network.Address"),
        "SecondaryIPv6Addresses": GoNil("slice", "[]network.Address"),
        "EndpointID": top("EndpointID", ""), "Gateway": top("Gateway", ""), "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": top("IPAddress", ""), "IPPrefixLen": top("IPPrefixLen", 0),
        "IPv6Gateway": "", "MacAddress": top("MacAddress", ""), "Networks": nets,
    })


# ---------------------------------------------------------------- docker ps
def labels(c: Container) -> dict[str, str]:
    return {**(getattr(c.image, "labels", {}) or {}), **c.config.labels}


def ps_row(d: Any, c: Container, trunc: bool = True, size: bool = False) -> GoStruct:
    """formatter.ContainerContext: the fields and methods a ps --format can use."""
    from cnmsim.docker.views import created_at

    now = d.lab.now
    labs = labels(c)
    rootfs = getattr(c.image, "size", 0) if size else 0
    return GoStruct({  # alphabetical: {{json .}} marshals the methods' results as a map
        "Command": units.command_column(command_text(c), trunc), "CreatedAt": created_at(int(c.created)),
        "ID": c.short_id if trunc else c.id, "Image": image_ref(c, trunc),
        "Label": lambda name: labs.get(name, ""), "Labels": ",".join(sorted(f"{k}={v}" for k, v in labs.items())),
        "LocalVolumes": "0", "Mounts": "", "Names": c.name, "Networks": ",".join(sorted(network_names(c))),
        "Ports": units.displayable_ports(port_summaries(c)), "RunningFor": units.ago(int(c.created), now),
        "Size": units.size_column(0, rootfs), "State": state_string(c), "Status": status_text(c, now),
    }, "*formatter.ContainerContext")


def _match(values: list[str], text: str) -> bool:
    """filters.Args.Match: an exact value or a regular expression found in the text."""
    for v in values:
        try:
            if v == text or re.search(v, text):
                return True
        except re.error:
            continue
    return False


def _port_filter(values: list[str], ports: list[tuple[int, str]]) -> bool:
    for v in values:
        port, _, proto = v.partition("/")
        lo, _, hi = port.partition("-")
        if any(int(lo) <= p <= int(hi or lo) and (not proto or proto == pr) for p, pr in ports):
            return True
    return False


def ps_filters(raw: list[str]) -> dict[str, list[str]]:
    """Parse and check -f values: no `=` is the CLI's flag error, unknown keys and bad
    values are the daemon's refusals."""
    from cnmsim.docker.flags import FlagError

    out: dict[str, list[str]] = {}
    for item in raw:
        k, eq, v = item.partition("=")
        if not eq:
            raise FlagError(f'invalid argument "{item}" for "-f, --filter" flag: '
                            "bad format of filter (expected name=value)")
        out.setdefault(k.strip().lower(), []).append(v)
    for k, vals in out.items():
        if k not in PS_FILTERS:
            raise EngineError(f"invalid filter '{k}'")
        for v in vals:
            if k == "status" and v not in STATES:
                raise EngineError(f"invalid filter 'status={v}'")
            if k == "exited" and not v.lstrip("-").isdigit():
                raise EngineError(f'strconv.Atoi: parsing "{v}": invalid syntax')
    return out


def _keep(d: Any, c: Container, f: dict[str, list[str]]) -> bool:
    from cnmsim.engine.images.registry import lookup

    if "name" in f and not _match(f["name"], "/" + c.name):
        return False
    if "id" in f and not _match(f["id"], c.id):
        return False
    if "status" in f and state_string(c) not in f["status"]:
        return False
    if "exited" in f and (c.running or c.started_at is None or str(c.exit_code) not in f["exited"]):
        return False
    if "label" in f:
        labs = labels(c)
        for v in f["label"]:
            k, eq, val = v.partition("=")
            if k not in labs or (eq and labs[k] != val):
                return False
    if "ancestor" in f:
        ids = {img.id for img in (lookup(v) for v in f["ancestor"]) if img is not None}
        if getattr(c.image, "id", None) not in ids:
            return False
    if "network" in f:
        nets = [(r.network, endpoint_settings(d, c, r)["NetworkID"]) for r in c.net_requests]
        if not any(v == n or (v and nid.startswith(v)) for v in f["network"] for n, nid in nets):
            return False
    if "publish" in f and not _port_filter(f["publish"], [(b.host_port, b.proto) for b in published(c)]):
        return False
    if "expose" in f:
        exp = [(int(p.partition("/")[0]), p.partition("/")[2]) for p in exposed_ports(c)]
        if not _port_filter(f["expose"], exp):
            return False
    return not ("volume" in f or ("health" in f and "none" not in f["health"])
                or ("is-task" in f and "false" not in f["is-task"]))


def ps_select(d: Any, all_: bool, limit: int, f: dict[str, list[str]]) -> list[Container]:
    """daemon/list.go: newest first; stopped ones only with -a, -n/-l, before/since or status."""
    order = list(d.containers.values())
    ctrs = [c for _, c in sorted(enumerate(order), key=lambda ic: (ic[1].created, ic[0]), reverse=True)]
    before = [d.container(v) for v in f.get("before", [])]
    since = [d.container(v) for v in f.get("since", [])]
    show_all = all_ or limit > 0 or "status" in f or bool(before or since)
    out: list[Container] = []
    for c in ctrs:
        if since and c.id == since[0].id:
            break
        if before:
            if c.id == before[0].id:
                before = []
            continue
        if limit > 0 and len(out) == limit:
            break
        if (c.running or show_all) and _keep(d, c, f):
            out.append(c)
    return out


# ---------------------------------------------------------------- docker inspect
def _pid(d: Any, c: Container) -> int:
    """State.Pid: the host PID of the main process while it runs, 0 otherwise."""
    return c.pid if c.running else 0


def host_config(d: Any, c: Container) -> GoStruct:
    cfg = c.config
    binds: dict[str, list[GoStruct]] = {}
    for b in cfg.ports:
        binds.setdefault(f"{b.container_port}/{b.proto}", []).append(
            GoStruct({"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""}))
    links = [f"/{t}:/{c.name}/{a}" for t, a in cfg.links]
    return GoStruct({
        "Binds": NIL_SLICE, "ContainerIDFile": "", "LogConfig": GoStruct({"Type": "json-file", "Config": GoMap()}),
        "NetworkMode": "bridge" if cfg.network_mode == "default" else cfg.network_mode,
        "PortBindings": GoMap(sorted(binds.items()), "nat.PortMap", GoNil("slice", "[]nat.PortBinding")),
        "RestartPolicy": GoStruct({"Name": "no", "MaximumRetryCount": 0}), "AutoRemove": cfg.auto_remove,
        "VolumeDriver": "", "VolumesFrom": NIL_SLICE, "ConsoleSize": [24, 80] if cfg.tty else [0, 0],
        "CapAdd": NIL_SLICE, "CapDrop": NIL_SLICE, "CgroupnsMode": "private", "Dns": list(cfg.dns),
        "DnsOptions": [], "DnsSearch": [], "ExtraHosts": NIL_SLICE, "GroupAdd": NIL_SLICE, "IpcMode": "private",
        "Cgroup": "", "Links": links or NIL_SLICE, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
        "PublishAllPorts": cfg.publish_all, "ReadonlyRootfs": False, "SecurityOpt": NIL_SLICE, "UTSMode": "",
        "UsernsMode": "", "ShmSize": 67108864, "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0,
        "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0,
        "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
        "Devices": [], "DeviceCgroupRules": NIL_SLICE, "DeviceRequests": NIL_SLICE, "MemoryReservation": 0,
        "MemorySwap": 0, "MemorySwappiness": GoNil("ptr", "*int64"), "OomKillDisable": GoNil("ptr", "*bool"),
        "PidsLimit": GoNil("ptr", "*int64"), "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0, "MaskedPaths": list(MASKED), "ReadonlyPaths": list(READONLY),
    }, "*container.HostConfig")


def config(c: Container, attached: bool) -> GoStruct:
    cfg, img = c.config, c.image
    entry, cmd = entry_cmd(c)
    fields: dict[str, Any] = {
        "Hostname": c.hostname, "Domainname": "", "User": "", "AttachStdin": attached and cfg.interactive,
        "AttachStdout": attached, "AttachStderr": attached}
    if exposed_ports(c):
        fields["ExposedPorts"] = GoMap({p: GoStruct({}) for p in exposed_ports(c)}, "nat.PortSet", GoStruct({}))
    vols = list(getattr(img, "volumes", []) or [])
    fields.update({
        "Tty": cfg.tty, "OpenStdin": cfg.interactive, "StdinOnce": attached and cfg.interactive,
        "Env": list(cfg.env), "Cmd": cmd or NIL_SLICE, "Image": cfg.image,
        "Volumes": GoMap({v: GoStruct({}) for v in sorted(vols)}, "map[string]struct {}") if vols else NIL_MAP,
        "WorkingDir": getattr(img, "working_dir", "") or "", "Entrypoint": entry or NIL_SLICE,
        "OnBuild": NIL_SLICE, "Labels": GoMap(sorted(labels(c).items()))})
    if getattr(img, "stop_signal", ""):
        fields["StopSignal"] = img.stop_signal
    return GoStruct(fields, "*container.Config")


def container_json(d: Any, c: Container, size: bool = False) -> GoStruct:
    """container.InspectResponse (Docker 27): ContainerJSONBase, Mounts, Config, NetworkSettings."""
    path, args = path_args(c)
    base = f"/var/lib/docker/containers/{c.id}"
    layer = hashlib.sha256(f"layer:{c.id}".encode()).hexdigest()
    lower = hashlib.sha256(f"image:{getattr(c.image, 'id', '')}".encode()).hexdigest()
    ov = "/var/lib/docker/overlay2/" + layer
    attached = bool(getattr(c, "attached", True))  # docker create attaches stdout/stderr; run -d not
    state = GoStruct({
        "Status": state_string(c), "Running": c.running, "Paused": False, "Restarting": False,
        "OOMKilled": False, "Dead": False, "Pid": _pid(d, c), "ExitCode": c.exit_code, "Error": "",
        "StartedAt": rfc3339nano(c.started_at), "FinishedAt": rfc3339nano(c.finished_at)})
    doc = GoStruct({
        "Id": c.id, "Created": rfc3339nano(c.created), "Path": path, "Args": args, "State": state,
        "Image": "sha256:" + getattr(c.image, "id", ""), "ResolvConfPath": base + "/resolv.conf",
        "HostnamePath": base + "/hostname", "HostsPath": base + "/hosts", "LogPath": f"{base}/{c.id}-json.log",
        "Name": "/" + c.name, "RestartCount": c.restarts, "Driver": "overlay2", "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "docker-default", "ExecIDs": NIL_SLICE,
        "HostConfig": host_config(d, c),
        "GraphDriver": GoStruct({"Data": GoMap({
            "LowerDir": f"{ov}-init/diff:/var/lib/docker/overlay2/{lower}/diff", "MergedDir": ov + "/merged",
            "UpperDir": ov + "/diff", "WorkDir": ov + "/work"}), "Name": "overlay2"}),
    }, "container.InspectResponse")
    if size:  # --size: SizeRw and SizeRootFs follow GraphDriver
        doc.update({"SizeRw": 0, "SizeRootFs": int(getattr(c.image, "size", 0))})
    doc.update({"Mounts": [], "Config": config(c, attached), "NetworkSettings": network_settings(d, c)})
    return doc
