"""Times the console's keys page for a tenant with many keys.

    python e2e/bench/console_keys.py [--keys 100000] [--bin PATH]

Starts `airlock serve --demo` on SQLite, copies the demo's dev key row N times
straight into the database (the console is not the bottleneck being measured for
inserts), signs in as the demo admin, and times the first, a middle and the last
page of the dev keys (50 a page, paged on the server) plus a key's own page.
Prints p50/p95 over 20 requests each. Standard library only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import http.client
import urllib.parse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument(
        "--bin",
        default=os.path.join(
            os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/airlock-target")),
            "release/airlock",
        ),
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="airlock-console-bench-"))
    proc = subprocess.Popen(
        [args.bin, "serve", "--demo", "--json", "--data-dir", str(work / "demo"),
         "--relay-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        db_files = list((work / "demo").glob("*.db"))
        db = sqlite3.connect(db_files[0])
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM relay_keys WHERE env = 'dev' LIMIT 1").fetchone())
        slug = db.execute("SELECT slug FROM tenants WHERE id = ?", (row["tenant_id"],)).fetchone()[0]
        columns = list(row)
        started = time.perf_counter()
        rows = []
        for i in range(args.keys):
            copy = dict(row)
            copy["id"] = str(uuid.uuid4()) if isinstance(row["id"], str) else uuid.uuid4().bytes
            copy["display_prefix"] = f"dev_b{i:07d}"
            copy["key_hash"] = f"{i:064x}"
            copy["name"] = f"bench-{i}"
            rows.append(tuple(copy[c] for c in columns))
        db.executemany(
            f"INSERT INTO relay_keys ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            rows,
        )
        db.commit()
        print(f"inserted {args.keys} keys in {time.perf_counter() - started:.1f} s")

        url = urllib.parse.urlsplit(info["console_url"])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        cookies: dict[str, str] = {}

        def request(method: str, path: str, form: dict | None = None) -> tuple[int, str]:
            # The session cookie is `Secure`: keep cookies by hand over plain http.
            headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
            body = None
            if form is not None:
                body = urllib.parse.urlencode(form)
                headers["content-type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    cookies[name] = rest.split(";", 1)[0]
            return response.status, text

        _, page = request("GET", "/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        status, _ = request("POST", "/signin", {"csrf": csrf, "email": info["email"], "password": info["password"]})
        assert status == 303, status
        pages = args.keys // 50
        _, first = request("GET", f"/t/{slug}/keys?env=dev")
        key_id = re.search(r'href="keys/([0-9a-f-]{36})"', first).group(1)
        for label, path in [
            ("first page", f"/t/{slug}/keys?env=dev"),
            ("middle page", f"/t/{slug}/keys?env=dev&page={pages // 2}"),
            ("last page", f"/t/{slug}/keys?env=dev&page={pages}"),
            ("one key", f"/t/{slug}/keys/{key_id}"),
        ]:
            times = []
            for _ in range(20):
                t = time.perf_counter()
                status, _ = request("GET", path)
                times.append((time.perf_counter() - t) * 1000)
                assert status == 200, (path, status)
            times.sort()
            print(f"{label:12} p50 {statistics.median(times):7.1f} ms  p95 {times[18]:7.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
