"""The `cnmsim` command: run a scenario's transcript, or an interactive lab shell."""

from __future__ import annotations

import sys

import click

from cnmsim import __version__


def _echo_outcome(out, show_trace: bool) -> None:  # noqa: ANN001
    click.echo(out.step.text)
    r = out.result
    if r is not None and out.step.kind == "run":
        if r.stdout:
            click.echo(r.stdout, nl=not r.stdout.endswith("\n"))
        if r.stderr:
            click.echo(r.stderr, nl=not r.stderr.endswith("\n"))
        if show_trace and r.trace:
            click.echo(r.trace.explain())
    for f in out.failures:
        click.secho(f"  expectation failed: {f}", fg="red", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnmsim")
def main() -> None:
    """cnmsim: Docker container networking, simulated hop by hop."""


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--trace", "show_trace", is_flag=True, help="Explain the packets of each step.")
@click.option("--backend", type=click.Choice(["sim", "real"]), default="sim", show_default=True,
              help="sim: the simulated kernel; real: Linux network namespaces on this machine (root).")
def run(file: str, seed: int | None, show_trace: bool, backend: str) -> None:
    """Run a scenario's transcript and print it as a terminal would."""
    from cnmsim.scenario import Scenario, ScenarioError

    try:
        sc = Scenario.load(file)
        lab = sc.build(seed=seed, backend=backend)
    except (ScenarioError, ValueError, PermissionError) as e:
        raise click.ClickException(str(e)) from None
    failed = 0
    with lab:  # the real backend's namespaces go away at the end, on error and on Ctrl-C
        for out in sc.play(lab):
            _echo_outcome(out, show_trace)
            failed += bool(out.failures)
    if failed:
        click.secho(f"{failed} step(s) did not meet their expectations", fg="red", err=True)
        sys.exit(1)


@main.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--seed", type=int, default=0)
def shell(file: str | None, seed: int) -> None:
    """An interactive prompt: type `host-A $ ip route`, `wait 2s`, or a line for the last place."""
    from cnmsim.lab import Lab
    from cnmsim.scenario import Scenario, ScenarioError, parse_step

    if file:
        sc = Scenario.load(file)
        lab = sc.build(seed=seed)
        for out in sc.play(lab):
            _echo_outcome(out, False)
    else:
        lab = Lab(seed=seed)
        lab.add_host("host-A", address="192.168.0.2/24")
        lab.add_host("host-B", address="192.168.0.3/24")
    where = next(iter(lab.hosts), "")
    interactive = sys.stdin.isatty()
    while True:
        try:
            text = input(f"{where} $ " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            break
        text = text.strip()
        if not text:
            continue
        if text in ("exit", "quit"):
            break
        try:
            step = parse_step(text)
        except ScenarioError:
            step = parse_step(f"{where} $ {text}")
        if step.kind == "run":
            where = step.where
            r = lab.run(step.where, step.line)
            if not interactive:
                click.echo(step.text)
            click.echo(r.output, nl=False)
        else:
            lab.wait(step.seconds)


@main.command()
@click.option("--nodes", "-n", type=click.IntRange(2), required=True, help="Cluster size.")
@click.option("--config", "config", type=click.Choice(["lan", "wan", "local"]), default="lan",
              show_default=True, help="memberlist preset.")
@click.option("--loss", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Packet loss probability on every link.")
@click.option("--crash", type=click.IntRange(0), default=0, show_default=True,
              help="Random nodes to crash (at a quarter of the run, at most 10 s).")
@click.option("--duration", type=click.FloatRange(0.0, min_open=True), default=60.0,
              show_default=True, help="Simulated seconds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--lifeguard/--no-lifeguard", default=True, show_default=True,
              help="Lifeguard's local health and dynamic suspicion.")
@click.option("--join", type=click.Choice(["seed", "all"]), default="seed", show_default=True,
              help="seed: every node joins through node 0 in the first second (memberlist's join; "
                   "converged_at measures it); all: every node knows every other at t=0 (large studies).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def gossip(nodes: int, config: str, loss: float, crash: int, duration: float, seed: int,
           lifeguard: bool, join: str, as_json: bool) -> None:
    """Run one SWIM gossip study (memberlist) and print its metrics."""
    import json

    from cnmsim.swarm.gossip.study import run_study

    if crash >= nodes:
        raise click.BadParameter("must be less than --nodes", param_hint="--crash")
    r = run_study(nodes, config=config, loss=loss, crash=crash, duration=duration, seed=seed,
                  lifeguard=lifeguard, join=join)
    rec = r.as_record()
    if as_json:
        click.echo(json.dumps(rec))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"gossip study: {nodes} nodes, {config}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in rec.items():
        t.add_row(k, "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
    Console().print(t)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--skip-real-check", is_flag=True,
              help="Compare the simulator with a second simulator run instead of the real kernel "
                   "(checks determinism and the comparison itself; no root needed).")
def verify(file: str, seed: int | None, as_json: bool, skip_real_check: bool) -> None:
    """Run a scenario on the simulator and on the real kernel and compare them.

    Compared: each step's exit code, a reachability matrix (every host and container to every
    container and host address and published port, ICMP and TCP), the iptables-save of every
    namespace (counters normalised), routes and addresses. Exits 1 on any difference, 2 when the
    scenario cannot run on the real backend.
    """
    from cnmsim.scenario import ScenarioError
    from cnmsim.verify import verify as run_verify

    try:
        report = run_verify(file, seed=seed, real=not skip_real_check)
    except (ScenarioError, ValueError, PermissionError, ImportError) as e:
        click.secho(f"cnmsim verify: cannot run {file}: {e}", fg="red", err=True)
        sys.exit(2)
    except KeyboardInterrupt:  # both labs are closed by then
        click.secho("cnmsim verify: interrupted", fg="red", err=True)
        sys.exit(130)
    click.echo(report.to_json() if as_json else report.to_text(), nl=False)
    sys.exit(0 if report.ok else 1)


@main.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def clean(dry_run: bool) -> None:
    """Remove the namespaces (and /etc/netns files) a crashed real-backend run left behind."""
    try:
        from cnmsim.kernel.real.clean import clean as do_clean
        from cnmsim.kernel.real.clean import leftovers, require_root

        require_root()
    except (PermissionError, ImportError) as e:
        raise click.ClickException(str(e)) from None
    names = leftovers() if dry_run else do_clean()
    for n in names:
        click.echo(n if dry_run else f"removed {n}")
    if not names:
        click.echo("nothing to clean")
