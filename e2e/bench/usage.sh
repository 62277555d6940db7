#!/usr/bin/env bash
# Scale check of the usage views: RECORDS usage records over DAYS days for
# TENANTS tenants and KEYS keys in a fresh PostgreSQL database, rolled up with
# `airlock usage rollup --from`, then the usage page, the API and the CSV export
# of one tenant timed through a running console. Run by hand (not in CI); see
# e2e/README.md. Prints the figures; nothing here asserts a time.
#
# Environment:
#   AIRLOCK_BIN   binary (default $HOME/.cache/airlock-target/release/airlock, else debug)
#   PG_URL        server to create the database on (default postgres://postgres@127.0.0.1:5432)
#   RECORDS       default 10000000
#   DAYS          default 90
#   TENANTS       default 50
#   KEYS          default 2000
#   SAMPLES       timed requests per view (default 40)
#   CONCURRENCY   requests in flight at once (default 4)
#   KEEP_DB=1     keep the database afterwards (its name is printed)
#   REUSE_DB=name time the views of a database a KEEP_DB run left (no generation)
set -euo pipefail

target="${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}"
AIRLOCK_BIN="${AIRLOCK_BIN:-$target/release/airlock}"
[[ -x "$AIRLOCK_BIN" ]] || AIRLOCK_BIN="$target/debug/airlock"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
RECORDS="${RECORDS:-10000000}"
DAYS="${DAYS:-90}"
TENANTS="${TENANTS:-50}"
KEYS="${KEYS:-2000}"
SAMPLES="${SAMPLES:-40}"
CONCURRENCY="${CONCURRENCY:-4}"
db="${REUSE_DB:-airlock_bench_usage_$$}"
work="$(mktemp -d)"
console_pid=""

cleanup() {
    [[ -n "$console_pid" ]] && kill "$console_pid" 2>/dev/null || true
    if [[ "${KEEP_DB:-0}" != 1 ]]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="$PG_URL/$db"
export AIRLOCK_MASTER_KEY="$(openssl rand -base64 32)"
export AIRLOCK_KEY_PEPPER="$(openssl rand -base64 32)"
export AIRLOCK_JWT_SECRET="$(openssl rand -base64 32)"
export RUST_LOG=error  # the rollup of 10 M records trips sqlx's slow-statement warnings
sql() { psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
seconds() { date +%s.%N; }

if [[ -n "${REUSE_DB:-}" ]]; then
    echo "== reusing database $db: $(sql -c 'SELECT count(*) FROM usage_records') records"
    # A database from an older binary: its migrations (and their backfills), timed.
    start=$(seconds)
    "$AIRLOCK_BIN" migrate >/dev/null
    echo "airlock migrate: $(echo "$(seconds) - $start" | bc) s"
    password="$("$AIRLOCK_BIN" admin reset-password --email finance@bench.test --generate-password \
        | sed -n 's/^password (shown once): //p')"
else
    echo "== database $db: $RECORDS records, $DAYS days, $TENANTS tenants, $KEYS keys"
    psql "$PG_URL/postgres" -qc "CREATE DATABASE $db"
    "$AIRLOCK_BIN" migrate >/dev/null
    "$AIRLOCK_BIN" admin create-tenant --slug bench-00 --name "Bench 00" >/dev/null
    password="$("$AIRLOCK_BIN" admin create-user --tenant bench-00 --email finance@bench.test \
        --role finance --generate-password | sed -n 's/^password (shown once): //p')"

    start=$(seconds)
    sql <<SQL
INSERT INTO tenants (id, slug, name, created_at, updated_at)
SELECT gen_random_uuid(), 'bench-' || lpad(i::text, 2, '0'), 'Bench ' || i, now(), now()
FROM generate_series(1, $TENANTS - 1) AS i;

WITH t AS (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS n FROM tenants)
INSERT INTO relay_keys (id, tenant_id, env, name, display_prefix, key_hash, created_at,
                        updated_at, allowed_models, ip_allowlist)
SELECT gen_random_uuid(), t.id, (ARRAY['dev','stg','prod','ci'])[1 + k % 4], 'key ' || k,
       'dev_' || substr(md5(k::text), 1, 8), md5(random()::text) || md5(k::text), now(), now(),
       '[]', '[]'
FROM generate_series(0, $KEYS - 1) AS k
-- bench-00 is the heaviest tenant: a quarter of the keys, and so of the records.
JOIN t ON t.n = CASE WHEN k % 4 = 0 THEN 0 ELSE k % $TENANTS END;

CREATE TEMP TABLE k AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, tenant_id, env FROM relay_keys;
CREATE INDEX ON k (n);
INSERT INTO usage_records (id, request_id, tenant_id, key_id, env, endpoint, provider, model,
    created_at, latency_ms, status_code, input_tokens, output_tokens, cost_micros,
    message_count, input_chars, output_chars, redactions, injection_flags, streamed,
    client_disconnected, client_ip)
SELECT gen_random_uuid(), 'req_' || i, k.tenant_id, k.id, k.env, 'chat',
       (ARRAY['openai','anthropic','gemini'])[1 + (i % 3)::int],
       (ARRAY['gpt-4o-mini','claude-3-5-haiku-latest','gemini-2.0-flash','gpt-4o','claude-sonnet-4','gemini-2.5-pro'])[1 + (i % 6)::int],
       now() - make_interval(secs => (i * 7919) % ($DAYS * 86400)),
       50 + i % 400, CASE WHEN i % 50 = 0 THEN 429 ELSE 200 END,
       100 + i % 900, 20 + i % 300, 10 + i % 5000, 1 + i % 4, 400 + i % 3600, 80 + i % 1200,
       '{}', 0, i % 5 = 0, false, '203.0.113.' || (i % 250)
FROM generate_series(1::bigint, $RECORDS) AS i JOIN k ON k.n = i % $KEYS;
SQL
    echo "generated in $(echo "$(seconds) - $start" | bc) s"

    from="$(date -u -d "-$DAYS days" +%F)"
    start=$(seconds)
    "$AIRLOCK_BIN" usage rollup --from "$from"
    echo "airlock usage rollup --from $from: $(echo "$(seconds) - $start" | bc) s"
    echo "rollup rows: $(sql -c 'SELECT count(*) FROM usage_daily') (per key: $(sql -c \
        'SELECT count(*) FROM usage_daily_keys'), per model: $(sql -c 'SELECT count(*) FROM usage_daily_models'))"
    # What autovacuum would do after a bulk load, before the planner sees it.
    sql -c 'ANALYZE'

fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AIRLOCK_BILLING__SYNC_INTERVAL_SECS=0 "$AIRLOCK_BIN" console --console-addr "127.0.0.1:$port" \
    >"$work/console.log" 2>&1 &
console_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done

python3 - "$base" "$password" "$SAMPLES" "$console_pid" "$DAYS" "$CONCURRENCY" <<'PY'
import re, statistics, sys, time, urllib.parse, urllib.request, threading
from concurrent.futures import ThreadPoolExecutor

base, password, samples, pid, days = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
concurrency = int(sys.argv[6])
# Cookies by hand: the console's cookies are `Secure`, which http.cookiejar
# keeps off a plain-http loopback address.
cookies = {}
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
opener = urllib.request.build_opener(NoRedirect)

def keep(headers):
    for value in headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        cookies[name] = rest.split(";")[0]
def with_cookies(headers):
    h = dict(headers or {})
    if cookies and "Authorization" not in h:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return h
def csrf(html): return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
def get(path, headers=None):
    req = urllib.request.Request(base + path, headers=with_cookies(headers))
    with opener.open(req) as r:
        keep(r.headers); return r.status, r.read()
last_location = [None]
def post(path, fields):
    data = urllib.parse.urlencode(fields).encode()
    try:
        with opener.open(urllib.request.Request(base + path, data=data, headers=with_cookies(None))) as r:
            keep(r.headers); return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        keep(e.headers); last_location[0] = e.headers.get("Location"); return e.code, e.read().decode()

_, page = get("/signin")
status, _ = post("/signin", {"email": "finance@bench.test", "password": password, "csrf": csrf(page.decode())})
assert status in (200, 303), status
_, page = get("/account/tokens")
status, _ = post("/account/tokens", {"name": "bench", "days": "1", "csrf": csrf(page.decode())})
assert status == 303, status
_, page = get(last_location[0])  # the token is shown once, on the page the form redirects to
token = re.search(r'<code id="new-token">([^<]+)<', page.decode()).group(1)
api = {"Authorization": "Bearer " + token}

def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])

def timed(name, path, headers):
    def one(_):
        t = time.perf_counter(); status, body = get(path, headers); assert status == 200, (path, status)
        return (time.perf_counter() - t) * 1000
    # Warm: the console's connection pool opens its connections on first use.
    with ThreadPoolExecutor(concurrency) as pool: list(pool.map(one, range(2 * concurrency)))
    with ThreadPoolExecutor(concurrency) as pool: ms = sorted(pool.map(one, range(samples)))
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(f"{name:<48} p50 {p(0.5):7.1f} ms  p95 {p(0.95):7.1f} ms  ({samples} requests, {concurrency} at a time)")

cookie = None
frm = time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400))
to = time.strftime("%Y-%m-%d", time.gmtime())
print(f"== views of tenant bench-00 (one of the tenants), console RSS {rss_kib() // 1024} MiB")
timed("page /usage (this month, by day)", "/t/bench-00/usage", cookie)
timed(f"page /usage ({days} days, by key)", f"/t/bench-00/usage?period=custom&from={frm}&to={to}&group=key", cookie)
timed("API usage (last 30 days, by model)", "/api/v1/tenants/bench-00/usage?period=last_30_days&group=model", api)
timed(f"API usage ({days} days, by key)", f"/api/v1/tenants/bench-00/usage?period=custom&from={frm}&to={to}&group=key", api)
timed(f"API usage ({days} days, by member)", f"/api/v1/tenants/bench-00/usage?period=custom&from={frm}&to={to}&group=member", api)
timed("API usage/overview", "/api/v1/tenants/bench-00/usage/overview", api)

def csv(label, query):
    peak = [rss_kib()]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib()); time.sleep(0.02)
    threading.Thread(target=sample, daemon=True).start()
    before = rss_kib()
    t = time.perf_counter()
    req = urllib.request.Request(base + "/api/v1/tenants/bench-00/usage?" + query + "&format=csv", headers=api)
    rows = 0; size = 0
    with opener.open(req) as r:
        for line in r:
            rows += 1; size += len(line)
    elapsed = time.perf_counter() - t
    done.set()
    print(f"== CSV {label}: {rows - 1:,} rows, {size / 1e6:.1f} MB in {elapsed:.2f} s = {(rows - 1) / elapsed:,.0f} rows/s; "
          f"console RSS {before // 1024} MiB before, peak {peak[0] // 1024} MiB")

csv("last 30 days by key", "period=last_30_days&group=key")
csv(f"{days} days by key", f"period=custom&from={frm}&to={to}&group=key")

PY
