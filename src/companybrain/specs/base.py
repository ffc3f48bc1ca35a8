"""Shared base model and small types of the specs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# The logical column types a project may declare; every engine maps them to its own.
DataType = Literal["string", "integer", "float", "decimal", "boolean", "date", "timestamp"]


class Spec(BaseModel):
    """Base of every declaration: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
