"""The Acme Industrial demo company: a deterministic generator of sources and ground truth.

`generate_demo` (generate.py) writes a complete brain project; `stream_events` (stream.py)
replays its telemetry to MQTT or HTTP. Domain modules build pyarrow tables; writers.py
puts them into SQLite, PostgreSQL, MariaDB, CSV, JSON lines and Parquet.
"""
