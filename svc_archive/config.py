"""S3 settings of svc_archive, from `HBMESH_S3_*` (hummingbot-api's AWS_API_KEY, AWS_SECRET_KEY and
AWS_S3_DEFAULT_BUCKET_NAME are accepted too, so existing setups carry over)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (all but the last)


class S3Config(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HBMESH_S3_", env_file=".env", extra="ignore",
                                      populate_by_name=True)

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000 for MinIO; AWS when unset
    region: str = "us-east-1"
    access_key_id: str | None = Field(None, validation_alias=AliasChoices("HBMESH_S3_ACCESS_KEY_ID", "AWS_API_KEY"))
    secret_access_key: str | None = Field(None, validation_alias=AliasChoices("HBMESH_S3_SECRET_ACCESS_KEY",
                                                                              "AWS_SECRET_KEY"))
    bucket: str | None = Field(None, validation_alias=AliasChoices("HBMESH_S3_BUCKET", "AWS_S3_DEFAULT_BUCKET_NAME"))
    prefix: str = "hbmesh/archives/"
    part_size: int = Field(8 * 1024 * 1024, ge=MIN_PART_SIZE)
    max_attempts: int = 5  # botocore retries per call

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
                            config=Config(retries={"max_attempts": self.max_attempts, "mode": "standard"},
                                          s3={"addressing_style": "path"} if self.endpoint_url else None))


class ArchiveConfig(BaseSettings):
    """Where the bots folder is: HBMESH_ARCHIVE_BOTS_DIR, else HBMESH_BOTS_DIR or svc_fleet's
    HBMESH_FLEET_BOTS_DIR (so both services see the same folder), else <HBMESH_DATA_DIR>/bots."""

    model_config = SettingsConfigDict(env_prefix="HBMESH_ARCHIVE_", env_file=".env", extra="ignore",
                                      populate_by_name=True)

    bots_dir: Path | None = Field(None, validation_alias=AliasChoices(
        "HBMESH_ARCHIVE_BOTS_DIR", "HBMESH_BOTS_DIR", "HBMESH_FLEET_BOTS_DIR"))
    db_timeout_s: float = Field(2.0, gt=0)  # wait for a bot's write lock this long, then answer 409

    def resolved_bots_dir(self, data_dir: Path) -> Path:
        return (self.bots_dir or Path(data_dir) / "bots").resolve()
