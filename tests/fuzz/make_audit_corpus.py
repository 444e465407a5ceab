#!/usr/bin/env python3
"""Write the seed corpus of fuzz_audit (tests/fuzz/corpus/audit/): audit
logs and head files, intact and damaged in the ways audit.h names (edited,
removed, reordered, appended, torn, not canonical).  Records are written
here in the canonical form of audit.h.  Byte 0 odd: byte 1 is the head's
length and the head follows; then the log.
Usage: tests/fuzz/make_audit_corpus.py [DIR]"""
import hashlib
import os
import sys

ZERO = "0" * 64


def esc(s):
    out = []
    for b in s.encode():
        c = chr(b)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif b < 0x20 or b == 0x7f:
            out.append("\\u%04x" % b)
        else:
            out.append(None)
            out[-1] = bytes([b])
    return b"".join(x if isinstance(x, bytes) else x.encode() for x in out)


def line(seq, prev, actor="officer:alice", action="key.generate", key="kid-1",
         result="ok", detail="", time="2026-01-01T00:00:00.000Z"):
    return (b'{"seq":%d,"time":"%s","actor":"%s","action":"%s","key":"%s","result":"%s",'
            b'"detail":"%s","prev":"%s"}\n' % (seq, time.encode(), esc(actor), esc(action),
                                                esc(key), esc(result), esc(detail),
                                                prev.encode()))


def chain(records):
    """Lines of <records> (dicts of fields) chained from the start."""
    lines, prev = [], ZERO
    for i, r in enumerate(records, 1):
        ln = line(i, prev, **r)
        lines.append(ln)
        prev = hashlib.sha256(ln).hexdigest()
    return lines


def head(lines, seq=None):
    last = hashlib.sha256(lines[-1]).hexdigest() if lines else ZERO
    return b'{"seq":%d,"hash":"%s"}\n' % (len(lines) if seq is None else seq, last.encode())


def inp(log, hd=None):
    log = b"".join(log) if isinstance(log, list) else log
    if hd is None:
        return b"\x00" + log
    return b"\x01" + bytes([len(hd)]) + hd + log


def whole(records):
    """The log of <records> with its head."""
    lines = chain(records)
    return inp(lines, head(lines))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "audit")
    os.makedirs(out, exist_ok=True)
    recs = [dict(), dict(action="key.rotate", detail="next kid-2"),
            dict(actor="citizen:3f9a", action="key.sign", key="cred-7", result="denied",
                 detail='quote " backslash \\ tab\t nl\n ctl\x01 del\x7f é'),
            dict(actor="audit", action="audit.recover", key="", detail="cut 1 torn line"),
            dict(result="error:CKR_DEVICE_ERROR", time="2026-12-31T23:59:59.999Z")]
    good = chain(recs)
    two = chain(recs[:2])
    seeds = {
        "empty": inp(b""),
        "empty-head": inp(b"", head([])),
        "one": whole(recs[:1]),
        "five": whole(recs),
        "five-no-head": inp(good),
        "head-behind": inp(good, head(good[:3], 3).replace(
            hashlib.sha256(good[-1]).hexdigest().encode(),
            hashlib.sha256(good[2]).hexdigest().encode())),
        "head-ahead": inp(good[:3], head(good, 5)),
        "head-wrong-hash": inp(good, head(good)[:-3] + b'0"}\n'),
        "head-spaces": inp(good, head(good).replace(b":", b": ")),
        "head-no-newline": inp(good, head(good)[:-1]),
        "head-seq-negative": inp(good, b'{"seq":-1,"hash":"%s"}\n' % (ZERO.encode())),
        "head-upper-hex": inp(good, head(good).upper()),
        "edited-middle": inp(good[:2] + [good[2].replace(b"denied", b"ok")] + good[3:], head(good)),
        "edited-last": inp(good[:4] + [good[4].replace(b"CKR_DEVICE_ERROR", b"CKR_OK")], head(good)),
        "removed": inp(good[:2] + good[3:], head(good)),
        "reordered": inp([good[1], good[0]] + good[2:], head(good)),
        "duplicated": inp(good + good[-1:], head(good)),
        "appended": inp(good + chain(recs + [dict()])[5:], head(good)),
        "torn": inp(b"".join(good) + good[0][:40], head(good)),
        "first-prev-not-zero": inp(chain([dict()])[0].replace(ZERO.encode(), b"1" * 64), None),
        "prev-edited": inp(two[:1] + [two[1][:-4] + b'0"}\n'], head(two)),
        "seq-leading-zero": inp([good[0].replace(b'"seq":1', b'"seq":01')], None),
        "seq-zero": inp([line(0, ZERO)], None),
        "field-order": inp([good[0].replace(b'"actor":"officer:alice","action":"key.generate"',
                                            b'"action":"key.generate","actor":"officer:alice"')]),
        "extra-field": inp([good[0][:-2] + b',"x":1}\n']),
        "duplicate-name": inp([good[0][:-2] + b',"seq":1}\n']),
        "escape-upper": whole([dict(detail="\x01")]),
        "escape-slash": inp([line(1, ZERO, detail="a/b").replace(b"a/b", b"a\\/b")]),
        "not-utf8": inp([line(1, ZERO).replace(b"kid-1", b"kid-\xff")]),
        "empty-actor": inp(chain([dict(actor="")])),
        "bad-time": whole([dict(time="2026-02-30T00:00:00.000Z")]),
        "time-no-ms": inp(chain([dict(time="2026-01-01T00:00:00Z")])),
        "long-field": whole([dict(detail="d" * 1024)]),
        "too-long-field": inp(chain([dict(detail="d" * 1025)])),
        "crlf": inp([good[0][:-1] + b"\r\n"]),
        "blank-line": inp(good[:1] + [b"\n"] + good[1:], head(good)),
        "not-json": inp(b"hello\n"),
        "nul": inp(good[0].replace(b"kid-1", b"kid\x001")),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
