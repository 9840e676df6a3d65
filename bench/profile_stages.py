#!/usr/bin/env python3
"""Shares of CPU samples per request stage, from the perf files `BENCH_PERF=dir bench/run.sh`
writes: `bench/profile_stages.py executor DIR/perf-s1-executor-*.data`,
`bench/profile_stages.py listener DIR/perf-s1-listener.data` (bench/PROFILE.md).
Each sample counts for the stage of the innermost frame that matches a marker; the listener's
scheduler markers count only when nothing more specific matched."""
import re, subprocess, sys
from collections import Counter

EXECUTOR = [
    ("SQL execute (SPI_execute_plan)", ["SPI_execute_plan"]),
    ("plan cache (prepare, lookup, account)", ["spi::cached_plan", "PlanCache", "SPI_prepare", "plan_bytes"]),
    ("set_config calls", ["session::set", "set_config_option"]),
    ("request.* values (JSON, path)", ["execute::set_request_context", "request_settings::"]),
    ("transaction commit", ["CommitTransactionCommand"]),
    ("transaction start + snapshot", ["StartTransactionCommand", "GetTransactionSnapshot", "PushActiveSnapshot"]),
    ("transaction abort", ["AbortCurrentTransaction"]),
    ("schema cache lookup", ["caches::schema"]),
    ("role check", ["execute::check_role"]),
    ("plan (SQL building)", ["plan::plan"]),
    ("api_request parse (URL grammar, headers)", ["api_request::parse_request"]),
    ("JWT", ["auth::authenticate"]),
    ("respond (result row -> HTTP)", ["respond::respond", "QueryResult::from_row"]),
    ("guc snapshot", ["guc::snapshot"]),
    ("session is_dirty scan", ["session::is_dirty"]),
    ("ipc decode/encode", ["ipc::decode_request", "ipc::encode_response", "ipc::check_response_size"]),
    ("unix socket read", ["UnixStream as std::io::Read", "ipc::read_frame", "__libc_recv"]),
    ("unix socket write", ["UnixStream as std::io::Write", "__libc_send", "ipc::write_all"]),
    ("wait for next request (epoll, scheduler)", ["WaitEventSetWait"]),
    ("notifications / config", ["process_notifications", "ProcessConfigFile"]),
    ("observe (timing, log)", ["observe::"]),
]
LISTENER = [
    ("HTTP request parse (httparse, headers)", ["read_head", "httparse"]),
    ("HTTP response encode", ["http_server::encode_response"]),
    ("TCP read", ["http_server::fill", "http_server::read_request"]),
    ("TCP write", ["http_server::write_all"]),
    ("ipc encode/decode", ["ipc::encode_request", "ipc::decode_response"]),
    ("executor hop: unix socket send (wakes the executor)", ["mio::net::uds::stream::UnixStream as std::io::Write"]),
    ("executor hop: unix socket recv", ["mio::net::uds::stream::UnixStream as std::io::Read"]),
    ("executor hop: exchange, frames", ["listener::exchange"]),
    ("queue hop (channel, oneshot, job, timer)", ["listener::forward", "listener::executor_link", "async_channel", "oneshot", "tokio::time"]),
    ("CORS / observe", ["cors::serve", "observed::"]),
    ("TCP read", ["mio::net::tcp::stream::TcpStream as std::io::Read"]),
    ("TCP write", ["mio::net::tcp::stream::TcpStream as std::io::Write"]),
]
GENERIC = [
    ("tokio scheduler / epoll wait + wake-ups", ["epoll_wait", "tokio::runtime", "tokio::task"]),
]

def stacks(path):
    out = subprocess.run(["perf", "script", "-i", path, "-F", "ip,sym"], capture_output=True, text=True).stdout
    cur = []
    for line in out.splitlines():
        if not line.strip():
            if cur:
                yield cur
            cur = []
            continue
        parts = line.strip().split(None, 1)
        cur.append(parts[1] if len(parts) > 1 else parts[0])
    if cur:
        yield cur

def main():
    kind, paths = sys.argv[1], sys.argv[2:]
    rules = EXECUTOR if kind == "executor" else LISTENER
    c, total = Counter(), 0
    for p in paths:
        for st in stacks(p):
            total += 1
            stage = None
            for frame in st:  # innermost first
                for name, markers in rules:
                    if any(m in frame for m in markers):
                        stage = name
                        break
                if stage:
                    break
            if stage is None and kind != "executor":
                for frame in st:
                    for name, markers in GENERIC:
                        if any(m in frame for m in markers):
                            stage = name
                            break
                    if stage:
                        break
            if stage is None:
                stage = "kernel/other" if any("[k]" in f or f.startswith("0xffff") for f in st[:1]) else "other"
            c[stage] += 1
    print(f"{kind}: {total} samples")
    for name, n in c.most_common():
        print(f"  {100.0*n/total:5.1f}%  {name}")

main()
