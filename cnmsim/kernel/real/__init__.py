"""The real backend: the kernel api (cnmsim.kernel.api) over this machine's Linux namespaces.

`RealKernel(prefix, hostname)` is one lab host.  Its root namespace is the real namespace
`PREFIX + hostname` and every namespace created on it is `PREFIX + hostname + "." + name`, all
in /var/run/netns as `ip netns add` makes them (lab prefixes are `cnm` + 5 hex digits + `-`,
from `new_prefix()`; nothing is ever done in the machine's own root namespace).  `RealNetns`
implements each verb with rtnetlink requests (pyroute2, one IPRoute handle per namespace on a
socket opened inside it), the netfilter verbs with Debian's iptables-restore/iptables-save and
conntrack run inside the namespace, and sysctls through /proc/sys from a thread that entered it.
Records come back as the same api dataclasses the simulated kernel returns, and refusals as
`KernelError` with the text `ip` prints, so cnmsim's tools format both alike.

`probe()` tells what this kernel can do (8021q, dummy, IPVS and ESP may be missing);
`clean()` removes namespaces a crashed lab left behind; everything needs root
(`require_root()`).
"""

from cnmsim.kernel.real.clean import clean, leftovers, new_prefix, require_root
from cnmsim.kernel.real.features import Features, probe
from cnmsim.kernel.real.kernel import RealKernel
from cnmsim.kernel.real.netns import RealNetns

__all__ = ["Features", "RealKernel", "RealNetns", "clean", "leftovers", "new_prefix", "probe", "require_root"]
