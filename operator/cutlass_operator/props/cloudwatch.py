"""CloudWatch metric alarms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cutlass_operator.engine.resource import Props


@dataclass(frozen=True)
class AlarmProps(Props):
    """`datapoints_to_alarm` None: as many as `evaluation_periods`; `treat_missing_data` None: AWS's
    default (`missing`). The name must start with the layer's alarm prefix: alarms are found by it."""

    kind = "cloudwatch.alarm"

    alarm_name: str
    namespace: str
    metric_name: str
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    description: str | None = None
    dimensions: Mapping[str, str] | None = None
    datapoints_to_alarm: int | None = None
    treat_missing_data: str | None = None
    alarm_actions: tuple[str, ...] = ()


def alarm_on_any(
    name: str, *, description: str, namespace: str, metric: str, dimensions: Mapping[str, str], statistic: str
) -> AlarmProps:
    """An alarm that fires when `metric` is above zero in any five minutes: the shape of every
    alarm the layers make (errors, throttles, dead letters), none of which is ever expected."""
    return AlarmProps(
        alarm_name=name,
        description=description,
        namespace=namespace,
        metric_name=metric,
        dimensions=dict(dimensions),
        statistic=statistic,
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        threshold=0.0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
    )
