"""A Troupe cluster whose nodes each live in their own network namespace.

Layout (for 3 nodes; the prefix and subnet are the harness's own):

    host: bridge trpbr0, 10.77.0.254/24
    node N: netns trp-nN, veth trp-vN (host side, in the bridge) <-> eth0 10.77.0.N/24
            Kafka 10.77.0.N:9092, controller 10.77.0.N:9093, HTTP 10.77.0.N:9644

The harness and its clients run on the host and reach every node through the bridge; nodes
reach each other through it too, so a node can be cut off from its peers (blackhole routes
inside the namespaces, see faults.py) while the host still reaches it.

`Cluster` is a context manager: leaving it kills every node and removes the namespaces and the
bridge, also when the run failed. `remove_stale()` clears what a crashed earlier run left.
"""

import os
import shutil
import signal
import subprocess
import time
import urllib.request

PREFIX = "trp"
BRIDGE = f"{PREFIX}br0"
SUBNET = "10.77.0"
HOST_IP = f"{SUBNET}.254"
KAFKA_PORT = 9092
CONTROLLER_PORT = 9093
HTTP_PORT = 9644


def sh(*args, check=True):
    """Runs a command (argv), returning its stdout; raises with its stderr when it fails."""
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


def netns(node_id):
    return f"{PREFIX}-n{node_id}"


def address(node_id):
    return f"{SUBNET}.{node_id}"


def remove_stale():
    """Deletes namespaces and links named with the harness's prefix (an earlier run that was
    killed before it could clean up), and kills the brokers still running in them."""
    for line in sh("ip", "netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(f"{PREFIX}-n"):
            for pid in sh("ip", "netns", "pids", name, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "delete", name, check=False)
    for line in sh("ip", "-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == BRIDGE or name.startswith(f"{PREFIX}-v"):
            sh("ip", "link", "delete", name, check=False)


class Node:
    """One `troupe serve` process in its namespace; `pid` is the broker's own (ip netns exec
    execs it), so signals reach the broker itself."""

    def __init__(self, node_id, binary, data_dir, voters, overrides):
        self.id = node_id
        self.binary = binary
        self.data_dir = data_dir
        self.voters = voters
        self.overrides = overrides
        self.proc = None
        self.log_path = os.path.join(os.path.dirname(data_dir), f"node-{node_id}.log")

    @property
    def bootstrap(self):
        return f"{address(self.id)}:{KAFKA_PORT}"

    @property
    def pid(self):
        return self.proc.pid

    def command(self):
        ip = address(self.id)
        args = ["ip", "netns", "exec", netns(self.id), self.binary, "serve",
                "--node-id", str(self.id), "--data-dir", self.data_dir,
                "--listen", f"{ip}:{KAFKA_PORT}", "--http", f"{ip}:{HTTP_PORT}",
                "--controller-listen", f"{ip}:{CONTROLLER_PORT}",
                "--controller-voters", self.voters]
        for key, value in self.overrides.items():
            args += ["--override", f"{key}={value}"]
        return args

    def start(self):
        log = open(self.log_path, "a")
        env = dict(os.environ, NO_COLOR="1", RUST_LOG=os.environ.get("RUST_LOG", "info,openraft=warn"))
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=log, env=env)
        log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def kill(self):
        """kill -9, and reap it."""
        if self.running():
            self.signal(signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def ready(self):
        try:
            url = f"http://{address(self.id)}:{HTTP_PORT}/readyz"
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.running():
                raise RuntimeError(f"node {self.id} exited; see {self.log_path}")
            if self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"node {self.id} not ready after {timeout} s; see {self.log_path}")


class Cluster:
    """`size` nodes in namespaces on one bridge, all voters of the controller quorum."""

    def __init__(self, binary, workdir, size=3, overrides=None):
        self.binary = os.path.abspath(binary)
        self.workdir = os.path.abspath(workdir)
        self.ids = list(range(1, size + 1))
        voters = ",".join(f"{i}@{address(i)}:{CONTROLLER_PORT}" for i in self.ids)
        self.nodes = {
            i: Node(i, self.binary, os.path.join(self.workdir, f"node-{i}"), voters,
                    overrides or {})
            for i in self.ids
        }

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.nodes.values())

    def __enter__(self):
        try:
            remove_stale()
            self._network()
            if os.path.exists(self.workdir):
                shutil.rmtree(self.workdir)
            os.makedirs(self.workdir)
            for n in self.nodes.values():
                n.start()
            for n in self.nodes.values():
                n.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _network(self):
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for i in self.ids:
            ns, host_end = netns(i), f"{PREFIX}-v{i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", host_end, "master", BRIDGE)
            sh("ip", "link", "set", host_end, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address(i)}/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def close(self):
        """Kills every node (SIGCONT first: a stopped process would not die until resumed) and
        removes the network."""
        for n in self.nodes.values():
            try:
                n.kill()
            except OSError:
                pass
        remove_stale()
