"""The company model: object types materialized from raw tables, links, and data contracts."""
