#!/usr/bin/env python3
"""Writes seed inputs for every fuzz target from the conformance cases.

usage: seeds.py CASES_DIR OUT_DIR   (OUT_DIR/<format>/<sha1> files)

Each case's request becomes the targets' input formats (see src/lib.rs and the targets' docs).
Without PyYAML only the `path:` lines are used.
"""
import glob
import hashlib
import json
import os
import re
import sys


def load_requests(cases_dir):
    files = sorted(glob.glob(os.path.join(cases_dir, "*.yaml")))
    try:
        import yaml
    except ImportError:
        yaml = None
    reqs = []
    for f in files:
        if yaml is None:
            for line in open(f, encoding="utf-8"):
                m = re.match(r"\s*path:\s*(\S.*)$", line)
                if m:
                    reqs.append({"path": m.group(1).strip().strip("'\"")})
            continue
        for case in yaml.safe_load(open(f, encoding="utf-8")) or []:
            req = dict(case.get("request") or {})
            auth = case.get("auth")
            if isinstance(auth, dict) and "header" in auth:
                req["authorization"] = auth["header"]
            if isinstance(auth, dict) and "claims" in auth:
                req["claims"] = auth["claims"]
            if "path" in req:
                reqs.append(req)
    return reqs


def request_text(req):
    method = req.get("method", "GET")
    headers = dict(req.get("headers") or {})
    body = b""
    if "raw_body" in req:
        body = str(req["raw_body"]).encode()
    elif "body" in req:
        body = json.dumps(req["body"]).encode()
        headers.setdefault("Content-Type", "application/json")
    head = f"{method} {req['path']}\n" + "".join(f"{k}: {v}\n" for k, v in headers.items())
    return head.encode() + (b"\n" + body if body else b"")


def http_wire(req):
    method = req.get("method", "GET")
    headers = dict(req.get("headers") or {})
    body = b""
    if "raw_body" in req:
        body = str(req["raw_body"]).encode()
    elif "body" in req:
        body = json.dumps(req["body"]).encode()
    head = f"{method} {req['path']} HTTP/1.1\r\nHost: x\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def main():
    cases_dir, out = sys.argv[1], sys.argv[2]
    reqs = load_requests(cases_dir)
    # one directory per input format: query (parse_query), request (parse_request, plan,
    # respond), auth, http (http_server), pg_error
    seeds = {t: set() for t in ["query", "request", "auth", "http", "pg_error"]}
    for req in reqs:
        path = req["path"]
        query = path.split("?", 1)[1] if "?" in path else ""
        rpc = path.startswith("/rpc/") and req.get("method", "GET") in ("GET", "HEAD")
        seeds["query"].add(bytes([1 if rpc else 0]) + query.encode())
        text = request_text(req)
        seeds["request"].add(text)
        seeds["http"].add(http_wire(req))
        if "authorization" in req:
            seeds["auth"].add(b"\x00.role\n" + str(req["authorization"]).encode())
        if "claims" in req:
            claims = json.dumps(req["claims"]).encode()
            seeds["auth"].add(b"\x01.role\n" + b'{"alg":"HS256","typ":"JWT"}\n' + claims)
    # a few hand-written ones for what the cases do not show
    seeds["pg_error"].update([
        b"\x06PT402\nQuota used up\nthe free plan allows 3 projects\nupgrade the plan",
        b"\x00PT4X1\nodd status",
        b'\x02PGRST\n{"code":"APP42","message":"Project is frozen","details":"frozen since 2024","hint":"ask an admin"}\n{"status":423,"headers":{"X-Frozen":"yes"},"status_text":"Locked"}',
        b'\x02PGRST\nthis is not json\n{"status":400,"headers":{}}',
        b"\x01" + b"42501\npermission denied for table items",
        b"\x0623505\nduplicate key value violates unique constraint\nKey (id)=(1) already exists.\nh",
        b"\x0042883\nfunction xmlagg(integer) does not exist",
    ])
    seeds["auth"].update([
        b"\x01.role\n{\"alg\":\"HS256\"}\n{\"role\":\"authenticated\",\"exp\":1700003600}",
        b"\x05.app_metadata.role\n{\"alg\":\"HS256\"}\n{\"app_metadata\":{\"role\":\"x\"},\"aud\":[\"fuzz-aud\"]}",
        b"\x09.\"https://x.io/role\"[0]\n{\"alg\":\"HS256\",\"kid\":\"a\"}\n{\"https://x.io/role\":[\"r\"],\"nbf\":1,\"iat\":2}",
        b"\x02.role\nBearer a.b.c",
        b"\x00.role\nBasic dXNlcjpwYXNz",
    ])
    seeds["request"].update([
        b"GET /items?limit=2\nprefer: count=exact\nx-fuzz-total: 10\nx-fuzz-page-total: 2\nx-fuzz-result-body: [1,2]",
        b"POST /rpc/f\nx-fuzz-response-headers: [{\"X-A\":\"1\"}]\nx-fuzz-response-status: 418\nx-fuzz-result-body: {}",
        b"POST /items\nprefer: return=headers-only\nx-fuzz-page-total: 1\nx-fuzz-location: id=eq.1\n\n{\"id\":1}",
        b"PUT /items?id=eq.1\nx-fuzz-page-total: 1\nx-fuzz-inserted: 0\n\n{\"id\":1}",
    ])
    seeds["http"].update([
        b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
        b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ])
    for target, items in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for item in items:
            name = hashlib.sha1(item).hexdigest()
            with open(os.path.join(d, name), "wb") as fh:
                fh.write(item)
        print(f"{target}: {len(items)} seeds")


main()
