"""llf-sandbox: run tool calls in isolated, resource-limited subprocesses."""
