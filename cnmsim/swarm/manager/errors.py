"""The refusals of swarm mode, in the daemon's words (moby daemon/cluster/errors.go, swarm.go,
helpers.go; swarmkit manager/controlapi).  They are EngineErrors, so the CLI prints
"Error response from daemon: MESSAGE" and exits 1."""

from __future__ import annotations

from cnmsim.engine.errors import Conflict, EngineError, Forbidden, NotFound

NO_SWARM = "This node is not part of a swarm"
SWARM_EXISTS = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and '
                "join another one.")
JOIN_TIMEOUT = ("Timeout was reached before node joined. The attempt to join the swarm will continue in the "
                'background. Use the "docker info" command to see the current swarm status of your node.')
NOT_MANAGER = ("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
               "state. Please run this command on a manager node or promote the current node to a manager.")
NO_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
              "connect this node to swarm and try again.")
LEAVE_LAST_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. "
                      "Removing the last manager erases all current state of the swarm. Use `--force` to "
                      "ignore this message. ")
LEAVE_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. "
                 "Doing so may lose the consensus of your cluster. The only way to restore a swarm that has "
                 "lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to "
                 "suppress this message.")
BAD_TOKEN = "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"
MALFORMED_TOKEN = "invalid join token"
WORKER_NETWORK = ("Cannot create a multi-host network from a worker node. Please create the network from a "
                  "manager node.")
NOT_ATTACHABLE = ("Could not attach to network {name}: rpc error: code = PermissionDenied desc = network "
                  "{name} not manually attachable")


class SwarmError(EngineError):
    """A swarm refusal (HTTP 503 for the node-state ones, as notAvailableError)."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message, status)


def rpc(code: str, desc: str) -> str:
    """A swarmkit gRPC status as the daemon passes it on."""
    return f"rpc error: code = {code} desc = {desc}"


__all__ = ["BAD_TOKEN", "Conflict", "EngineError", "Forbidden", "JOIN_TIMEOUT", "LEAVE_LAST_MANAGER",
           "LEAVE_MANAGER", "MALFORMED_TOKEN", "NOT_ATTACHABLE", "NOT_MANAGER", "NO_MANAGER", "NO_SWARM",
           "NotFound", "SWARM_EXISTS", "SwarmError", "WORKER_NETWORK", "rpc"]
