"""How the environment's API name sends users to its regions: Route 53's routing policy, the
geolocation mapping, and the health checks that take a failing region out of the answers."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import Field, model_validator

from cutlass_operator.api.common import NAME_PATTERN, CamelModel

Policy = Literal["geolocation", "latency", "failover"]
# Route 53's continent codes.
Continent = Literal["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

# The continent an AWS region serves when the spec maps none: by the region's name.
REGION_CONTINENTS: tuple[tuple[str, Continent], ...] = (
    ("ap-southeast-2", "OC"),
    ("ap-southeast-4", "OC"),
    ("ap-southeast-6", "OC"),
    ("ap-", "AS"),
    ("me-", "AS"),
    ("il-", "AS"),
    ("eu-", "EU"),
    ("us-", "NA"),
    ("ca-", "NA"),
    ("mx-", "NA"),
    ("sa-", "SA"),
    ("af-", "AF"),
)


def continent_of(aws_region: str) -> Continent | None:
    return next((continent for prefix, continent in REGION_CONTINENTS if aws_region.startswith(prefix)), None)


class HealthCheckSettings(CamelModel):
    request_interval: Literal[10, 30] = Field(
        default=30,
        description=(
            "Seconds between two checks from each Route 53 checker: 10 (fast, billed higher) or 30. "
            "AWS cannot change it on a check, so changing it replaces the checks."
        ),
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=10, description="Consecutive failures before a region counts as unhealthy."
    )


class GeoRoute(CamelModel):
    region: str = Field(pattern=NAME_PATTERN, max_length=20, description="A CutlassRegion's spec.region, e.g. london.")
    continents: list[Continent] = Field(
        default_factory=list,
        max_length=7,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Continent codes whose users this region serves: AF, AN, AS, EU, NA, OC, SA.",
    )
    countries: list[Country] = Field(
        default_factory=list,
        max_length=50,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="ISO 3166 country codes this region serves; a country wins over its continent.",
    )

    @model_validator(mode="after")
    def _serves_someone(self) -> GeoRoute:
        if not self.continents and not self.countries:
            raise ValueError(f"domain.routing.geolocation: region {self.region} needs continents or countries")
        return self


class Routing(CamelModel):
    policy: Policy = Field(
        default="latency",
        description=(
            "geolocation: by the caller's location (see geolocation); latency: the region answering "
            "fastest; failover: the primary region while healthy, else one other region."
        ),
    )
    geolocation: list[GeoRoute] = Field(
        default_factory=list,
        max_length=10,
        description=(
            "For the geolocation policy: which region serves which continents and countries. Default: "
            "each region serves its own continent. Callers matching none get the primary region."
        ),
    )
    health_check: HealthCheckSettings = Field(
        default_factory=HealthCheckSettings, description="The HTTPS check on each region's /health."
    )

    @model_validator(mode="after")
    def _each_place_has_one_region(self) -> Routing:
        regions = Counter(route.region for route in self.geolocation)
        # AS is Asia and American Samoa, SA South America and Saudi Arabia: continents and countries apart.
        places = Counter(
            place
            for route in self.geolocation
            for place in (*(f"continent {c}" for c in route.continents), *(f"country {c}" for c in route.countries))
        )
        twice = sorted(name for name, n in regions.items() if n > 1)
        if twice:
            raise ValueError(f"domain.routing.geolocation: region {', '.join(twice)} is listed more than once")
        shared = sorted(place for place, n in places.items() if n > 1)
        if shared:
            raise ValueError(f"domain.routing.geolocation: {', '.join(shared)} is mapped to more than one region")
        return self
