#!/usr/bin/env python3
"""Replays the attacks of an adversarial run against a live local runner, started as the README
starts it (embedded PostgreSQL, its own S3, a small synthetic demo), and asserts each refusal.

While the heavy attacks run (20,000 held connections, 4 unauthenticated 512 MiB PUTs, 200
schedule starts), a sampler records the runner's resident memory and thread count and the
latency of GET /health. Targets: RSS under 300 MB throughout, /health under 100 ms during and
after, nothing written outside the runner's file roots.

    python3 Tests/security/attacks.py [--bin .build/release]
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

RSS_LIMIT_MB = 300
HEALTH_LIMIT_MS = 100
results = []


def record(name, ok, observed):
    results.append((name, ok, observed))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {observed}", flush=True)


# ---------------------------------------------------------------- the runner under attack

class Runner:
    def __init__(self, binaries, root):
        self.data = tempfile.mkdtemp(prefix="movierec-attack-")
        self.root = root
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        self.process = subprocess.Popen(
            [os.path.join(binaries, "local-runner"), "--port", "0", "--s3-port", "0", "--data-dir", self.data,
             "--demo-ratings", "20000", "--no-mlflow", "--template", os.path.join(root, "template/template.yaml"), "--functions", binaries],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.data, "runner.log"), "w"), env=env, text=True)
        self.gateway = self.s3 = None
        deadline = time.time() + 600
        while time.time() < deadline and not (self.gateway and self.s3):
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit("the runner exited at start; see " + os.path.join(self.data, "runner.log"))
            if line.startswith("gateway "):
                self.gateway = urllib.parse.urlparse(line.split()[1].strip())
            if line.startswith("s3 "):
                self.s3 = urllib.parse.urlparse(line.split()[1].strip())
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        exports = subprocess.run([os.path.join(binaries, "local-runner"), "credentials", "--data-dir", self.data],
                                 capture_output=True, text=True, check=True).stdout
        values = dict(re.findall(r"export (\w+)=(\S+)", exports))
        self.credentials = Credentials(values["AWS_ACCESS_KEY_ID"].strip("'\""), values["AWS_SECRET_ACCESS_KEY"].strip("'\""))

    def request(self, method, path, body=None, headers=None, timeout=120):
        connection = http.client.HTTPConnection(self.gateway.hostname, self.gateway.port, timeout=timeout)
        data = json.dumps(body) if isinstance(body, (dict, list)) else body
        connection.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, payload, dict((k.lower(), v) for k, v in response.getheaders())

    def status(self):
        fields = {}
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Sampler(threading.Thread):
    """RSS and threads every 50 ms; GET /health every 250 ms, with its latency."""

    def __init__(self, runner):
        super().__init__(daemon=True)
        self.runner = runner
        self.running = True
        self.rss = []
        self.threads = []
        self.health = []
        self.health_failures = []

    def run(self):
        last_health = 0
        while self.running:
            rss, threads = self.runner.status()
            self.rss.append(rss)
            self.threads.append(threads)
            if time.time() - last_health > 0.25:
                last_health = time.time()
                started = time.perf_counter()
                try:
                    status, body, _ = self.runner.request("GET", "/health", timeout=10)
                    if status != 200:
                        self.health_failures.append(f"{status} {body[:120]!r}")
                except OSError as error:
                    self.health_failures.append(str(error))
                # Kept with its start, so that a call begun before an attack is not counted in it.
                self.health.append((started, (time.perf_counter() - started) * 1000))
            time.sleep(0.05)

    def window(self):
        """Marks the start of a heavy attack; returns a function that reports on it."""
        start_rss, start_failures, opened = len(self.rss), len(self.health_failures), time.perf_counter()
        before = self.runner.status()

        def report(name):
            # One call of our own at the end, so that a short attack is measured too.
            started = time.perf_counter()
            status, _, _ = self.runner.request("GET", "/health", timeout=10)
            self.health.append((started, (time.perf_counter() - started) * 1000))
            if status != 200:
                self.health_failures.append(str(status))
            rss = self.rss[start_rss:] or [self.runner.status()[0]]
            threads = self.threads[start_rss:] or [self.runner.status()[1]]
            health = sorted(ms for began, ms in self.health if began >= opened)
            failures = self.health_failures[start_failures:]
            after = self.runner.status()
            p50 = health[len(health) // 2] if health else float("nan")
            worst = health[-1] if health else float("nan")
            ok = max(rss) < RSS_LIMIT_MB and health and worst < HEALTH_LIMIT_MS and not failures
            record(f"{name}: resources", ok,
                   f"RSS {before[0]:.0f} -> max {max(rss):.0f} -> {after[0]:.0f} MB; threads {before[1]} -> max {max(threads)} -> {after[1]}; "
                   f"/health p50 {p50:.1f} ms, max {worst:.1f} ms over {len(health)} calls" + (f"; failures {failures[:3]}" if failures else ""))
        return report


# ---------------------------------------------------------------- helpers

def raw(host, port, data, timeout=5):
    """Sends bytes as they are; the whole answer (until the server closes or goes quiet)."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(data)
        answer = b""
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return answer


def status_of(answer):
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(match.group(1)) if match else None


def signed_headers(runner, method, path, body=b"", headers=None, secret=None):
    url = f"http://{runner.s3.hostname}:{runner.s3.port}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers={"Host": f"{runner.s3.hostname}:{runner.s3.port}", **(headers or {})})
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    credentials = runner.credentials if secret is None else Credentials(runner.credentials.access_key, secret)
    SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def s3_send(runner, method, path, headers, body=b""):
    connection = http.client.HTTPConnection(runner.s3.hostname, runner.s3.port, timeout=60)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if body and "Content-Length" not in headers:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body or None)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


# ---------------------------------------------------------------- the attacks

def runtime_api_takeover(runner):
    endpoints = []
    for pid in subprocess.run(["ps", "-o", "pid=", "--ppid", str(runner.process.pid)], capture_output=True, text=True).stdout.split():
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"AWS_LAMBDA_RUNTIME_API="):
                endpoints.append(entry.split(b"=", 1)[1].decode())
    if not endpoints:
        record("1 Runtime API takeover", False, "no warm worker found to attack")
        return
    host, port = endpoints[0].split(":")
    answers = [
        status_of(raw(host, int(port), f"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {endpoints[0]}\r\n\r\n".encode(), timeout=3)),
        status_of(raw(host, int(port), b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: evil.example\r\n\r\n", timeout=3)),
        status_of(raw(host, int(port), f"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: {endpoints[0]}\r\n"
                                       "Content-Length: 16\r\n\r\n{\"forged\": true}".encode(), timeout=3)),
    ]
    status, body, headers = runner.request("POST", "/predict/", {"user_id": 1, "top_n": 3})
    victim_ok = status == 200 and b"forged" not in body and headers.get("content-type", "").startswith("application/json")
    record("1 Runtime API takeover", answers == [403, 403, 403] and victim_ok,
           f"{len(endpoints)} worker endpoints; next / foreign Host / forged answer -> {answers}; the victim's /predict/ -> {status}")


def schedule_flood(runner, sampler):
    report = sampler.window()
    before = json.loads(runner.request("GET", "/stats")[1])["ratings"]
    codes = [runner.request("POST", "/schedules/nightly/run")[0] for _ in range(200)]
    deadline = time.time() + 900
    while time.time() < deadline:
        runs = json.loads(runner.request("GET", "/schedules/nightly/runs")[1])["runs"]
        if runs and runs[0]["status"] != "running":
            break
        time.sleep(1)
    after = json.loads(runner.request("GET", "/stats")[1])["ratings"]
    counts = {code: codes.count(code) for code in sorted(set(codes))}
    record("2 200 schedule starts", codes.count(202) == 1 and set(codes) <= {202, 409, 429} and after - before <= 20000,
           f"answers {counts}; ratings written {after - before}; run {runs[0]['status'] if runs else '?'}")
    report("2 200 schedule starts")


def file_system(runner):
    outside = tempfile.mkdtemp(prefix="movierec-victim-")
    victim = os.path.join(outside, "victim")
    with open(victim, "w") as file:
        file.write("precious\n")
    target = os.path.join(tempfile.gettempdir(), f"movierec-escape-{os.getpid()}")
    cases = []
    cases.append(("relative escape", runner.request("POST", "/ingest/synthesize", {"output": "../../../" + target.lstrip("/"), "ratings": 100})))
    cases.append(("absolute outside", runner.request("POST", "/ingest/synthesize", {"output": target, "ratings": 100})))
    cases.append(("existing directory", runner.request("POST", "/ingest/synthesize", {"output": os.path.join(runner.data, "s3"), "ratings": 100})))
    link = os.path.join(runner.data, "link-out")
    os.symlink(outside, link)
    cases.append(("through a symlinked folder", runner.request("POST", "/ingest/synthesize", {"output": link + "/new", "ratings": 100})))
    planted = os.path.join(runner.data, "planted")
    os.mkdir(planted)
    os.symlink(victim, os.path.join(planted, "ratings.csv"))
    cases.append(("folder with a planted symlink", runner.request("POST", "/ingest/synthesize", {"output": planted, "ratings": 100})))
    refused = all(status in (400, 403, 409) for _, (status, _, _) in cases)
    untouched = open(victim).read() == "precious\n" and not os.path.exists(target) and os.listdir(outside) == ["victim"]
    record("3 synthesize writes anywhere", refused and untouched,
           "; ".join(f"{name} -> {status}" for name, (status, _, _) in cases) + f"; outside the roots untouched: {untouched}")
    probes = {path: runner.request("POST", "/ingest", {"source": path}) for path in ["/etc", "/root/.ssh", "/no/such/dir"]}
    messages = {json.loads(body)["error"]["message"].replace(path, "PATH") for path, (_, body, _) in probes.items()}
    statuses = {status for status, _, _ in probes.values()}
    record("3 import reads any directory", statuses == {403} and len(messages) == 1,
           f"/etc, /root/.ssh, /no/such/dir -> {sorted(statuses)}, {len(messages)} distinct message(s): {next(iter(messages))[:90]}")
    shutil.rmtree(outside)


def s3_big_unauthenticated(runner, sampler):
    report = sampler.window()
    answers = []

    def put(index):
        connection = socket.create_connection((runner.s3.hostname, runner.s3.port), timeout=30)
        connection.sendall(f"PUT /movierec-artifacts/big-{index} HTTP/1.1\r\nHost: {runner.s3.hostname}:{runner.s3.port}\r\n"
                           f"Content-Length: {512 << 20}\r\n\r\n".encode())
        block = b"\0" * (1 << 20)
        try:
            for _ in range(512):
                connection.sendall(block)
        except OSError:
            pass
        try:
            answers.append(status_of(connection.recv(65536)))
        except OSError as error:
            answers.append(str(error))
        connection.close()
    started = time.time()
    workers = [threading.Thread(target=put, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    record("4 4 x 512 MiB unauthenticated PUTs", answers == [403] * 4, f"answers {answers} in {time.time() - started:.1f} s")
    report("4 4 x 512 MiB unauthenticated PUTs")


def s3_unsigned_headers(runner):
    path = "/movierec-artifacts/replayed"
    headers = signed_headers(runner, "PUT", path, b"hello")
    first = s3_send(runner, "PUT", path, headers, b"hello")
    replay = dict(headers, **{"x-amz-meta-evil": "1", "x-amz-website-redirect-location": "http://evil.example/"})
    second = s3_send(runner, "PUT", path, replay, b"hello")
    record("5 unsigned x-amz-* headers", first[0] == 200 and second[0] == 403 and b"HeadersNotSigned" in second[1],
           f"signed PUT -> {first[0]}; replayed with unsigned x-amz-meta-evil, x-amz-website-redirect-location -> {second[0]}")


def s3_multipart_parts(runner):
    path = "/movierec-artifacts/many-parts"
    status, body = s3_send(runner, "POST", path + "?uploads", signed_headers(runner, "POST", path + "?uploads"))
    upload = re.search(rb"<UploadId>([^<]+)</UploadId>", body).group(1).decode()
    timings = []
    for parts in (16_000, 64_000, 200_000):
        xml = ("<CompleteMultipartUpload>" + "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>\"{'0' * 32}\"</ETag></Part>"
                                                     for n in range(1, parts + 1)) + "</CompleteMultipartUpload>").encode()
        query = f"{path}?uploadId={upload}"
        started = time.perf_counter()
        status, _ = s3_send(runner, "POST", query, signed_headers(runner, "POST", query, xml), xml)
        timings.append((parts, status, time.perf_counter() - started))
    record("6 CompleteMultipartUpload parts", all(status == 400 and seconds < 1.5 for _, status, seconds in timings),
           "; ".join(f"{parts} parts -> {status} in {seconds:.2f} s" for parts, status, seconds in timings))


def s3_wrong_secret(runner):
    cpu = runner.cpu_seconds()
    names = [f"x-h{i}" for i in range(8000)]
    head = f"PUT /movierec-artifacts/k HTTP/1.1\r\nHost: {runner.s3.hostname}:{runner.s3.port}\r\n" + "".join(f"{n}: v\r\n" for n in names)
    head += ("Authorization: AWS4-HMAC-SHA256 Credential=" + runner.credentials.access_key + "/20260101/us-east-1/s3/aws4_request, "
             "SignedHeaders=host;" + ";".join(names) + ", Signature=" + "0" * 64 + "\r\n")
    head += "x-amz-date: 20260101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 0\r\n\r\n"
    many = status_of(raw(runner.s3.hostname, runner.s3.port, head.encode(), timeout=10))
    extra = {f"x-h{i}": "v" for i in range(60)}
    wrong = s3_send(runner, "PUT", "/movierec-artifacts/k", signed_headers(runner, "PUT", "/movierec-artifacts/k", b"x", extra, secret="wrong" * 8), b"x")
    spent = runner.cpu_seconds() - cpu
    record("7 wrong secret with many signed headers", many in (400, 431) and wrong[0] == 403 and spent < 1,
           f"8,000 signed headers -> {many}; 60 signed headers, wrong secret -> {wrong[0]}; runner CPU {spent:.2f} s for both")


def concurrent_generation(runner):
    answers = []

    def generate():
        answers.append(runner.request("POST", "/generate-ratings?batch_size=2000", {}))
    workers = [threading.Thread(target=generate) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    statuses = [status for status, _, _ in answers]
    leaks = [body[:160] for _, body, _ in answers if re.search(rb"deadlock|[Pp]rocess \d+|transaction \d+", body)]
    record("8 concurrent generation", statuses == [200] * 4 and not leaks, f"answers {statuses}" + (f"; leaked {leaks[:1]}" if leaks else ""))


def connections(runner, sampler):
    gateway = (runner.gateway.hostname, runner.gateway.port)
    report = sampler.window()
    # The holders run at the lowest priority: on a real network the attacker's CPU is its own,
    # here it shares two cores with the runner and would otherwise starve the sampler.
    holders = [subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", HOLDER, gateway[0], str(gateway[1]), "10000", "20"], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    time.sleep(8)  # connections opened and held
    during = [runner.request("POST", "/predict/", {"user_id": 1, "top_n": 3})[0] for _ in range(5)]
    opened = sum(int(holder.communicate()[0].strip() or 0) for holder in holders)
    record("9 20,000 held connections", set(during) == {200}, f"{opened} connections opened; /predict/ meanwhile -> {during}")
    report("9 20,000 held connections")

    slow = socket.create_connection(gateway)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    slow.settimeout(30)
    started = time.time()
    try:
        closed = slow.recv(100) is not None
    except OSError:
        closed = False
    slow.close()
    record("9 a header sent slowly", closed and time.time() - started < 20, f"closed by the runner after {time.time() - started:.1f} s")
    big = status_of(raw(*gateway, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 130_000 + b"\r\n\r\n"))
    body = b'{"user_id": 1, "top_n": 3, "pad": "xx"}'
    space = status_of(raw(*gateway, b"POST /predict/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length : 39\r\n\r\n" + body))
    both = status_of(raw(*gateway, b"POST /predict/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
    record("9 strict parser", big == 431 and space == 400 and both == 400,
           f"130 KB header -> {big}; 'Content-Length : 39' -> {space}; Content-Length with Transfer-Encoding -> {both}")


HOLDER = r"""
import socket, sys, time
host, port, count, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sockets = []
for _ in range(count):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((host, port))
    sockets.append(s)
time.sleep(2)
for s in sockets:
    try: s.send(b"GET / HTTP/1.1\r\n")
    except OSError: pass
time.sleep(hold - 2)
print(len(sockets))
"""


def invoke_arns(runner):
    def invoke(name, query=""):
        return runner.request("POST", f"/2015-03-31/functions/{urllib.parse.quote(name, safe='')}/invocations{query}", {"action": "stats"})[0]
    cases = {
        "IngestFunction": invoke("IngestFunction"),
        "arn:aws:lambda:us-east-1:000000000000:function:IngestFunction:$LATEST": invoke("arn:aws:lambda:us-east-1:000000000000:function:IngestFunction:$LATEST"),
        "ingest:foo:bar": invoke("ingest:foo:bar"),
        "IngestFunction?Qualifier=foo": invoke("IngestFunction", "?Qualifier=foo"),
        "another region": invoke("arn:aws:lambda:eu-west-1:000000000000:function:IngestFunction"),
        "another account": invoke("arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"),
    }
    expected = [200, 200, 400, 404, 404, 404]
    record("10 Invoke API ARNs", list(cases.values()) == expected, "; ".join(f"{name} -> {status}" for name, status in cases.items()))


def main():
    parser = argparse.ArgumentParser()
    # Release binaries, as local-runner/start builds them (the suite runs after the benchmarks' builds).
    parser.add_argument("--bin", default=".build/release")
    arguments = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.time()
    runner = Runner(os.path.abspath(arguments.bin), root)
    print(f"runner up in {time.time() - started:.0f} s: gateway {runner.gateway.port}, s3 {runner.s3.port}, data {runner.data}", flush=True)
    sampler = Sampler(runner)
    sampler.start()
    try:
        runtime_api_takeover(runner)
        file_system(runner)
        s3_unsigned_headers(runner)
        s3_multipart_parts(runner)
        s3_wrong_secret(runner)
        invoke_arns(runner)
        concurrent_generation(runner)
        s3_big_unauthenticated(runner, sampler)
        connections(runner, sampler)
        schedule_flood(runner, sampler)
        report = sampler.window()
        time.sleep(3)
        report("after everything")
    finally:
        sampler.running = False
        runner.stop()
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} of {len(results)} checks held; runner log: {runner.data}/runner.log", flush=True)
    if failed:
        raise SystemExit("refusals that did not hold: " + ", ".join(failed))
    shutil.rmtree(runner.data, ignore_errors=True)


if __name__ == "__main__":
    main()
