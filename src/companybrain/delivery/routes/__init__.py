"""One router per resource: metrics, objects, audit, and the health probes."""
