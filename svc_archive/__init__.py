"""svc_archive: bot folder archives (local or S3), Hummingbot bot databases, checkpoints."""
