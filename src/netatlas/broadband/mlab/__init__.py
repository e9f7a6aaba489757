"""M-Lab's published ndt7 data: files, BigQuery, import, demo data."""
