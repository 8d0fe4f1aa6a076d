"""`docker ps|inspect|logs|port|exec|stop|kill|restart|rm|container prune` on a simulated host.

Expected text follows docker/cli 27 (cli/command/container, formatter/container.go) and moby
(container State.String, daemon/list.go, the API's container.InspectResponse): column headers
and widths, "Up 5 seconds", "Exited (137) ...", quoted commands cut at 20 characters, the
default bridge's 172.17.0.2 / 172.17.0.1 / 02:42:ac:11:00:02, and the daemon's refusals.
"""

from __future__ import annotations

import json

import pytest

from cnmsim import Lab
from cnmsim.result import Result

NGINX_CMD = '"/docker-entrypoint.…"'


@pytest.fixture
def lab() -> Lab:
    lab = Lab(seed=0)
    lab.add_host("host-A", address="192.168.0.2/24")
    return lab


def sh(lab: Lab, line: str, code: int = 0) -> Result:
    r = lab.run("host-A", line)
    assert r.exit_code == code, f"{line!r} exited {r.exit_code}:\n{r.output}"
    return r


def web(lab: Lab, *flags: str) -> str:
    """`docker run -d --name web FLAGS nginx`; the container's full id."""
    return sh(lab, f"docker run -d --name web {' '.join(flags)} nginx").stdout.strip()


# ---------------------------------------------------------------- docker ps
def test_ps_table(lab: Lab) -> None:
    cid = web(lab, "-p 8000:80")
    lab.wait(5)
    out = sh(lab, "docker ps").stdout
    assert out == (
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS"
        "                  NAMES\n"
        f"{cid[:12]}   nginx     {NGINX_CMD}   5 seconds ago   Up 5 seconds   0.0.0.0:8000->80/tcp   web\n")


def test_ps_empty_and_all(lab: Lab) -> None:
    assert sh(lab, "docker ps").stdout == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n")
    web(lab)
    sh(lab, "docker create --name later busybox")
    lab.wait(150)
    sh(lab, "docker stop web")
    lab.wait(120)
    assert sh(lab, "docker ps").stdout.count("\n") == 1  # only the header: nothing runs
    rows = sh(lab, "docker ps -a --format '{{.Names}}|{{.Status}}|{{.Ports}}|{{.RunningFor}}'").stdout
    assert rows == ("later|Created||4 minutes ago\n"  # newest first
                    "web|Exited (0) 2 minutes ago||4 minutes ago\n")


def test_ps_exposed_port_and_no_trunc(lab: Lab) -> None:
    cid = web(lab)
    out = sh(lab, "docker ps --no-trunc --format '{{.ID}} {{.Command}} {{.Ports}}'").stdout
    assert out == f"{cid} \"/docker-entrypoint.sh nginx -g 'daemon off;'\" 80/tcp\n"
    assert sh(lab, "docker ps -q").stdout == cid[:12] + "\n"
    assert sh(lab, "docker ps -q --no-trunc").stdout == cid + "\n"


def test_ps_quiet_ignores_format(lab: Lab) -> None:
    cid = web(lab)
    r = sh(lab, "docker ps -q --format '{{.Names}}'")
    assert r.stdout == cid[:12] + "\n"
    assert r.stderr == "WARNING: Ignoring custom format, because both --format and --quiet are set.\n"


def test_ps_filters_last_and_latest(lab: Lab) -> None:
    sh(lab, "docker network create petsBridge")
    web(lab, "--network petsBridge")
    sh(lab, "docker run -d --name idle -it busybox")
    sh(lab, "docker run --name once busybox echo hi")
    fmt = "--format '{{.Names}}'"
    assert sh(lab, f"docker ps {fmt}").stdout == "idle\nweb\n"
    assert sh(lab, f"docker ps -a {fmt}").stdout == "once\nidle\nweb\n"
    assert sh(lab, f"docker ps -f status=exited {fmt}").stdout == "once\n"
    assert sh(lab, f"docker ps -f network=petsBridge {fmt}").stdout == "web\n"
    assert sh(lab, f"docker ps -a -f ancestor=busybox {fmt}").stdout == "once\nidle\n"
    assert sh(lab, f"docker ps -a -f name=^/i {fmt}").stdout == "idle\n"
    assert sh(lab, f"docker ps -a -f exited=0 {fmt}").stdout == "once\n"
    assert sh(lab, f"docker ps -n 2 {fmt}").stdout == "once\nidle\n"
    assert sh(lab, f"docker ps -l {fmt}").stdout == "once\n"
    assert sh(lab, "docker ps --format '{{.Networks}} {{.State}}' -f name=web").stdout == "petsBridge running\n"


def test_ps_json_and_label(lab: Lab) -> None:
    web(lab)
    row = json.loads(sh(lab, "docker ps --format json").stdout)
    assert list(row) == sorted(row)  # a map: keys in order
    assert row["Names"] == "web" and row["State"] == "running" and row["Networks"] == "bridge"
    assert row["Command"] == NGINX_CMD and row["Ports"] == "80/tcp"
    assert sh(lab, "docker ps --format '{{.Label \"maintainer\"}}'").stdout == (
        "NGINX Docker Maintainers <docker-maint@nginx.com>\n")


def test_ps_errors(lab: Lab) -> None:
    r = sh(lab, "docker ps -f status=bogus", 1)
    assert r.stderr == "Error response from daemon: invalid filter 'status=bogus'\n"
    assert sh(lab, "docker ps -f color=red", 1).stderr == "Error response from daemon: invalid filter 'color'\n"
    r = sh(lab, "docker ps -f nothing", 125)
    assert r.stderr.startswith('invalid argument "nothing" for "-f, --filter" flag: bad format of filter')
    r = sh(lab, "docker ps extra", 1)
    assert r.stderr == ('"docker ps" accepts no arguments.\nSee \'docker ps --help\'.\n\n'
                        "Usage:  docker ps [OPTIONS]\n\nList containers\n")
    assert sh(lab, "docker container ls extra", 1).stderr.startswith('"docker container ls" accepts no arguments.')


# ---------------------------------------------------------------- docker inspect
def test_inspect_default_bridge_fields(lab: Lab) -> None:
    web(lab, "-p 8000:80")
    fmt = ("{{.State.Running}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} "
           "{{.NetworkSettings.MacAddress}} {{.NetworkSettings.IPPrefixLen}} {{.HostConfig.NetworkMode}}")
    assert sh(lab, f"docker inspect -f '{fmt}' web").stdout == (
        "true 172.17.0.2 172.17.0.1 02:42:ac:11:00:02 16 bridge\n")
    assert sh(lab, "docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web"
              ).stdout == "172.17.0.2\n"
    assert sh(lab, "docker inspect -f '{{.Name}} {{.Path}} {{json .Args}} {{.Config.Image}}' web").stdout == (
        '/web /docker-entrypoint.sh ["nginx","-g","daemon off;"] nginx\n')
    assert sh(lab, "docker inspect -f '{{json .NetworkSettings.Ports}}' web").stdout == (
        '{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8000"}]}\n')
    assert sh(lab, "docker inspect -f '{{json .HostConfig.PortBindings}}' web").stdout == (
        '{"80/tcp":[{"HostIp":"","HostPort":"8000"}]}\n')


def test_inspect_json_document(lab: Lab) -> None:
    cid = web(lab)
    out = sh(lab, "docker inspect web").stdout
    assert out.startswith('[\n    {\n        "Id": "' + cid + '",\n        "Created": "1970-01-01T00:00:00Z",\n')
    doc = json.loads(out)[0]
    assert list(doc) == ["Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
                         "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
                         "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts",
                         "Config", "NetworkSettings"]
    assert list(doc["State"]) == ["Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                                  "ExitCode", "Error", "StartedAt", "FinishedAt"]
    assert doc["State"]["FinishedAt"] == "0001-01-01T00:00:00Z" and doc["State"]["Pid"] > 0
    assert doc["Image"].startswith("sha256:") and doc["HostsPath"] == f"/var/lib/docker/containers/{cid}/hosts"
    cfg = doc["Config"]
    assert cfg["Hostname"] == cid[:12] and cfg["ExposedPorts"] == {"80/tcp": {}}
    assert cfg["Cmd"] == ["nginx", "-g", "daemon off;"] and cfg["Entrypoint"] == ["/docker-entrypoint.sh"]
    assert cfg["StopSignal"] == "SIGQUIT" and cfg["Volumes"] is None
    ns = doc["NetworkSettings"]
    assert list(ns)[:4] == ["Bridge", "SandboxID", "SandboxKey", "Ports"] and list(ns)[-1] == "Networks"
    assert ns["SandboxKey"] == "/var/run/docker/netns/" + ns["SandboxID"][:12]
    ep = ns["Networks"]["bridge"]
    assert list(ep) == ["IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "NetworkID", "EndpointID",
                        "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address",
                        "GlobalIPv6PrefixLen", "DNSNames"]
    assert ep["EndpointID"] == ns["EndpointID"] and ep["DNSNames"] is None and ep["Aliases"] is None
    net = json.loads(sh(lab, "docker network inspect bridge").stdout)[0]
    assert ep["NetworkID"] == net["Id"]


def test_inspect_user_network(lab: Lab) -> None:
    sh(lab, "docker network create petsBridge")
    cid = web(lab, "--network petsBridge --network-alias www")
    assert sh(lab, "docker inspect --format {{.NetworkSettings.Networks.petsBridge.IPAddress}} web").stdout == (
        "172.18.0.2\n")
    doc = json.loads(sh(lab, "docker inspect web").stdout)[0]
    ns = doc["NetworkSettings"]
    assert ns["IPAddress"] == "" and ns["Gateway"] == ""  # the top-level fields are the default bridge's
    ep = ns["Networks"]["petsBridge"]
    assert ep["Gateway"] == "172.18.0.1" and ep["MacAddress"] == "02:42:ac:12:00:02"
    assert ep["Aliases"] == ["www"] and ep["DNSNames"] == ["web", "www", cid[:12]]
    assert doc["HostConfig"]["NetworkMode"] == "petsBridge"


def test_inspect_stopped_and_created(lab: Lab) -> None:
    web(lab)
    lab.wait(3)
    sh(lab, "docker stop web")
    fmt = "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}} {{.State.FinishedAt}}"
    assert sh(lab, f"docker inspect -f '{fmt}' web").stdout == "exited false 0 0 1970-01-01T00:00:03Z\n"
    assert sh(lab, "docker inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}|{{json .NetworkSettings.Ports}}'"
              " web").stdout == "|{}\n"
    sh(lab, "docker create --name fresh busybox")
    assert sh(lab, "docker inspect -f '{{.State.Status}} {{.State.StartedAt}}' fresh").stdout == (
        "created 0001-01-01T00:00:00Z\n")


def test_inspect_objects_and_errors(lab: Lab) -> None:
    web(lab)
    r = sh(lab, "docker inspect -f '{{.Name}}' web bridge nope", 1)
    assert r.stdout == "/web\nbridge\n"  # a container, then a network
    assert r.stderr == "Error: No such object: nope\n"
    r = sh(lab, "docker inspect --type container bridge", 1)
    assert r.stdout == "[]\n" and r.stderr == "Error response from daemon: No such container: bridge\n"
    r = sh(lab, "docker container inspect nope", 1)
    assert r.stderr == "Error response from daemon: No such container: nope\n"
    assert sh(lab, "docker container inspect -f '{{.State.Status}}' web").stdout == "running\n"
    assert sh(lab, "docker container inspect", 1).stderr == (
        '"docker container inspect" requires at least 1 argument.\nSee \'docker container inspect --help\'.\n\n'
        "Usage:  docker container inspect [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Display detailed information on one or more containers\n")


# ---------------------------------------------------------------- docker port / logs
def test_port(lab: Lab) -> None:
    web(lab, "-p 8000:80 -p 127.0.0.1:5353:53/udp")
    assert sh(lab, "docker port web").stdout == "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8000\n"
    assert sh(lab, "docker port web 80").stdout == "0.0.0.0:8000\n"
    assert sh(lab, "docker port web 53/udp").stdout == "127.0.0.1:5353\n"
    assert sh(lab, "docker port web 81", 1).stderr == "Error: No public port '81' published for web\n"
    assert sh(lab, "docker port nope", 1).stderr == "Error response from daemon: No such container: nope\n"


def test_logs_after_curl(lab: Lab) -> None:
    web(lab, "-p 8000:80")
    lab.wait(2)
    sh(lab, "curl -s -o /dev/null http://192.168.0.2:8000/")
    r = sh(lab, "docker logs web")
    out = r.stdout.splitlines()
    assert out[0] == ("/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, "
                      "will attempt to perform configuration")
    assert out[-1].startswith("192.168.0.2 - - [01/Jan/1970:00:00:02 +0000] \"GET / HTTP/1.1\" 200 615 ")
    assert "[notice] 1#1: start worker processes" in r.stderr  # nginx's error log is stderr
    r = sh(lab, "docker logs --tail 2 web")  # the last two lines, whichever stream they were on
    assert r.stdout == out[-1] + "\n"
    assert r.stderr == "1970/01/01 00:00:00 [notice] 1#1: start worker process 30\n"
    stamped = sh(lab, "docker logs -n 1 -t web").stdout
    assert stamped.startswith("1970-01-01T00:00:02.") and stamped.endswith("Z " + out[-1] + "\n")


def test_logs_follow_ends_with_the_container(lab: Lab) -> None:
    web(lab)
    sh(lab, "docker logs -f --tail 0 web &")
    lab.wait(1)
    sh(lab, "docker stop web")
    lab.wait(1)
    job = lab.jobs[0]
    assert job.done and job.exit_code == 0
    assert job.stderr.endswith("[notice] 1#1: exit\n")


# ---------------------------------------------------------------- docker exec
def test_exec(lab: Lab) -> None:
    cid = web(lab)
    assert sh(lab, "docker exec web cat /etc/hostname").stdout == cid[:12] + "\n"
    assert sh(lab, "docker exec web hostname").stdout == cid[:12] + "\n"
    sh(lab, "docker exec web false", 1)  # the command's status is docker's
    r = sh(lab, "docker exec web nosuchtool", 127)
    assert r.stdout == ('OCI runtime exec failed: exec failed: unable to start container process: '
                        'exec: "nosuchtool": executable file not found in $PATH: unknown\n')
    sh(lab, "docker stop web")
    r = sh(lab, "docker exec web hostname", 1)
    assert r.stderr == f"Error response from daemon: container {cid} is not running\n"
    assert sh(lab, "docker exec nope hostname", 1).stderr == "Error response from daemon: No such container: nope\n"
    assert sh(lab, "docker exec web", 1).stderr.startswith('"docker exec" requires at least 2 arguments.')


def test_exec_shell(lab: Lab) -> None:
    cid = web(lab)
    assert sh(lab, "docker exec -it web sh").output == ""  # the session the transcript goes on in
    r = sh(lab, "docker exec web sh -c 'hostname && cat /etc/hostname | wc -l'")
    assert r.stdout == f"{cid[:12]}\n1\n"
    sh(lab, "docker exec web sh -c false", 1)


# ---------------------------------------------------------------- stop / kill / restart / rm / prune
def test_stop_app_is_prompt_and_exits_0(lab: Lab) -> None:
    web(lab)
    t0 = lab.now
    assert sh(lab, "docker stop web").stdout == "web\n"
    assert lab.now == t0
    assert sh(lab, "docker ps -a --format '{{.Status}}'").stdout == "Exited (0) Less than a second ago\n"
    assert sh(lab, "docker stop web").stdout == "web\n"  # stopping a stopped container is fine


def test_stop_shell_waits_10s_then_kills(lab: Lab) -> None:
    sh(lab, "docker run -dit --name box1 busybox")
    sh(lab, "docker run -d --name box2 busybox sleep 1000")
    t0 = lab.now
    assert sh(lab, "docker stop box1 box2").stdout == "box1\nbox2\n"
    assert lab.now == t0 + 10  # the two waits run side by side
    assert sh(lab, "docker ps -a --format '{{.Names}} {{.Status}}'").stdout == (
        "box2 Exited (137) Less than a second ago\nbox1 Exited (137) Less than a second ago\n")
    sh(lab, "docker start box1")
    t0 = lab.now
    sh(lab, "docker stop -t 2 box1")
    assert lab.now == t0 + 2


def test_stop_shell_form_cmd_waits(lab: Lab) -> None:
    """docker-pets' CMD is `/bin/sh -c "python app.py & python admin.py"`: sh is PID 1."""
    sh(lab, "docker run -d --name pets chrch/docker-pets:1.0")
    assert sh(lab, "docker ps --format '{{.Command}}'").stdout == '"/bin/sh -c \'python …"\n'
    t0 = lab.now
    sh(lab, "docker stop pets")
    assert lab.now == t0 + 10
    assert sh(lab, "docker inspect -f '{{.State.ExitCode}}' pets").stdout == "137\n"


def test_stop_errors_and_auto_remove(lab: Lab) -> None:
    sh(lab, "docker run -d --rm --name temp busybox sleep 100")
    r = sh(lab, "docker stop nope temp", 1)
    assert r.stdout == "temp\n" and r.stderr == "Error response from daemon: No such container: nope\n"
    assert sh(lab, "docker ps -aq").stdout == ""  # --rm: removed once stopped


def test_kill_and_restart(lab: Lab) -> None:
    web(lab)
    assert sh(lab, "docker kill web").stdout == "web\n"
    assert sh(lab, "docker inspect -f '{{.State.ExitCode}}' web").stdout == "137\n"
    assert "exit" not in sh(lab, "docker logs --tail 1 web").stderr  # SIGKILL: no shutdown notices
    r = sh(lab, "docker kill web", 1)
    cid = sh(lab, "docker inspect -f '{{.Id}}' web").stdout.strip()
    assert r.stderr == f"Error response from daemon: cannot kill container: web: container {cid} is not running\n"
    lab.wait(30)
    assert sh(lab, "docker restart web").stdout == "web\n"
    assert sh(lab, "docker ps --format '{{.Status}}'").stdout == "Up Less than a second\n"
    assert sh(lab, "docker logs web").stdout.count("Configuration complete") == 2  # the entrypoint ran again
    assert sh(lab, "docker restart nope", 1).stderr == "Error response from daemon: No such container: nope\n"


def test_rm(lab: Lab) -> None:
    web(lab)
    sh(lab, "docker run --name once busybox echo hi")
    r = sh(lab, "docker rm web once", 1)
    assert r.stdout == "once\n"
    assert r.stderr == ('Error response from daemon: cannot remove container "/web": container is running: '
                        "stop the container before removing or force remove\n")
    r = sh(lab, "docker rm -f web nope")
    assert r.stdout == "web\n" and r.stderr == "Error response from daemon: No such container: nope\n"
    assert sh(lab, "docker ps -aq").stdout == ""
    assert sh(lab, "docker rm", 1).stderr.startswith('"docker rm" requires at least 1 argument.')


def test_container_prune(lab: Lab) -> None:
    web(lab)
    cid = sh(lab, "docker create --name idle busybox").stdout.strip()
    r = sh(lab, "docker container prune -f")
    assert r.stdout == f"Deleted Containers:\n{cid}\n\nTotal reclaimed space: 0B\n"
    assert sh(lab, "docker ps -a --format '{{.Names}}'").stdout == "web\n"
    assert sh(lab, "docker container prune -f").stdout == "Total reclaimed space: 0B\n"
