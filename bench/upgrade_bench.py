#!/usr/bin/python3
"""How long the event service's upgrade through migrations 7-11 takes, against
one rebuild of the same table, in one run on one MariaDB.

Seeds --events chains straight into a fresh event schema, then turns it back
into the layout before migration 7 (an `inbox` table with each event's key and
payload hash, a `flows` table with its indexes, neither on `events`; no
notice columns on `tasks`, which holds --tasks-per-event tasks of each chain,
all done but the newest 1%) and:
  - the floor: `ALTER TABLE events FORCE`, one rebuild of the old events table;
  - the path: perfflow-event started on that schema, from its start to its
    gRPC port opening, with the time of each migration from its log;
then checks every event kept its key and its flow and that no stored task is
announced again (each one's notice was an outbox row). Prints the ratio of the
upgrade to the rebuild (docs/operations.md, "Upgrading").

Run by ./scripts/bench.sh upgrade (which starts the MariaDB).
"""

import argparse
import datetime
import json
import os
import secrets
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from brief_bench import PEOPLE, mariadb, seed  # noqa: E402
from perfflow_e2e import Server, mysql_env, mysql_url  # noqa: E402

FLOW_COLUMNS = ["step", "round", "verdict", "requires_cross_confirm", "triggered_at", "triggered_day",
                "owner_action_at", "manager_feedback_at", "cross_confirm_at", "archived_at", "evidence_complete_at"]
NOTICE_COLUMNS = ["notice_" + c for c in ("state", "attempts", "next_attempt_at", "lease_owner", "lease_until",
                                          "fence", "last_error", "delivered_to", "delivered_at")]


def to_the_old_layout(schema):
    """The schema as migration 6 left it, holding the seeded events."""
    mariadb(schema, (
        "CREATE TABLE inbox (tenant_id VARCHAR(64) NOT NULL, source VARCHAR(64) NOT NULL, "
        "external_id VARCHAR(255) NOT NULL, payload_hash CHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
        "received_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, source, external_id)) "
        "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin; "
        "INSERT INTO inbox SELECT tenant_id, source, external_id, SHA2(event_id, 256), event_id, occurred_at "
        "FROM events; "
        "CREATE TABLE flows (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
        "event_type VARCHAR(128) NOT NULL, subject_id VARCHAR(64) NOT NULL, department_id VARCHAR(64) NOT NULL, "
        "step INT NOT NULL, round INT NOT NULL, verdict INT NOT NULL, requires_cross_confirm INT NOT NULL, "
        "triggered_at BIGINT NOT NULL, triggered_day BIGINT NOT NULL, owner_action_at BIGINT NULL, "
        "manager_feedback_at BIGINT NULL, cross_confirm_at BIGINT NULL, archived_at BIGINT NULL, "
        "evidence_complete_at BIGINT NULL, PRIMARY KEY (tenant_id, event_id)) "
        "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin; "
        "INSERT INTO flows SELECT tenant_id, event_id, event_type, subject_id, department_id, "
        + ", ".join(FLOW_COLUMNS) + " FROM events; "
        "CREATE INDEX flows_by_time ON flows (tenant_id, triggered_at, event_id); "
        "CREATE INDEX flows_by_subject ON flows (tenant_id, subject_id, triggered_at); "
        "CREATE INDEX flows_by_step ON flows (tenant_id, step); "
        "CREATE INDEX flows_health ON flows (tenant_id, triggered_day, department_id, event_type, triggered_at, "
        "archived_at); "
        "ALTER TABLE events DROP INDEX events_idempotency, DROP INDEX events_by_time, DROP INDEX events_by_subject, "
        "DROP INDEX events_by_step, DROP INDEX events_health, DROP COLUMN payload_hash, "
        + ", ".join("DROP COLUMN " + c for c in FLOW_COLUMNS) + "; "
        "ALTER TABLE tasks DROP INDEX tasks_notice_due, " + ", ".join("DROP COLUMN " + c for c in NOTICE_COLUMNS) + "; "
        "DELETE FROM schema_migrations WHERE service = 'event' AND version >= 7"))


def seed_tasks(schema, first, last, per_event):
    """`per_event` tasks of chains first..last (an owner's upload, a manager's review, a confirmation), as
    the layout before migration 11 holds them: done, but for the newest 1% of chains, which wait with a timer."""
    mariadb(schema, (
        "SET @now = FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000); "
        "INSERT INTO tasks (tenant_id, task_id, event_id, event_type, kind, assignee_id, state, due_at, created_at, "
        "completed_at, timer_level, timer_at) "
        "SELECT 'bench', LPAD(HEX(e.seq * 4 + k.seq), 32, '0'), LPAD(HEX(e.seq), 32, '0'), "
        "'mes.first_article_passed', k.seq, IF(k.seq = 1, CONCAT('p', e.seq MOD {people}), 'm0'), "
        "IF(e.seq MOD 100 = 0, 1, 2), "
        "@now - (e.seq MOD 7776000) * 1000 + 172800000, @now - (e.seq MOD 7776000) * 1000, "
        "IF(e.seq MOD 100 = 0, NULL, @now - (e.seq MOD 7776000) * 1000 + 3600000), IF(e.seq MOD 100 = 0, 2, 0), "
        "IF(e.seq MOD 100 = 0, @now - (e.seq MOD 7776000) * 1000 + 172800000, NULL) "
        "FROM seq_{first}_to_{last} e CROSS JOIN seq_1_to_{per_event} k").format(
            people=PEOPLE, first=first, last=last, per_event=per_event))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tasks-per-event", type=int, default=2, choices=[0, 1, 2, 3])
    parser.add_argument("--json")
    args = parser.parse_args()
    schema = "upgrade_" + secrets.token_hex(4)
    env = mysql_env()
    binary = os.path.join(args.bin_dir, "perfflow-event")
    Server(binary, ["--db=%s/%s" % (mysql_url(), schema), "--workers=false"], env).stop()
    for first in range(1, args.events + 1, 100_000):
        seed(schema, first, min(first + 99_999, args.events))
        if args.tasks_per_event:
            seed_tasks(schema, first, min(first + 99_999, args.events), args.tasks_per_event)
    to_the_old_layout(schema)

    start = time.monotonic()
    mariadb(schema, "ALTER TABLE events FORCE")
    rebuild = time.monotonic() - start

    start, started_at = time.monotonic(), time.time()
    proc = subprocess.Popen([binary, "--db=%s/%s" % (mysql_url(), schema), "--workers=false", "--grpc_port=0",
                             "--metrics_port=0", "--host=127.0.0.1"], env=dict(os.environ, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    applied = []  # (version, name, wall clock)
    serving = None
    try:
        for line in proc.stdout:
            entry = json.loads(line)
            if entry.get("msg") == "migration applied":
                at = datetime.datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
                applied.append((int(entry["version"]), entry["name"], at))
            elif entry.get("msg") == "listening":
                serving = time.monotonic() - start
                break
            elif entry.get("level") == "error":
                sys.exit("perfflow-event did not start: " + line)
    finally:
        proc.terminate()
        proc.wait()
    if serving is None:
        sys.exit("perfflow-event exited before it served")
    counts = mariadb(schema, "SELECT COUNT(*), SUM(payload_hash <> ''), SUM(triggered_at > 0) FROM events").split()
    if counts != [str(args.events)] * 3:
        sys.exit("events without their key or flow after the upgrade: %s" % counts)
    if [v for v, _, _ in applied] != [7, 8, 9, 10, 11]:
        sys.exit("unexpected migrations: %s" % applied)
    tasks = mariadb(schema, "SELECT COUNT(*), COALESCE(SUM(notice_state = 3), 0) FROM tasks").split()
    if tasks != [str(args.events * args.tasks_per_event)] * 2:
        sys.exit("stored tasks (%s) not all left to their outbox rows (%s)" % (tasks[0], tasks[1]))

    print("upgrade of %d stored events through migrations 7-11: first replica serving after %.1f s; "
          "one rebuild of the old events table (ALTER TABLE events FORCE): %.1f s; ratio %.1f"
          % (args.events, serving, rebuild, serving / rebuild))
    seconds = [at - before for (_, _, at), before in zip(applied, [started_at] + [a for _, _, a in applied[:-1]])]
    for (version, name, _), took in zip(applied, seconds):
        print("  migration %d (%s): %.1f s" % (version, name, took))
    print("  every event kept its key and its flow (%s of %s); %s stored tasks, none announced again"
          % (counts[1], counts[0], tasks[0]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"events": args.events, "tasks": int(tasks[0]), "serving_seconds": serving,
                       "rebuild_seconds": rebuild, "ratio": serving / rebuild,
                       "migrations": [{"version": v, "name": n, "seconds": round(took, 1)}
                                      for (v, n, _), took in zip(applied, seconds)]}, f, indent=2)
    mariadb(schema, "DROP DATABASE `%s`" % schema)


if __name__ == "__main__":
    main()
