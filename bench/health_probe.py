"""Polls a server's /health every 50 ms on fresh connections for a while; prints the worst
latency in milliseconds as JSON. serve_bench.py runs it as a process of its own (its worst
latency is then the server's, not a wait for the interpreter lock its client threads hold) and
also calls it from a thread of its own process, for comparison.

    python3 bench/health_probe.py PORT SECONDS
"""
import http.client
import json
import sys
import time


def worst_health_ms(port, seconds):
    worst, stop_at = 0.0, time.time() + seconds
    while time.time() < stop_at:
        t0 = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/health")
            c.getresponse().read()
            c.close()
        except OSError:
            pass
        worst = max(worst, time.time() - t0)
        time.sleep(0.05)
    return worst * 1000


if __name__ == "__main__":
    print(json.dumps({"health_worst_ms": worst_health_ms(int(sys.argv[1]), float(sys.argv[2]))}))
