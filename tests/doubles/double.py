#!/usr/bin/env python3
"""Test doubles for Loki, Promtail, Jaeger and Grafana.

These components have no Debian/Ubuntu packages, so the machines zeta-bench
is tested on do not have them. To test that the native provider finds them
on PATH, renders their configs, starts them, waits for them, wires them to
each other and to the mock services, measures through them and stops them,
tests/e2e_observability.rs puts this script on PATH under each component's
name. It reads the config the harness rendered the way the real binary
would (the same keys, flags and environment variables) and speaks the parts
of each HTTP API that zeta-bench uses, in the real response formats (see
tests/fixtures/). It is not evidence that the real binaries accept the
rendered configs: that is what the docker provider's run with the pinned
images is for.

Standard library only. The component is the name it was invoked as.
"""

import base64
import glob
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.path.basename(sys.argv[0])
VERSION = {
    "loki": "loki, version 3.5.3-double (test double)",
    "promtail": "promtail, version 3.5.3-double (test double)",
    "jaeger": "jaeger 2.9.0-double (test double)",
    "grafana": "grafana version 12.1.1-double (test double)",
}


def die(msg):
    print(f"{NAME} (double): {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def flag(name):
    """The value of -name=V / --name=V."""
    for a in sys.argv[1:]:
        for p in (f"-{name}=", f"--{name}="):
            if a.startswith(p):
                return a[len(p):]
    return None


def flat_yaml(text):
    """The scalars of a block-style YAML document by dotted path; list
    items add no segment. Enough for the configs the harness renders."""
    out, stack = {}, []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        line = raw
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        while body.startswith("- "):
            indent += 2
            body = body[2:].lstrip()
        m = re.match(r"^([^:]+):(?:\s+(.*))?$", body)
        if not m:
            continue
        key, value = m.group(1).strip().strip("'\""), (m.group(2) or "").strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        if value and value not in ("|", ">"):
            out.setdefault(path, value.strip("'\""))
        else:
            stack.append((indent, key))
    return out


def listen_addr(host, port):
    return (host or "127.0.0.1", int(port))


class Handler(BaseHTTPRequestHandler):
    routes = {}

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else (
            json.dumps(body) if not isinstance(body, str) else body
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def dispatch(self, method):
        url = urllib.parse.urlparse(self.path)
        for (m, pattern), fn in self.routes.items():
            if m != method:
                continue
            match = re.fullmatch(pattern, url.path)
            if match:
                query = dict(urllib.parse.parse_qsl(url.query))
                try:
                    return fn(self, query, *match.groups())
                except Exception as e:  # a double answers, it does not die
                    return self.reply(500, {"error": f"double: {e!r}"})
        self.reply(404, {"error": f"double: no route {method} {url.path}"})

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")


def serve(addr, routes):
    handler = type("H", (Handler,), {"routes": routes})
    server = ThreadingHTTPServer(addr, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def metrics(component):
    return lambda h, q: h.reply(
        200, f'{component}_build_info{{version="double"}} 1\n', "text/plain; version=0.0.4"
    )


# --- Loki -----------------------------------------------------------------

def loki():
    cfg_file = flag("config.file") or die("-config.file is required")
    cfg = flat_yaml(open(cfg_file).read())
    prefix = cfg.get("common.path_prefix") or die("common.path_prefix is not set")
    os.makedirs(prefix, exist_ok=True)
    lock, entries = threading.Lock(), []

    def push(h, q):
        if h.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return h.reply(415, "double: only JSON pushes", "text/plain")
        for s in json.loads(h.body())["streams"]:
            with lock:
                for ts, line, *_ in s["values"]:
                    entries.append((dict(s["stream"]), int(ts), line))
        h.reply(204, b"")

    def matches(labels, matchers):
        for k, op, v in matchers:
            have = labels.get(k, "")
            if op == "=" and have != v:
                return False
            if op == "!=" and have == v:
                return False
            if op == "=~" and not re.fullmatch(v, have):
                return False
            if op == "!~" and re.fullmatch(v, have):
                return False
        return True

    def query_range(h, q):
        query = q.get("query", "")
        m = re.match(r"^\s*\{(.*?)\}(.*)$", query)
        if not m:
            return h.reply(400, "parse error : queries require at least one regexp or equality matcher", "text/plain")
        matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', m.group(1))
        filters = re.findall(r'\|=\s*"((?:[^"\\]|\\.)*)"', m.group(2))
        start, end = int(q.get("start", 0)), int(q.get("end", time.time_ns()))
        limit = int(q.get("limit", 100))
        forward = q.get("direction", "backward") == "forward"
        with lock:
            hits = [e for e in entries
                    if start <= e[1] < end and matches(e[0], matchers)
                    and all(f in e[2] for f in filters)]
        hits.sort(key=lambda e: e[1], reverse=not forward)
        hits = hits[:limit]
        streams = {}
        for labels, ts, line in hits:
            key = json.dumps(labels, sort_keys=True)
            streams.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ts), line])
        h.reply(200, {"status": "success", "data": {
            "resultType": "streams", "result": list(streams.values()),
            "stats": {"summary": {"totalLinesProcessed": len(hits)}}}})

    addr = listen_addr(cfg.get("server.http_listen_address"), cfg["server.http_listen_port"])
    serve(addr, {
        ("GET", "/ready"): lambda h, q: h.reply(200, "ready\n", "text/plain"),
        ("GET", "/metrics"): metrics("loki"),
        ("POST", "/loki/api/v1/push"): push,
        ("GET", "/loki/api/v1/query_range"): query_range,
    })


# --- Promtail ---------------------------------------------------------------

def promtail():
    cfg_file = flag("config.file") or die("-config.file is required")
    text = open(cfg_file).read()
    cfg = flat_yaml(text)
    push_url = cfg.get("clients.url") or die("clients[0].url is not set")
    pattern = cfg.get("scrape_configs.static_configs.labels.__path__") or die("no __path__")
    if "${" in push_url or "${" in pattern:
        die("environment references are left in the config and -config.expand-env is not set")
    # The keys of the pipeline's `labels` stage become stream labels.
    stage = "scrape_configs.pipeline_stages.labels."
    label_keys = [k[len(stage):] for k in cfg if k.startswith(stage)]
    if not label_keys:
        die("the pipeline has no labels stage")
    static = {"job": cfg.get("scrape_configs.static_configs.labels.job", "files")}
    offsets = {}

    def tail():
        while True:
            batch = {}
            for path in glob.glob(pattern):
                with open(path, "rb") as f:
                    f.seek(offsets.get(path, 0))
                    data = f.read()
                complete = data[: data.rfind(b"\n") + 1]
                offsets[path] = offsets.get(path, 0) + len(complete)
                for raw in complete.decode(errors="replace").splitlines():
                    labels = dict(static, filename=path)
                    ts = time.time_ns()
                    try:
                        obj = json.loads(raw)
                        for k in label_keys:
                            if obj.get(k) is not None:
                                labels[k] = str(obj[k])
                        t = obj.get("timestamp")
                        if isinstance(t, str):
                            ts = int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1e9)
                    except (ValueError, TypeError):
                        pass
                    key = json.dumps(labels, sort_keys=True)
                    batch.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ts), raw])
            if batch:
                req = urllib.request.Request(
                    push_url, json.dumps({"streams": list(batch.values())}).encode(),
                    {"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5).read()
            time.sleep(0.25)

    threading.Thread(target=tail, daemon=True).start()
    addr = listen_addr(cfg.get("server.http_listen_address"), cfg["server.http_listen_port"])
    serve(addr, {
        ("GET", "/ready"): lambda h, q: h.reply(200, "Ready\n", "text/plain"),
        ("GET", "/metrics"): metrics("promtail"),
    })


# --- Jaeger v2 ----------------------------------------------------------------

def jaeger():
    cfg_file = flag("config") or die("--config is required")
    cfg = flat_yaml(open(cfg_file).read())
    query = cfg.get("extensions.jaeger_query.http.endpoint") or die("no jaeger_query endpoint")
    otlp = cfg.get("receivers.otlp.protocols.http.endpoint") or die("no OTLP/HTTP endpoint")
    mport = cfg.get("service.telemetry.metrics.readers.pull.exporter.prometheus.port")
    sampling = cfg.get("extensions.remote_sampling.file.path")
    if sampling and not os.path.isfile(sampling):
        die(f"remote_sampling.file.path {sampling} does not exist")
    lock, traces, services = threading.Lock(), {}, set()

    def hex_id(s):
        return s if re.fullmatch(r"[0-9a-f]{32}", s or "") else base64.b64decode(s).hex()

    def receive(h, q):
        if h.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return h.reply(415, {"error": "double: only OTLP/HTTP JSON"})
        body = json.loads(h.body())
        with lock:
            for rs in body.get("resourceSpans", []):
                for a in rs.get("resource", {}).get("attributes", []):
                    if a["key"] == "service.name":
                        services.add(a["value"].get("stringValue", ""))
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        traces.setdefault(hex_id(span["traceId"]), []).append(
                            (rs.get("resource", {}), ss.get("scope", {}), span))
        h.reply(200, {})

    def trace(h, q, tid):
        with lock:
            spans = list(traces.get(tid.lower(), []))
        if not spans:
            return h.reply(404, {"error": {"httpCode": 404, "message": "trace not found"}})
        rss = [{"resource": r, "scopeSpans": [{"scope": s, "spans": [sp]}]} for r, s, sp in spans]
        h.reply(200, {"result": {"resourceSpans": rss}})

    def host_port(e):
        host, _, port = e.rpartition(":")
        return listen_addr(host, port)

    serve(host_port(otlp), {("POST", "/v1/traces"): receive})
    serve(host_port(query), {
        ("GET", "/"): lambda h, q: h.reply(200, "<html>Jaeger UI (double)</html>", "text/html"),
        ("GET", "/api/v3/services"): lambda h, q: h.reply(200, {"services": sorted(services)}),
        ("GET", "/api/v3/traces/([0-9a-fA-F]+)"): trace,
    })
    if mport:
        serve(("127.0.0.1", int(mport)), {("GET", "/metrics"): metrics("jaeger")})


# --- Grafana ----------------------------------------------------------------

def grafana():
    args = sys.argv[1:]
    if args[:1] == ["server"]:
        args = args[1:]
    home = args[args.index("--homepath") + 1] if "--homepath" in args else None
    if not home or not os.path.isfile(os.path.join(home, "conf/defaults.ini")):
        die(f"Grafana-server Init Failed: Could not find config defaults, make sure homepath command line parameter is set or working directory is homepath (homepath {home})")
    env = os.environ
    prov = env.get("GF_PATHS_PROVISIONING") or die("GF_PATHS_PROVISIONING is not set")
    user, password = env.get("GF_SECURITY_ADMIN_USER", "admin"), env.get("GF_SECURITY_ADMIN_PASSWORD")
    if not password:
        die("the double insists on an admin password")
    os.makedirs(env.get("GF_PATHS_DATA") or die("GF_PATHS_DATA is not set"), exist_ok=True)
    # Datasources: uid → (type, url), from the provisioned file.
    sources = {}
    text = open(os.path.join(prov, "datasources", "datasources.yml")).read()
    for item in re.split(r"\n\s*- (?=name:)", text)[1:]:
        f = dict(re.findall(r"^\s*(uid|type|url):\s*(\S+)\s*$", "name:" + item, re.M))
        if "uid" in f:
            sources[f["uid"]] = (f.get("type"), f.get("url"))
    if not any(os.scandir(os.path.join(prov, "dashboards"))):
        die("no dashboard provider is provisioned")

    def authorised(h):
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return h.headers.get("Authorization") == want

    def run(q, frm, to):
        ref = q.get("refId", "A")
        uid = (q.get("datasource") or {}).get("uid")
        kind, url = sources.get(uid, (None, None))
        if kind != "prometheus":
            return {"error": f"datasource {uid} ({kind}) is not supported by the double", "status": 400}
        if q.get("instant"):
            path = "/api/v1/query?" + urllib.parse.urlencode({"query": q["expr"], "time": to / 1000})
        else:
            step = max(int(q.get("intervalMs", 15000)) / 1000, 1)
            path = "/api/v1/query_range?" + urllib.parse.urlencode(
                {"query": q["expr"], "start": frm / 1000, "end": to / 1000, "step": step})
        try:
            with urllib.request.urlopen(url + path, timeout=30) as r:
                data = json.loads(r.read())["data"]
        except urllib.error.HTTPError as e:
            return {"error": json.loads(e.read()).get("error", str(e)), "status": 400}
        frames = []
        for s in data["result"]:
            points = s.get("values") or ([s["value"]] if "value" in s else [])
            # Grafana's frame JSON has no NaN or Inf: null, with the row
            # named in `entities`.
            values, entities = [], {}
            for i, (_, v) in enumerate(points):
                f = float(v)
                special = "NaN" if f != f else ("Inf" if f == float("inf") else
                                                ("NegInf" if f == float("-inf") else None))
                if special:
                    entities.setdefault(special, []).append(i)
                values.append(None if special else f)
            data = {"values": [[int(float(t) * 1000) for t, _ in points], values]}
            if entities:
                data["entities"] = [None, entities]
            frames.append({
                "schema": {"refId": ref, "fields": [
                    {"name": "Time", "type": "time"},
                    {"name": "Value", "type": "number", "labels": s["metric"]}]},
                "data": data})
        if not frames:
            frames = [{"schema": {"refId": ref, "fields": []}, "data": {"values": []}}]
        return {"status": 200, "frames": frames}

    def ds_query(h, q):
        if not authorised(h):
            return h.reply(401, {"message": "Unauthorized"})
        body = json.loads(h.body())
        frm, to = int(body["from"]), int(body["to"])
        h.reply(200, {"results": {q.get("refId", "A"): run(q, frm, to) for q in body["queries"]}})

    addr = listen_addr(env.get("GF_SERVER_HTTP_ADDR"), env.get("GF_SERVER_HTTP_PORT", "3000"))
    serve(addr, {
        ("GET", "/api/health"): lambda h, q: h.reply(200, {"commit": "double", "database": "ok", "version": "12.1.1-double"}),
        ("GET", "/metrics"): metrics("grafana"),
        ("POST", "/api/ds/query"): ds_query,
    })


def main():
    if any(a in ("--version", "-version", "-v") for a in sys.argv[1:]):
        print(VERSION.get(NAME, f"{NAME} (test double)"))
        return
    {"loki": loki, "promtail": promtail, "jaeger": jaeger, "grafana": grafana}.get(
        NAME, lambda: die("invoked under an unknown name"))()
    print(f"{NAME} (double): serving", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
