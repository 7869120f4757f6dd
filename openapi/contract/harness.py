#!/usr/bin/env python3
"""Runs a command against a fresh, seeded Loyalcast server.

Starts `loyalcast serve` on a free port with a new database (SQLite in a temporary folder, or
a new PostgreSQL database that is dropped afterwards), seeded with the demo merchant; signs
in as the demo owner and creates an admin API key; runs the command with

    LOYALCAST_BASE_URL   the server, e.g. http://127.0.0.1:40123
    LOYALCAST_API_KEY    the admin API key's secret
    LOYALCAST_OWNER_TOKEN a session token of the demo owner

and exits with the command's status. The server's log is printed when the command fails.

    harness.py --bin target/debug/loyalcast --db sqlite -- st run ...
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The harness's key holds every scope the document names, so the fuzzer reaches every
# route an API key can call.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "openapi.json")) as _doc:
    ALL_SCOPES = json.load(_doc)["components"]["schemas"]["Scope"]["enum"]
import uuid

DEMO_OWNER = "owner@demo.loyalcast.dev"
DEMO_PASSWORD = "loyalcast-demo"
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def psql(sql: str) -> None:
    subprocess.run(["psql", POSTGRES, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")

    workdir = tempfile.mkdtemp(prefix="loyalcast-contract-")
    database = None
    if args.db == "sqlite":
        url = f"sqlite://{workdir}/contract.db?mode=rwc"
    else:
        database = f"loyalcast_contract_{uuid.uuid4().hex}"
        psql(f"CREATE DATABASE {database}")
        url = POSTGRES.rsplit("/", 1)[0] + "/" + database
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(workdir, "server.log")
    env = dict(
        os.environ,
        LOYALCAST_DATABASE_URL=url,
        LOYALCAST_BIND=f"127.0.0.1:{port}",
        LOYALCAST_PUBLIC_URL=base,
        LOYALCAST_DATA_DIR=workdir,
        LOYALCAST_SEED_DEMO="true",
        # The operator's surfaces are on, as in production: the fuzzer reaches them without
        # their tokens (401), the server must answer that and nothing else.
        LOYALCAST_OPERATOR_TOKEN=uuid.uuid4().hex + uuid.uuid4().hex,
        LOYALCAST_METRICS_TOKEN=uuid.uuid4().hex + uuid.uuid4().hex,
        RUST_LOG=os.environ.get("RUST_LOG", "error"),
    )
    env.pop("DATABASE_URL", None)
    with open(log_path, "w") as log:
        server = subprocess.Popen([args.bin, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    status = 1
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise SystemExit(f"contract: the server exited ({server.returncode}) before it was ready")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("contract: /readyz did not answer 200 within 120 s")
            time.sleep(0.25)
        owner = call(base, "POST", "/api/v1/auth/login", {"email": DEMO_OWNER, "password": DEMO_PASSWORD})
        key = call(base, "POST", "/api/v1/api-keys", {"name": "contract checks", "scopes": ALL_SCOPES}, owner["token"])
        env = dict(
            os.environ,
            LOYALCAST_BASE_URL=base,
            LOYALCAST_API_KEY=key["secret"],
            LOYALCAST_OWNER_TOKEN=owner["token"],
        )
        print(f"contract: {args.db} server ready on {base}; running {' '.join(command[:2])} ...", flush=True)
        status = subprocess.run(command, env=env).returncode
        if server.poll() is not None:
            print(f"contract: the server died during the run ({server.returncode})", file=sys.stderr)
            status = status or 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if status != 0:
            with open(log_path) as log:
                lines = log.readlines()
            print("---- last lines of the server log ----", file=sys.stderr)
            sys.stderr.writelines(lines[-60:])
        if database:
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        subprocess.run(["rm", "-rf", workdir])
    return status


if __name__ == "__main__":
    sys.exit(main())
