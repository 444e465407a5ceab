#!/usr/bin/env python3
"""Write the seed corpus of fuzz_settings (tests/fuzz/corpus/settings/):
INI files, well-formed and hostile, each optionally followed by a NUL and
--set arguments one a line.  The settings and their defaults are read from
the table in common/config.c, so a new setting gets a seed of its own.
Usage: tests/fuzz/make_settings_corpus.py [DIR]"""
import os
import re
import sys

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def table():
    """(section, name, default) of every setting, in the table's order."""
    src = open(os.path.join(TOP, "common", "config.c")).read()
    out = []
    for m in re.finditer(r'\tS\("(\w+)", "(\w+)", \w+, \w+,\s*((?:"[^"]*"\s*)+),', src):
        out.append((m.group(1), m.group(2), "".join(re.findall(r'"([^"]*)"', m.group(3)))))
    return out


def ini(pairs):
    text, sec = "", None
    for s, n, v in pairs:
        if s != sec:
            text += "[%s]\n" % s
            sec = s
        text += "%s = %s\n" % (n, v)
    return text


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "tests", "fuzz", "corpus", "settings")
    os.makedirs(out, exist_ok=True)
    settings = table()
    pool = ("[hsm.b]\nmodule = /opt/hsm/b.so\ntoken = b-token\nthreads = 4\nqueue = 64\n"
            "[hsm.c-2]\npin_file = /etc/idgate/c.pin\n")
    seeds = {
        "empty": "",
        "defaults": ini(settings),
        "pool": "[hsm]\nthreads = 2\nqueue = 256\n" + pool,
        "dpdk": "[server]\nbackend = dpdk\nlisten = 198.18.0.2:8443\n[dpdk]\nmtu = 1500\n"
                "rcvbuf = 65536\nfault = seed=7,drop=0.05,dup=0.02,reorder=0.05\n",
        "dpdk-loopback": "[server]\nbackend = dpdk\nlisten = 127.0.0.1:8443\n",
        "dpdk-ipv6": "[server]\nbackend = dpdk\nlisten = [::1]:8443\n",
        "dpdk-fault-sum": "[dpdk]\nfault = drop=0.6,dup=0.6\n",
        "dpdk-fault-nan": "[dpdk]\nfault = drop=nan\n",
        "tls13-only": "[tls]\nmin_version = 1.3\nciphersuites = TLS_AES_256_GCM_SHA384\n"
                      "groups = secp384r1\n",
        "tls12-no-suite": "[tls]\nciphersuites = TLS_AES_128_GCM_SHA256\n",
        "tls-ffdhe": "[tls]\ngroups = x25519, ffdhe2048\n",
        "tls-cbc": "[tls]\nciphersuites = TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n",
        "tls-twice": "[tls]\ngroups = x25519,X25519\n",
        "tls-empty-entry": "[tls]\nciphersuites = TLS_AES_128_GCM_SHA256,,\n",
        "key-in-hsm": "[tls]\nkey_file = hsm\ncert_file = /etc/idgate/tls.crt\n",
        "ipv6": "[server]\nlisten = [::1]:443\nadmin_listen = [::]:9090\nissuer = https://id.example\n",
        "bad-listen": "[server]\nlisten = 8443\n",
        "bad-issuer": "[server]\nissuer = http://id.example\n",
        "unknown": "[server]\nnonsense = 1\n",
        "unknown-section": "[nowhere]\nx = 1\n",
        "no-section": "workers = 2\n",
        "syntax": "[server\nworkers = 2\n",
        "no-equals": "[server]\nworkers\n",
        "negative": "[server]\nworkers = -1\nmax_conns = 4294967296\n",
        "double": "[server]\nrate_limit = 1e308\nrate_burst = -0\n",
        "bool": "[server]\nverbose = yes\n[hsm]\nsofthsm_state = 0\n",
        "continuation": "[server]\nstate_dir = /var/lib\n  idgate\n",
        "comments": "; comment\n# another\n[server] ; trailing\nworkers = 2 ; inline\n",
        "bom-crlf": "\ufeff[server]\r\nworkers = 2\r\n",
        "long-value": "[server]\nstate_dir = " + "a" * 255 + "\n",
        "too-long-value": "[server]\nstate_dir = " + "a" * 256 + "\n",
        "long-line": "[server]\nissuer = https://" + "x" * 400 + "\n",
        # inih reads 200 bytes a line: longer lines were cut in two, the
        # rest read as a line of its own (here a setting).
        "line-cut-setting": "[server]\nworkers = 2\nstate_dir = /" + "0" * 186 + "max_conns = 7\n",
        "line-cut-section": "[server]\nissuer = https://" + "x" * 182 + "[tls]\nmin_version = 1.3\n",
        "line-198": "[server]\nstate_dir = /" + "0" * 185 + "\n",
        "line-199": "[server]\nstate_dir = /" + "0" * 186 + "\n",
        "long-path": "[server]\nstate_dir = " + "d" * 250 + "\n[tls]\ncert_file = " + "c" * 250 + "\n",
        "many-hsms": "".join("[hsm.h%d]\ntoken = t%d\n" % (i, i) for i in range(10)),
        "hsm-bad-name": "[hsm.a/b]\ntoken = x\n",
        "hsm-empty-name": "[hsm.]\ntoken = x\n",
        "hsm-queue": "[hsm.b]\nqueue = 3\n",
        "hsm-unknown": "[hsm.b]\ncolour = blue\n",
        "limits": "[server]\nmax_head = 65537\nmax_body = 16777217\n[login]\nreplay_slots = 1023\n"
                  "credential_burst = 256\n",
        "zero-timeouts": "[server]\nidle_timeout_ms = 0\n",
        "env-paths": "[hsm]\npin_file = env:IDGATE_PIN\n[admin]\ntoken_file = env:IDGATE_ADMIN\n",
        "set-only": "\0server.workers=4\ntls.groups=x25519\nhsm.b.token=b\nhsm.b.queue=128",
        "set-bad": "[server]\nworkers = 2\n\0nodot=1\nserver.workers\nserver.=1\n.x=1\n"
                   "server.workers=x\nhsm.a.b.c=1\nserver." + "n" * 70 + "=1",
        "set-override": ini(settings[:5]) + "\0server.state_dir=/srv/idgate\ntls.min_version=1.3",
    }
    for s, n, d in settings:
        seeds["set-%s-%s" % (s, n)] = "[%s]\n%s = %s\n\0%s.%s=%s" % (s, n, d, s, n, d)
    for name, text in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(text.encode())


if __name__ == "__main__":
    main()
