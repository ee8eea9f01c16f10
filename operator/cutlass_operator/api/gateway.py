"""The API's settings on an environment: usage plans, the tenants holding API keys, and throttling."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from cutlass_operator.api.common import CamelModel

PlanName = Literal["basic", "premium", "enterprise"]

# Cognito's rule for a redirect URI: absolute, no fragment, HTTPS except http://localhost (for
# testing); an app's own scheme (myapp://signed-in) is fine. Shared with the CRD's CEL rule.
CALLBACK_FORM = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^#\s]+$"
LOCALHOST_HTTP = r"^http://localhost(:[0-9]{1,5})?(/[^#\s]*)?$"


def _callback_url(url: str) -> str:
    if not re.match(CALLBACK_FORM, url):
        raise ValueError(f"{url!r}: Cognito takes an absolute URL (scheme://...) without a #fragment")
    if url.lower().startswith("http://") and not re.match(LOCALHOST_HTTP, url):
        raise ValueError(f"{url!r}: Cognito takes plain http only for http://localhost; use https://")
    return url


CallbackUrl = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_callback_url)]


class Throttling(CamelModel):
    rate_limit: float = Field(ge=1, le=10000, description="Steady requests per second.")
    burst_limit: int = Field(ge=1, le=5000, description="Requests allowed in a burst above the rate.")

    @model_validator(mode="after")
    def _burst_covers_the_rate(self) -> Throttling:
        if self.burst_limit < self.rate_limit:
            raise ValueError("burstLimit must be at least rateLimit: a burst below the steady rate throttles it")
        return self


class PlanLimits(Throttling):
    monthly_quota: int = Field(ge=1, description="Requests per calendar month for each API key of the plan.")


# Sized so each plan is a step up of about 5-10x; a tenant outgrowing enterprise gets its own numbers.
DEFAULT_PLANS: dict[PlanName, PlanLimits] = {
    "basic": PlanLimits(rate_limit=10, burst_limit=20, monthly_quota=10_000),
    "premium": PlanLimits(rate_limit=50, burst_limit=100, monthly_quota=100_000),
    "enterprise": PlanLimits(rate_limit=200, burst_limit=400, monthly_quota=1_000_000),
}
DEFAULT_STAGE_THROTTLING = Throttling(rate_limit=500, burst_limit=1000)


class Tenant(CamelModel):
    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", description="Tenant id; names its API key, e.g. acme."
    )
    plan: PlanName = Field(description="basic, premium or enterprise. Changing it moves the key, never recreates it.")


class UsagePlans(CamelModel):
    basic: PlanLimits | None = Field(default=None, description="Default: 10 rps, burst 20, 10,000 a month.")
    premium: PlanLimits | None = Field(default=None, description="Default: 50 rps, burst 100, 100,000 a month.")
    enterprise: PlanLimits | None = Field(default=None, description="Default: 200 rps, burst 400, 1,000,000 a month.")


class ApiSettings(CamelModel):
    """Usage plans are per environment and apply to every region's stage."""

    usage_plans: UsagePlans = Field(default_factory=UsagePlans, description="Overrides of the plans' limits.")
    tenants: list[Tenant] = Field(default_factory=list, description="Tenants given an API key in their plan.")
    callback_urls: list[CallbackUrl] = Field(
        default_factory=lambda: ["http://localhost:8080/callback"],
        max_length=100,
        description=(
            "Where the hosted sign-in may send people back (the users' app client's callback URLs): absolute, "
            "no #fragment, https (plain http only for localhost) or an app's own scheme."
        ),
    )
    throttling: Throttling | None = Field(
        default=None, description="The stages' throttling (default 500 rps, burst 1000); a region may override it."
    )

    @model_validator(mode="after")
    def _tenants_are_unique(self) -> ApiSettings:
        names = [t.name for t in self.tenants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"api.tenants: {', '.join(duplicates)} listed more than once; one key per tenant")
        return self

    def plans(self) -> dict[PlanName, PlanLimits]:
        return {name: getattr(self.usage_plans, name) or limits for name, limits in DEFAULT_PLANS.items()}
