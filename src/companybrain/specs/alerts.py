"""alerts/*.yaml: alert rules on metrics (threshold, change, anomaly), predictions and events, with
their audience, channels (apprise URLs), deduplication, throttling and escalation.

What reaches a person is computed with that person's rights: a rule is evaluated as each recipient
(delivery/recipients.py checks the rules against the policies when they load)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from companybrain.specs.base import Spec

Grain = Literal["day", "week", "month", "quarter", "year"]
Channels = Annotated[
    list[str],
    Field(
        min_length=1,
        description="Apprise URLs: mailto://, json://, slack://, workflows:// (Teams); ${ENV} is expanded. "
        "Their hosts must be in brain.yaml egress.allow. A URL with {user} (or a user attribute, {email}) is "
        "personal: each recipient gets their own message on it. One without is shared by the whole audience, "
        "which must then read the same for the rule (else the rule is refused).",
    ),
]


class Audience(Spec):
    """Who an alert is for: roles and/or users of the project's policies."""

    roles: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if not self.roles and not self.users:
            raise ValueError("an audience needs at least one role or user")
        return self


class Escalation(Spec):
    """Who to tell when an alert is not acknowledged within `after_minutes`."""

    after_minutes: int = Field(gt=0)
    audience: Audience
    channels: Channels


class RuleBase(Spec):
    description: str = ""
    severity: Literal["info", "warning", "critical"] = "warning"
    audience: Audience
    channels: Channels
    as_user: str | None = Field(
        None,
        description="Only with `replan`: the user the plan is computed as (it reads order values); each "
        "recipient is told what they may read of it. Every other alert is computed as each recipient.",
    )
    dedup_minutes: int = Field(60, ge=0, description="Same rule and key within this window: one alert.")
    max_per_hour: int = Field(20, gt=0, description="At most this many alerts of the rule per hour.")
    attempts: int = Field(3, ge=1, le=10, description="Delivery attempts per channel before it counts as failed.")
    escalation: Escalation | None = None


class MetricRuleBase(RuleBase):
    metric: str
    by: list[str] = Field(default_factory=list, description="Dimensions: one alert key per combination.")
    where: str | None = None


class ThresholdRule(MetricRuleBase):
    """Fires when the metric (over `period`) is above or below a value."""

    type: Literal["threshold"]
    period: str | None = None
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> ThresholdRule:
        if self.above is None and self.below is None:
            raise ValueError("a threshold rule needs `above` or `below`")
        return self


class ChangeRule(MetricRuleBase):
    """Fires when the latest `grain` changed by more than `change_pct` percent against the one before."""

    type: Literal["change"]
    grain: Grain = "month"
    change_pct: float = Field(gt=0)
    direction: Literal["up", "down", "any"] = "any"


class AnomalyRule(MetricRuleBase):
    """Fires when the latest `grain` is an outlier: robust z-score (median, MAD) of at least `z`."""

    type: Literal["anomaly"]
    grain: Grain = "month"
    z: float = Field(3.5, gt=0)
    min_history: int = Field(6, ge=3, description="Periods of history needed before judging.")


class PredictionRule(RuleBase):
    """Fires for each scored entity whose prediction is at or above a threshold: a named threshold of
    the use case (`threshold: high`) or a number (`above: 0.5`); `where` picks the key entities."""

    type: Literal["prediction"]
    usecase: str = Field(description="The use case whose scores are watched (usecases/).")
    threshold: str | None = Field(None, description="A threshold the use case names (thresholds:).")
    above: float | None = None
    where: str | None = Field(None, description="Filter on the entity's properties, e.g. tier = 'strategic'.")
    show: list[str] = Field(default_factory=list, description="Properties of the entity to name in the alert.")
    limit: int = Field(50, gt=0, le=1000, description="At most this many entities per check (highest first).")

    @model_validator(mode="after")
    def _level(self) -> PredictionRule:
        if (self.threshold is None) == (self.above is None):
            raise ValueError("a prediction rule needs exactly one of threshold (a name) or above (a number)")
        return self


class Replan(Spec):
    """Replan the network for the line in the event: capacity 0 from the event's day for `days`."""

    days: int = Field(7, gt=0, le=91)


class EventRule(RuleBase):
    """Fires on an event of type `event` whose fields match; `key` fields make the dedup key."""

    type: Literal["event"]
    event: str
    match: dict[str, str] = Field(default_factory=dict, description="Fields that must equal these values.")
    above: dict[str, float] = Field(default_factory=dict, description="Numeric fields that must exceed these.")
    below: dict[str, float] = Field(default_factory=dict, description="Numeric fields that must be under these.")
    key: list[str] = Field(default_factory=list, description="Event fields that identify one alert (dedup key).")
    replan: Replan | None = None


AlertRule = Annotated[
    ThresholdRule | ChangeRule | AnomalyRule | EventRule | PredictionRule, Field(discriminator="type")
]
MetricRule = ThresholdRule | ChangeRule | AnomalyRule


class AlertsFile(Spec):
    """One file under alerts/."""

    alerts: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], AlertRule] = Field(default_factory=dict)
