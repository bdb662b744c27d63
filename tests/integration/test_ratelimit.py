"""Per-key rate limiting (nginx limit_req keyed on the API key)."""

import threading
import time

from client import Client, assert_error, assert_json

KEYS = "/api/v1/api-keys"
THREADS = 32
TOTAL = 3000


def test_burst_on_one_key_is_429_and_other_keys_are_not(stack, ws_a):
    _, hot = ws_a.new_key(ws_a.admin_user, "admin", "rate-hot")
    _, cold = ws_a.new_key(ws_a.admin_user, "admin", "rate-cold")
    lock = threading.Lock()
    statuses = {}
    limited = []  # the first few 429 responses
    errors = []
    first_429 = threading.Event()
    stop = threading.Event()
    deadline = time.monotonic() + 60

    def worker(n):
        c = Client(stack.url, key=hot, timeout=20, keepalive=True)
        try:
            for _ in range(n):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                r = c.get(KEYS + "?limit=1")
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status == 429 and len(limited) < 5:
                        limited.append(r)
                if r.status == 429:
                    first_429.set()
        except Exception as e:  # reported by the main thread
            with lock:
                errors.append(repr(e))
        finally:
            c.close()

    per_thread = -(-TOTAL // THREADS)
    threads = [threading.Thread(target=worker, args=(per_thread,), daemon=True)
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    try:
        got = first_429.wait(timeout=60)
        # While the hot key is being limited, another key is served normally.
        during = stack.client(cold).get(KEYS + "?limit=1") if got else None
    finally:
        # Let the burst run on a moment so the hot key is well over its limit.
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    print("ratelimit statuses", statuses)
    assert not any(t.is_alive() for t in threads), "a load thread did not finish"
    assert not errors, errors[:5]
    assert got, "no 429 after %r" % statuses
    assert set(statuses) <= {200, 429}, "unexpected statuses under load: %r" % statuses
    for r in limited:
        assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
        retry = r.header("Retry-After")
        assert retry is not None and retry.isdigit() and int(retry) >= 1, retry
    assert_json(during, 200)
    # Right after: the other key is still fine.
    assert_json(stack.client(cold).get(KEYS + "?limit=1"), 200)
    # And the hot key recovers once the bucket has drained (BURST / RATE s).
    time.sleep(stack.burst / stack.rate + 1)
    assert_json(stack.client(hot).get(KEYS + "?limit=1"), 200)


def test_limit_is_per_key_not_per_header_spelling(stack, ws_a):
    """The app accepts "Bearer", "bearer", ... and any run of spaces before the
    key, so the limit must count the key, however the header spells it."""
    _, key = ws_a.new_key(ws_a.admin_user, "admin", "rate-spelling")
    schemes = ("Bearer", "bearer", "BEARER", "BeArEr")
    lock = threading.Lock()
    statuses = {}
    limited = threading.Event()
    deadline = time.monotonic() + 60

    def worker(t):
        c = Client(stack.url, timeout=20, keepalive=True)
        try:
            for i in range(-(-TOTAL // THREADS)):
                if limited.is_set() or time.monotonic() > deadline:
                    break
                n = t * 1000 + i
                auth = schemes[n % 4] + " " * (n % 64 + 1) + key
                r = c.get(KEYS + "?limit=1", headers={"Authorization": auth})
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 429:
                    limited.set()
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True)
               for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a load thread did not finish"
    assert set(statuses) <= {200, 429}, statuses
    assert limited.is_set(), \
        "no 429 for one key spelled %d ways: %r (limit %d r/s, burst %d)" % (
            4 * 64, statuses, stack.rate, stack.burst)


def test_requests_without_a_key_are_limited_per_client_address(stack, ws_a):
    """Issue 14 item 7: requests that carry no well-formed key (none, another
    scheme, a malformed token) each got a fresh nginx bucket, so nothing
    limited them. They now share one bucket per client address; past it
    nginx answers 429 RATE_LIMIT_EXCEEDED (JSON, Retry-After) itself, and a
    client with a valid key from the same address is not held back."""
    spellings = (None, "Basic YWRtaW46YWRtaW4=", "Bearer not-a-key", "Bearer ar_short")
    lock = threading.Lock()
    statuses = {}
    limited = []
    total = 3 * (stack.unauth_burst + stack.unauth_rate)

    def worker(t):
        c = Client(stack.url, timeout=20, keepalive=True)
        try:
            for i in range(-(-total // 16)):
                auth = spellings[(t + i) % len(spellings)]
                headers = {"Authorization": auth} if auth else {}
                r = c.get(KEYS + "?limit=1", headers=headers)
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status == 429 and len(limited) < 3:
                        limited.append(r)
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a load thread did not finish"
    print("unauthenticated statuses", statuses)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.get(429, 0) > 0, "no 429 after %r" % statuses
    for r in limited:
        assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
        assert int(r.header("Retry-After")) >= 1
    # The same address with a valid key is served.
    assert_json(stack.client(ws_a.admin_key).get(KEYS + "?limit=1"), 200)
    # /healthz is not an API request: never limited here.
    assert stack.client().get("/healthz").status in (200, 503)
    time.sleep(stack.unauth_burst / stack.unauth_rate + 1)
    assert_error(Client(stack.url).get(KEYS + "?limit=1"), 401, "AUTHORIZATION_ERROR")
