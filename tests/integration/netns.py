"""Network namespaces for integration tests that need a network of their own
(the DPDK backend's TAP device, crafted Ethernet frames): throwaway
namespaces named igt-<pid>-<n>, deleted at the end whatever happens, and an
idgated started inside one.

A namespace's clients run inside it in one of three ways:
  * `ns.run([...])` / `ns.popen([...])`: a command under `ip netns exec`;
  * `with ns.entered(): ...`: the calling thread itself moves into the
    namespace (setns(2)) and back; sockets made meanwhile belong to it, and
    threads started meanwhile are born in it;
  * NsServer's harness methods (admin, https, enrol, Device.login, metrics)
    enter the right namespace by themselves.
Everything here needs root.
"""
import atexit
import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time
import http.client

import harness
from harness import Server, Skip

PREFIX = "igt-"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_live = []          # namespaces this process made and has not deleted
_lock = threading.Lock()
_counter = [0]


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def _pid_alive(pid):
    """Running (a zombie, which its parent has yet to reap, is not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def unavailable():
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    try:
        r = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "ip netns unavailable: %s" % e
    if r.returncode != 0:
        return "ip netns unavailable: %s" % r.stderr.decode(errors="replace").strip()
    # can we really make one (a container may forbid it)?
    probe = "%sprobe-%d" % (PREFIX, os.getpid())
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10)
    if r.returncode != 0:
        return "cannot make a network namespace: %s" % r.stderr.decode(errors="replace").strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return None


def list_namespaces():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10)
    return [line.split()[0] for line in r.stdout.decode().splitlines() if line.strip()]


def sweep_stale(log=None):
    """Delete igt-<pid>-* namespaces whose process is gone (an earlier run
    killed before its cleanup), ending what still runs inside them.
    Returns their names."""
    gone = []
    for name in list_namespaces():
        m = re.match(re.escape(PREFIX) + r"(?:probe-)?(\d+)(?:-|$)", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        _kill_inside(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        gone.append(name)
        if log:
            log("swept stale namespace %s" % name)
    return gone


def _kill_inside(name, grace=5.0):
    """SIGTERM, then SIGKILL, every process in namespace <name>."""
    def pids():
        r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, timeout=10)
        return [int(p) for p in r.stdout.split() if int(p) != os.getpid()]
    ps = pids()
    for p in ps:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGTERM)
    deadline = time.time() + grace
    while ps and time.time() < deadline:
        time.sleep(0.1)
        ps = [p for p in ps if _pid_alive(p)]
    for p in ps:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


class Netns:
    """One throwaway network namespace with lo up.  Deleted by delete(),
    by `with`, and at exit in any case."""

    def __init__(self, tag=""):
        with _lock:
            _counter[0] += 1
            n = _counter[0]
        self.name = "%s%d-%s%d" % (PREFIX, os.getpid(), tag + "-" if tag else "", n)
        self.prefix = ["ip", "netns", "exec", self.name]
        self.alive = False

    def create(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True, timeout=10)
        with _lock:
            _live.append(self)
        self.alive = True
        self.ip("link", "set", "lo", "up")
        return self

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.delete()

    def delete(self):
        if not self.alive:
            return
        self.alive = False
        try:
            _kill_inside(self.name)
        finally:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
            with _lock:
                if self in _live:
                    _live.remove(self)

    def ip(self, *args, check=True):
        r = subprocess.run(["ip", "-n", self.name] + list(args), capture_output=True, timeout=10)
        if check and r.returncode:
            raise RuntimeError("ip -n %s %s: %s" % (self.name, " ".join(args),
                                                   r.stderr.decode(errors="replace").strip()))
        return r.stdout.decode()

    def run(self, cmd, timeout=60, check=False, **kw):
        kw.setdefault("capture_output", True)
        return subprocess.run(self.prefix + list(cmd), timeout=timeout, check=check, **kw)

    def popen(self, cmd, **kw):
        return subprocess.Popen(self.prefix + list(cmd), **kw)

    def sysctl(self, name, value):
        self.run(["sysctl", "-q", "-w", "%s=%s" % (name, value)], check=True)

    def has_link(self, ifname):
        return self.ip("link", "show", ifname, check=False).strip() != ""

    def wait_link(self, ifname, timeout=30, proc=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.has_link(ifname):
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("the process exited (%d) before %s appeared" % (proc.returncode, ifname))
            time.sleep(0.05)
        raise RuntimeError("%s did not appear in %s within %ds" % (ifname, self.name, timeout))

    def link_mac(self, ifname):
        out = self.ip("-o", "link", "show", ifname)
        m = re.search(r"link/ether ([0-9a-f:]{17})", out)
        return m.group(1)

    @contextlib.contextmanager
    def entered(self):
        """Run the calling thread inside this namespace for the block."""
        old = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            new = os.open("/run/netns/" + self.name, os.O_RDONLY)
            try:
                _setns(new)
            finally:
                os.close(new)
            try:
                yield self
            finally:
                _setns(old)
        finally:
            os.close(old)


def veth_pair(a, a_if, b, b_if):
    """A veth pair: <a_if> in namespace a, <b_if> in namespace b, both up."""
    subprocess.run(["ip", "-n", a.name, "link", "add", a_if, "type", "veth", "peer", "name", b_if,
                    "netns", b.name], check=True, capture_output=True, timeout=10)
    a.ip("link", "set", a_if, "up")
    b.ip("link", "set", b_if, "up")


def delete_all():
    for ns in list(_live):
        with contextlib.suppress(Exception):
            ns.delete()


atexit.register(delete_all)


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def exit_on_sigterm():
    """Make SIGTERM (tests/run.sh's timeout) an exit, so that finally
    blocks and atexit still delete the namespaces."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm)
        signal.signal(signal.SIGHUP, _sigterm)


class NsServer(Server):
    """An idgated started inside namespace <ns> (under `ip netns exec`),
    its admin listener on that namespace's 127.0.0.1 as usual, its TLS
    listener on <host>:<port>.  Clients reach the TLS listener from
    <client_ns> (default <ns>): the harness's client methods enter the
    right namespace themselves, so srv.enrol(), Device.login(),
    srv.metrics() work unchanged.

    backend "dpdk": dpdk.eal_args makes a TAP device <iface> in <ns>; once
    idgated answers on its admin port, the TAP gets <peer_ip>/24 and is
    brought up (again at each start: it goes with the process).  <host> is
    then the userspace stack's own address."""

    def __init__(self, ns, host="127.0.0.1", port=8443, backend="io_uring", client_ns=None,
                 eal_args=None, iface="igtap0", peer_ip="198.18.0.1", settings=None, **kw):
        s = {"server.listen": "%s:%d" % (host, port)}
        if backend == "dpdk":
            s["server.backend"] = "dpdk"
            s["dpdk.eal_args"] = eal_args
        s.update(settings or {})
        super().__init__(settings=s, **kw)
        self.ns = ns
        self.client_ns = client_ns or ns
        self.backend = backend
        self.host, self.port = host, port
        self.iface, self.peer_ip = iface, peer_ip
        self.prefix = list(ns.prefix)

    def start(self):
        with self.ns.entered():
            try:
                super().start()
            except RuntimeError as e:
                low = str(e).lower()
                if self.backend == "dpdk" and ("without dpdk" in low or "ig_no_dpdk" in low
                                               or "not built with dpdk" in low
                                               or "no dpdk support" in low):
                    self.proc = None
                    raise Skip("idgated was built without DPDK")
                raise
        self.issuer = "https://%s:%d" % (self.host, self.port)
        self.token_endpoint = self.issuer + "/oauth2/token"
        if self.backend == "dpdk":
            self.ns.wait_link(self.iface, proc=self.proc)
            self.ns.ip("addr", "replace", "%s/24" % self.peer_ip, "dev", self.iface)
            self.ns.ip("link", "set", self.iface, "up")
        return self

    def pid(self):
        return self.proc.pid if self.proc else None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def admin(self, *a, **kw):
        with self.ns.entered():
            return super().admin(*a, **kw)

    # The self-signed certificate names localhost and 127.0.0.1: clients
    # verify its chain and check the name "localhost".
    def tls_socket(self, version=None, timeout=30):
        with self.client_ns.entered():
            raw = socket.create_connection((self.host, self.port), timeout=timeout)
        return self.ssl_context(version).wrap_socket(raw, server_hostname="localhost")

    def connection(self, version=None, timeout=30):
        """A keep-alive HTTPS connection (http.client) from client_ns."""
        return NsHTTPSConnection(self, version, timeout)

    def https(self, method, path, body=None, ctype=None, headers=None, version=None):
        c = self.connection(version)
        try:
            return request(c, method, path, body, ctype, headers)
        finally:
            c.close()

    def curl(self, *args, timeout=60):
        """curl from client_ns, trusting the server's certificate; the host
        name is localhost, resolved to <host>."""
        cmd = ["curl", "-sS", "--max-time", str(timeout - 5),
               "--cacert", os.path.join(self.state, "tls.crt"),
               "--resolve", "localhost:%d:%s" % (self.port, self.host)] + list(args)
        return self.client_ns.run(cmd, timeout=timeout)

    def url(self, path):
        return "https://localhost:%d%s" % (self.port, path)


class NsHTTPSConnection(http.client.HTTPSConnection):
    """http.client's HTTPS connection whose socket is made in the server's
    client namespace and whose certificate is checked for "localhost"."""

    def __init__(self, srv, version=None, timeout=30):
        super().__init__(srv.host, srv.port, timeout=timeout, context=srv.ssl_context(version))
        self._srv = srv

    def connect(self):
        with self._srv.client_ns.entered():
            raw = socket.create_connection((self.host, self.port), self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(raw, server_hostname="localhost")


request = harness.request


def has_dpdk_backend(binary=None):
    """None when idgated knows server.backend = dpdk, else why not."""
    r = subprocess.run([binary or harness.BIN, "--help"], capture_output=True, timeout=30)
    text = (r.stdout + r.stderr).decode(errors="replace")
    if "[dpdk]" not in text and "eal_args" not in text:
        return "%s has no DPDK backend (no [dpdk] settings in --help)" % (binary or harness.BIN)
    return None
