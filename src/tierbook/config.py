"""Settings, read from the environment (`TIERBOOK_*`) by pydantic-settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERBOOK_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./tierbook.db",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
    )
    database_pool_size: int = Field(
        20,
        ge=1,
        le=1000,
        description="Database connections a process keeps open for requests that run at once",
    )
    max_body_bytes: int = Field(
        8_000_000, ge=1024, description="Largest request body accepted (413 beyond it)"
    )
    token_secret: str | None = Field(
        None,
        description="Secret that signs Exchange Solutions bearer tokens; "
        "generated and kept in the database when unset",
    )
    token_ttl_seconds: int = Field(3600, ge=60, description="Lifetime of an OAuth bearer token")
    session_ttl_seconds: int = Field(1800, ge=60, description="Lifetime of an ES user session")
    key_cache_seconds: float = Field(
        5.0, ge=0, description="How long a verified API key is trusted before it is re-read"
    )
