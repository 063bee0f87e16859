"""Exit 0 when the LocalStack at argv[1] reports SNS, SQS and Secrets Manager ready, else 1."""
import json
import sys
import urllib.request

READY = {"available", "running"}

try:
    with urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2) as response:
        services = json.load(response).get("services", {})
except Exception:  # not up yet: the caller polls with a deadline
    sys.exit(1)
WANTED = ("sns", "sqs", "secretsmanager")
sys.exit(0 if {services.get(name) for name in WANTED} <= READY else 1)
