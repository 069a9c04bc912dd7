#!/usr/bin/env python3
"""Checks deploy/docker-compose.yml and what it mounts, without Docker.

The compose file must run what issue 8 lists (PostgreSQL, Redis, two API
processes, two workers, an OTLP collector, Prometheus, Grafana); every file
it mounts must exist; Prometheus must scrape every n8n-work service; and
every metric the Grafana dashboard queries must be one the server registers
in host/, so renaming a metric breaks this check rather than a dashboard.

Run: python3 deploy/tests/check_compose.py  (needs PyYAML). .ci/run runs it.
"""

import json
import pathlib
import re
import unittest

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent.parent
REPO = DEPLOY.parent
COMPOSE = DEPLOY / "docker-compose.yml"
DASHBOARD = DEPLOY / "compose/grafana/dashboards/n8n-work.json"
PROMETHEUS = DEPLOY / "compose/prometheus.yml"


def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def role_of(service):
    command = service.get("command", [])
    return command[command.index("--role") + 1] if "--role" in command else None


def registered_metrics():
    """Metric names passed to `registry.register` anywhere in host/."""
    names = set()
    for path in (REPO / "host").rglob("*.rs"):
        names.update(re.findall(r'register\(\s*"(n8n_work_[a-z0-9_]+)"', path.read_text()))
    return names


def queried_metrics():
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    found = set()
    for expr in exprs:
        for name in re.findall(r"n8n_work_[a-z0-9_]+", expr):
            # Histograms are exposed as <name>_bucket, _count and _sum.
            found.add(re.sub(r"_(bucket|count|sum)$", "", name))
    return found


class ComposeRunsTheScaleOut(unittest.TestCase):
    def test_runs_every_service_issue_8_lists(self):
        all_services = services()
        roles = {}
        for name, service in all_services.items():
            replicas = service.get("deploy", {}).get("replicas", 1)
            roles[role_of(service)] = roles.get(role_of(service), 0) + replicas
        self.assertEqual(roles.get("api"), 2)
        self.assertEqual(roles.get("worker"), 2)
        images = " ".join(s.get("image", "") for s in all_services.values())
        for image in ("postgres:", "redis:", "opentelemetry-collector", "prometheus", "grafana"):
            self.assertIn(image, images)

    def test_processes_get_their_secrets_from_the_environment(self):
        for name, service in services().items():
            if role_of(service):
                env = service["environment"]
                with self.subTest(service=name):
                    self.assertTrue(env["N8N_WORK_DATABASE_URL"].startswith("postgres://"))
                    self.assertTrue(env["N8N_WORK_REDIS_URL"].startswith("redis://"))
                    # Never a key in the file: compose stops and says how to make one.
                    self.assertRegex(env["N8N_WORK_MASTER_KEY"], r"^\$\{N8N_WORK_MASTER_KEY:\?.*openssl rand")
                    # One audit chain: every process gets the same key.
                    self.assertRegex(env["N8N_WORK_AUDIT_KEY"], r"^\$\{N8N_WORK_AUDIT_KEY:\?.*openssl rand")
                    self.assertEqual(env["N8N_WORK_LOG_FORMAT"], "json")
                    self.assertEqual(service["command"][0], "serve")

    def test_migrations_run_before_any_process_starts(self):
        all_services = services()
        self.assertEqual(all_services["migrate"]["command"], ["migrate"])
        for name, service in all_services.items():
            if role_of(service):
                self.assertEqual(service["depends_on"]["migrate"]["condition"], "service_completed_successfully")

    def test_every_mounted_file_exists(self):
        for name, service in services().items():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    with self.subTest(service=name, volume=volume):
                        self.assertTrue((DEPLOY / source).exists(), f"{name} mounts {source}, which is missing")

    def test_prometheus_scrapes_every_n8n_work_service(self):
        config = yaml.safe_load(PROMETHEUS.read_text())
        scraped = set()
        for job in config["scrape_configs"]:
            for static in job.get("static_configs", []):
                scraped.update(t.split(":")[0] for t in static["targets"])
            for dns in job.get("dns_sd_configs", []):
                scraped.update(dns["names"])
        n8n_work = {name for name, service in services().items() if role_of(service)}
        self.assertEqual(scraped, n8n_work)

    def test_dashboard_queries_only_metrics_the_server_registers(self):
        registered = registered_metrics()
        self.assertIn("n8n_work_queue_depth", registered)
        queried = queried_metrics()
        self.assertIn("n8n_work_queue_depth", queried)
        self.assertEqual(queried - registered, set())


if __name__ == "__main__":
    unittest.main(verbosity=2)
