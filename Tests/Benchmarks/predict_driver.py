"""Drives the predict function for Tests/Benchmarks/predict.

warm:  stands in for the Lambda Runtime API, feeds N top-10 events to one predict process
       (`AWS_LAMBDA_RUNTIME_API` mode: model mapped, connection open) and reports the function
       time the process logs per invocation (p50/p90), plus its resident memory.
cold:  runs the binary N times in direct mode (process start to answer, model already in the
       local cache) and reports p50/p90.
surprise: the reference approach for one user: Surprise's SVD.predict over every unseen movie,
       with a model of the same size (users x movies x 100 factors).
"""
import http.server, json, os, queue, random, statistics, subprocess, sys, threading, time


def warm(binary, users, count):
    events, done = queue.Queue(), queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one write per answer, no 40 ms delayed-ACK stalls
        def log_message(self, *args): pass
        def answer(self, status, headers, payload):
            head = f"HTTP/1.1 {status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + f"Content-Length: {len(payload)}\r\n\r\n"
            self.wfile.write(head.encode() + payload)
            self.wfile.flush()
        def do_GET(self):
            request_id, body = events.get()
            self.answer(200, (("Lambda-Runtime-Aws-Request-Id", request_id), ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000)),
                              ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:local:0:function:predict")), json.dumps(body).encode())
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            done.put((self.path, body))
            self.answer(202, (), b"")

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # the function's connection closes when it is stopped at the end

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Read as it comes: a log line per invocation (an EMF document) fills a pipe's 64 KiB in
    # about a hundred invocations, and a function blocked on its log answers nothing.
    log_lines = []
    reader = threading.Thread(target=lambda: log_lines.extend(process.stderr), daemon=True)
    reader.start()
    rng = random.Random(1)
    round_trips = []
    for index in range(count):
        start = time.perf_counter()
        events.put((f"req-{index}", {"user_id": rng.choice(users), "top_n": 10}))
        path, body = done.get(timeout=60)
        round_trips.append((time.perf_counter() - start) * 1000)
        if not path.endswith("/response"):
            sys.exit(f"invocation failed: {body[:300]}")
    rss = int([l for l in open(f"/proc/{process.pid}/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
    process.terminate()
    process.wait(timeout=10)
    reader.join(timeout=10)
    times = [json.loads(l)["ms"] for l in log_lines if l.startswith("{") and '"invocation"' in l]
    times = times[5:]  # the first requests map the model and warm the caches
    print(json.dumps({"function_ms_p50": statistics.median(times), "function_ms_p90": statistics.quantiles(times, n=10)[-1],
                      "function_ms_p99": statistics.quantiles(times, n=100)[-1],
                      "round_trip_ms_p50": statistics.median(round_trips[5:]), "invocations": len(times), "peak_rss_mb": rss}))


def cold(binary, users, count):
    rng = random.Random(2)
    samples = []
    for _ in range(count):
        event = json.dumps({"user_id": rng.choice(users), "top_n": 10}).encode()
        start = time.perf_counter()
        result = subprocess.run([binary], input=event, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
        if result.returncode != 0:
            sys.exit(f"cold invocation failed: {result.stdout[:300]}")
    print(json.dumps({"cold_ms_p50": statistics.median(samples), "cold_ms_p90": statistics.quantiles(samples, n=10)[-1], "runs": count}))


def surprise_reference(n_users, n_items, seen_count):
    from surprise import SVD, Dataset, Reader
    rng = random.Random(3)
    # The smallest training set that gives a model of this size: every user and every movie rated once.
    rows = [(str(u), str(u % n_items), float(rng.choice([1, 2, 3, 4, 5]))) for u in range(n_users)]
    rows += [(str(rng.randrange(n_users)), str(i), 4.0) for i in range(n_items)]
    reader = Reader(rating_scale=(0.5, 5.0))
    try:
        import pandas as pd
        data = Dataset.load_from_df(pd.DataFrame(rows, columns=["u", "i", "r"]), reader)
    except ImportError:
        path = "/tmp/movierec-surprise-size.csv"
        with open(path, "w") as f:
            f.writelines(f"{u},{i},{r}\n" for u, i, r in rows)
        data = Dataset.load_from_file(path, Reader(line_format="user item rating", sep=",", rating_scale=(0.5, 5.0)))
    algo = SVD(n_factors=100, n_epochs=1, random_state=0)
    algo.fit(data.build_full_trainset())
    seen = set(str(i) for i in range(seen_count))
    samples = []
    for user in ("17", "4242", "100000"):
        start = time.perf_counter()
        predictions = [algo.predict(user, str(i)) for i in range(n_items) if str(i) not in seen]
        top = sorted(predictions, key=lambda p: p.est, reverse=True)[:10]
        samples.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"surprise_top10_ms_p50": statistics.median(samples), "users": n_users, "items": n_items}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "warm":
        warm(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]))
    elif mode == "cold":
        cold(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]))
    else:
        surprise_reference(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
