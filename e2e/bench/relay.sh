#!/usr/bin/env bash
# Load benchmark of the relay: how much latency and CPU Airlock adds over a bare proxy.
# Run by hand (not in CI); see e2e/README.md.
#
# Targets, all on 127.0.0.1:
#   direct  wrk -> airlock mock-upstream
#   nginx   wrk -> nginx (1 worker, keepalive upstream) -> mock-upstream
#   relay   wrk -> airlock serve --demo --upstream <mock> -> mock-upstream
# each at concurrency 1, 64 and 256, non-streamed and streamed, with a ~1 KB prompt.
#
# Environment:
#   AIRLOCK_BIN      release binary (default $HOME/.cache/airlock-target/release/airlock)
#   DURATION         seconds per measured run (default 10)
#   WARMUP           seconds of unmeasured warm-up before each run (default 2)
#   CONCURRENCIES    default "1 64 256"
#   MODES            default "plain stream"
#   TARGETS          default "direct nginx relay"
#   KEY_ENV          which demo key the relay is called with (default prod)
#   PROMPT_BYTES     size of the prompt (default 1024)
#   PROMPT           prose: plain prose, nothing to redact (default);
#                    pii: prose with an e-mail, a phone number and a card number in
#                         every paragraph (with POLICY=on they are redacted on the
#                         way out and restored in the answer)
#   POLICY           demo: the demo's settings as they are (prod key: 600 RPM);
#                    off: limits lifted, no budgets, no allowlist, content checks off;
#                    on:  every policy on, with limits and budgets high enough not to
#                         refuse: RPM/TPM limits, daily/monthly/env/tenant budgets and a
#                         per-request cap, IP allowlist, a max_tokens ceiling of 64 (so
#                         the token estimates fit the TPM limit at this load), redaction,
#                         injection screen, output checks with the no-code rule
#                    (default off)
#   AIRLOCK_SERVE_EXTRA_ARGS  extra args for `airlock serve` (word-split)
#   MALLOC_ARENA_MAX passed on to the relay if set (glibc's malloc arenas; see the README's "Speed")
#   KEEP_TMP=1       keep the temp dir (configs, logs, raw wrk output)
set -euo pipefail

AIRLOCK_BIN="${AIRLOCK_BIN:-$HOME/.cache/airlock-target/release/airlock}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONCURRENCIES="${CONCURRENCIES:-1 64 256}"
MODES="${MODES:-plain stream}"
TARGETS="${TARGETS:-direct nginx relay}"
KEY_ENV="${KEY_ENV:-prod}"
PROMPT_BYTES="${PROMPT_BYTES:-1024}"
POLICY="${POLICY:-off}"
PROMPT="${PROMPT:-prose}"
MODEL="gpt-4o-mini"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $PROMPT == prose || $PROMPT == pii ]] || die "PROMPT must be prose or pii"

# ---------------------------------------------------------------- prerequisites
if [[ ! -x "$AIRLOCK_BIN" ]]; then
    die "airlock binary not found at $AIRLOCK_BIN (build it: cargo build --release -p airlock, or set AIRLOCK_BIN)"
fi

NGINX_BIN="$(command -v nginx || true)"
[[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -n "$NGINX_BIN" ]] || missing+=(nginx)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # Debian's package may start its own nginx on :80; this script never uses it.
        NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
    else
        die "missing ${missing[*]}: run as root, or: sudo apt-get install -y ${missing[*]}"
    fi
fi
command -v python3 >/dev/null || die "python3 is needed to parse JSON and print the table"

CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- cleanup
TMP="$(mktemp -d -t airlock-bench.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Start a command that prints one JSON line on stdout when ready; sets STARTED_PID.
# usage: start_json NAME cmd args...
start_json() {
    local name="$1"; shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for _ in $(seq 600); do
        if [[ -s "$TMP/$name.out" ]] && grep -q '}' "$TMP/$name.out"; then
            return 0
        fi
        if ! kill -0 "$STARTED_PID" 2>/dev/null; then
            log "$name exited before it was ready; its stderr:"
            cat "$TMP/$name.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    log "$name printed nothing within 60 s; its stderr:"
    cat "$TMP/$name.err" >&2
    exit 1
}

json_field() { # FILE PYTHON-EXPR-ON-d
    python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(eval(sys.argv[2]))' "$1" "$2"
}

loopback_only() { # URL
    [[ "$1" =~ ^http://127\.0\.0\.1:[0-9]+/?$ ]] || die "refusing non-loopback target: $1"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------- mock upstream
start_json mock "$AIRLOCK_BIN" mock-upstream --addr 127.0.0.1:0 --delay-ms 0
MOCK_PID=$STARTED_PID
MOCK_URL="$(json_field "$TMP/mock.out" 'd["mock_upstream_url"]')"
MOCK_URL="${MOCK_URL%/}"
loopback_only "$MOCK_URL"
log "mock-upstream at $MOCK_URL (pid $MOCK_PID)"

# ---------------------------------------------------------------- nginx
NGINX_DIR="$TMP/nginx"
mkdir -p "$NGINX_DIR"/{client_body,proxy,fastcgi,uwsgi,scgi}
NGINX_PORT="$(free_port)"
cat >"$NGINX_DIR/nginx.conf" <<EOF
# Generated by e2e/bench/relay.sh: a bare reverse proxy as the baseline.
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $NGINX_DIR/client_body;
    proxy_temp_path $NGINX_DIR/proxy;
    fastcgi_temp_path $NGINX_DIR/fastcgi;
    uwsgi_temp_path $NGINX_DIR/uwsgi;
    scgi_temp_path $NGINX_DIR/scgi;

    upstream mock {
        server ${MOCK_URL#http://};
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$NGINX_PORT;

        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Pass SSE chunks on as they arrive, as the relay does.
            proxy_buffering off;
        }
    }
}
EOF
"$NGINX_BIN" -t -q -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" \
    || die "nginx config test failed"
"$NGINX_BIN" -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" \
    >"$TMP/nginx.out" 2>"$TMP/nginx.err" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 100); do
    [[ -s "$NGINX_DIR/nginx.pid" ]] && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx.err" "$NGINX_DIR/error.log" >&2; die "nginx exited"; }
    sleep 0.1
done
log "nginx at $NGINX_URL (master $NGINX_PID)"

# ---------------------------------------------------------------- relay
# shellcheck disable=SC2086  # AIRLOCK_SERVE_EXTRA_ARGS is meant to be word-split
start_json relay "$AIRLOCK_BIN" serve --demo --json --data-dir "$TMP/demo" \
    --relay-addr 127.0.0.1:0 --console-addr 127.0.0.1:0 --upstream "$MOCK_URL" \
    ${AIRLOCK_SERVE_EXTRA_ARGS:-}
RELAY_PID=$STARTED_PID
RELAY_URL="$(json_field "$TMP/relay.out" 'd["relay_url"]')"
RELAY_URL="${RELAY_URL%/}"
loopback_only "$RELAY_URL"
RELAY_KEY="$(json_field "$TMP/relay.out" "d['keys']['$KEY_ENV']")"
log "relay at $RELAY_URL (pid $RELAY_PID), using the $KEY_ENV key"

# ---------------------------------------------------------------- policy
admin() { DATABASE_URL="sqlite://$TMP/demo/airlock-demo.db?mode=rw" "$AIRLOCK_BIN" admin "$@" >/dev/null; }
PREFIX="$(python3 -c 'import sys; k=sys.argv[1]; e,b=k.split("_",1); print(e+"_"+b[:8])' "$RELAY_KEY")"
case $POLICY in
    demo) ;;
    off)
        admin set-env-defaults --tenant demo --env "$KEY_ENV" --rpm 2000000000 --monthly-budget 1000000000
        admin set-key-limits --tenant demo --prefix "$PREFIX" --rpm none --tpm none --daily-budget none \
            --monthly-budget none --per-request-cap none --ip-allowlist any --max-tokens none
        admin set-policy --tenant demo --class internal --pii allow --secrets allow --injection off --output off
        ;;
    on)
        admin set-env-defaults --tenant demo --env "$KEY_ENV" --rpm 2000000000 --tpm 2000000000 --monthly-budget 1000000000
        admin set-tenant-limits --tenant demo --rpm 2000000000 --tpm 2000000000 --monthly-budget 1000000000
        admin set-key-limits --tenant demo --prefix "$PREFIX" --rpm 2000000000 --tpm 2000000000 \
            --daily-budget 1000000 --monthly-budget 1000000 --per-request-cap 100 \
            --ip-allowlist 127.0.0.1/32,::1 --max-tokens 64
        admin set-policy --tenant demo --class internal --pii redact --secrets redact --injection flag \
            --output flag --block-code true --require-dpa true
        ;;
    *) die "POLICY must be demo, off or on" ;;
esac
sleep 1  # the relay polls for changes every 250 ms
log "policy: $POLICY"

# ---------------------------------------------------------------- request bodies and wrk scripts
python3 - "$TMP" "$MODEL" "$PROMPT_BYTES" "$PROMPT" <<'EOF'
import json, sys
tmp, model, size, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# Plain prose: nothing that looks like PII, a secret or an injection.
sentence = "The quick brown fox jumps over the lazy dog near the quiet river bank. "
if kind == "pii":
    # A paragraph of prose, then an e-mail, a phone number and a card number.
    paragraph = (sentence * 3 +
                 "Write to maria.lopez@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111. ")
    prompt = paragraph * (size // len(paragraph) + 1)
    prompt = prompt[:prompt.rfind(". ", 0, max(size, len(paragraph))) + 1]
else:
    prompt = (sentence * (size // len(sentence) + 1))[:size].rstrip()
for mode, stream in (("plain", False), ("stream", True)):
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if stream:
        body["stream"] = True
    with open(f"{tmp}/body-{mode}.json", "w") as f:
        json.dump(body, f)
with open(f"{tmp}/expected.txt", "w") as f:
    f.write("Mock reply: " + prompt[:4000])  # the mock echoes at most 4000 characters
EOF

# usage: write_lua FILE BODYFILE AUTH_HEADER_VALUE(or empty)
write_lua() {
    cat >"$1" <<EOF
local f = assert(io.open("$2", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF
    if [[ -n "$3" ]]; then
        printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$3" >>"$1"
    fi
    cat >>"$1" <<'EOF'

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
}

declare -A URL=([direct]="$MOCK_URL" [nginx]="$NGINX_URL" [relay]="$RELAY_URL")
for target in direct nginx relay; do
    for mode in plain stream; do
        key=""
        [[ $target == relay ]] && key="$RELAY_KEY"
        write_lua "$TMP/$target-$mode.lua" "$TMP/body-$mode.json" "$key"
    done
done

# ---------------------------------------------------------------- sanity check
for target in $TARGETS; do
    for mode in $MODES; do
        auth=()
        [[ $target == relay ]] && auth=(-H "Authorization: Bearer $RELAY_KEY")
        code="$(curl -sS --noproxy '*' -o "$TMP/check-$target-$mode" -w '%{http_code}' \
            -H 'Content-Type: application/json' "${auth[@]}" \
            --data-binary "@$TMP/body-$mode.json" "${URL[$target]}/v1/chat/completions")" \
            || die "$target ($mode) did not answer"
        [[ $code == 200 ]] || { head -c 500 "$TMP/check-$target-$mode" >&2; echo >&2; die "$target ($mode) answered HTTP $code"; }
        if [[ $mode == plain ]]; then
            python3 - "$TMP/check-$target-$mode" "$TMP/expected.txt" "$target" <<'EOF' || exit 1
import json, sys
got = json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]
if got != open(sys.argv[2]).read():
    sys.exit(f"bench: {sys.argv[3]} did not return the mock reply: {got[:80]!r}")
EOF
        else
            grep -q '^data: \[DONE\]' "$TMP/check-$target-$mode" || die "$target stream did not end with data: [DONE]"
        fi
    done
done
log "all targets answer; $DURATION s per run after $WARMUP s warm-up"

# nginx's one worker is the process that does the proxying (the master only supervises).
NGINX_WORKER_PID=""
for child in /proc/[0-9]*/stat; do
    read -r cpid _ <"$child" 2>/dev/null || continue
    ppid="$(sed 's/^.*) //' "$child" 2>/dev/null | awk '{ print $2 }')" || continue
    if [[ "$ppid" == "$NGINX_PID" ]]; then NGINX_WORKER_PID="$cpid"; break; fi
done
log "nginx worker pid ${NGINX_WORKER_PID:-unknown}"

# ---------------------------------------------------------------- measurement
cpu_ticks() { # PID -> utime+stime in clock ticks (fields 14 and 15 of /proc/PID/stat)
    [[ -n "$1" && -r /proc/$1/stat ]] || { echo 0; return; }
    # The comm field may contain spaces: cut everything up to the last ')'.
    local rest
    rest="$(sed 's/^.*) //' "/proc/$1/stat")"
    awk '{ print $12 + $13 }' <<<"$rest"
}
vm_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

RESULTS="$TMP/results.tsv"
: >"$RESULTS"
for target in $TARGETS; do
    url="${URL[$target]}/v1/chat/completions"
    case $target in
        relay) proxy_pid="$RELAY_PID" ;;
        nginx) proxy_pid="$NGINX_WORKER_PID" ;;
        *) proxy_pid="" ;;
    esac
    for conc in $CONCURRENCIES; do
        if [[ $conc -le 1 ]]; then threads=1; else threads=2; fi
        for mode in $MODES; do
            lua="$TMP/$target-$mode.lua"
            log "$target c=$conc $mode"
            wrk -t"$threads" -c"$conc" -d"${WARMUP}s" --timeout 10s -s "$lua" "$url" >/dev/null
            before="$(cpu_ticks "$proxy_pid")"
            wrk -t"$threads" -c"$conc" -d"${DURATION}s" --timeout 10s --latency -s "$lua" "$url" \
                >"$TMP/wrk-$target-$conc-$mode.txt"
            after="$(cpu_ticks "$proxy_pid")"
            rss=""
            [[ -n "$proxy_pid" ]] && rss="$(vm_hwm_kb "$proxy_pid")"
            line="$(grep '^BENCH_RESULT' "$TMP/wrk-$target-$conc-$mode.txt" || true)"
            [[ -n "$line" ]] || { cat "$TMP/wrk-$target-$conc-$mode.txt" >&2; die "wrk gave no result"; }
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$conc" "$mode" \
                "${line#BENCH_RESULT }" "$((after - before))" "$rss" >>"$RESULTS"
        done
    done
done

# ---------------------------------------------------------------- report
python3 - "$RESULTS" "$CLK_TCK" "$DURATION" "$POLICY" "$PROMPT" <<'EOF'
import sys
path, clk_tck, duration, policy, prompt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = []
for line in open(path):
    target, conc, mode, stats, ticks, rss = line.rstrip("\n").split("\t")
    s = {k: int(v) for k, v in (kv.split("=") for kv in stats.split())}
    rows.append(dict(target=target, conc=int(conc), mode=mode, ticks=int(ticks),
                     rss=int(rss) if rss else None, **s))
direct = {(r["conc"], r["mode"]): r["p50_us"] for r in rows if r["target"] == "direct"}

def rps_of(r): return r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
def cpu_of(r): return r["ticks"] / clk_tck / r["requests"] * 1e6 if r["requests"] else 0.0
nginx = {(r["conc"], r["mode"]): r for r in rows if r["target"] == "nginx"}

def ms(us): return f"{us / 1000:.3f}"

head = ["target", "conc", "mode", "RPS", "RPS vs nginx", "p50 ms", "p99 ms", "+p50 vs direct",
        "errors", "CPU/req us", "CPU vs nginx", "peak RSS MiB"]
table = []
problems = []
for r in rows:
    rps = rps_of(r)
    base_nginx = nginx.get((r["conc"], r["mode"]))
    rps_ratio = cpu_ratio = "-"
    if r["target"] == "relay" and base_nginx and rps_of(base_nginx):
        rps_ratio = f"{rps / rps_of(base_nginx):.2f}x"
        if cpu_of(base_nginx):
            cpu_ratio = f"{cpu_of(r) / cpu_of(base_nginx):.1f}x"
    base = direct.get((r["conc"], r["mode"]))
    added = "-" if r["target"] == "direct" or base is None else f"{(r['p50_us'] - base) / 1000:+.3f} ms"
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    cpu = "-"
    if r["target"] != "direct" and r["requests"]:
        cpu = f"{cpu_of(r):.0f}"
    rss = "-" if r["rss"] is None else f"{r['rss'] / 1024:.1f}"
    table.append([r["target"], str(r["conc"]), r["mode"], f"{rps:.0f}", rps_ratio, ms(r["p50_us"]),
                  ms(r["p99_us"]), added, str(errors), cpu, cpu_ratio, rss])
    if errors:
        problems.append(f"{r['target']} c={r['conc']} {r['mode']}: {r['status']} non-2xx/3xx, "
                        f"{r['connect'] + r['read'] + r['write']} socket errors, {r['timeout']} timeouts "
                        f"of {r['requests']} requests")

widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(head)]
fmt = "  ".join("{:<%d}" % w if i < 3 else "{:>%d}" % w for i, w in enumerate(widths))
print()
print(f"Airlock relay benchmark: {duration} s per run, ~1 KB prompt ({prompt}), POLICY={policy}, loopback only")
print(fmt.format(*head))
print(fmt.format(*("-" * w for w in widths)))
for row in table:
    print(fmt.format(*row))
print()
print("CPU/req: utime+stime of the proxy process (the relay; nginx's worker) per request.")
print("Peak RSS: VmHWM of that process since it started (so a row includes every run before it).")
print("vs nginx: the relay's RPS and CPU/req over nginx's in the same row (same concurrency and mode).")
if problems:
    print()
    print("WARNING: some requests failed, so those rows do not measure successful requests")
    print("(a 429 usually means the demo key's rate limit; see e2e/README.md):")
    for p in problems:
        print("  " + p)
EOF
