"""Published us-east-1 prices, and what one execution's counts cost per 1,000 executions.

Free tiers are ignored. Lambda duration is measured on the embedded AWS (handlers in-process, moto answering
their requests), so the duration part is an estimate; every other part is a count times a price.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2026-11"
REGION = "us-east-1"

SFN_STANDARD_PER_TRANSITION = 0.025 / 1_000
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_PER_READ_UNIT = 0.125 / 1_000_000
S3_PER_PUT_CLASS_REQUEST = 0.005 / 1_000
S3_PER_GET_CLASS_REQUEST = 0.0004 / 1_000

PRICE_TABLE = (
    ("Step Functions Standard", "$0.025 per 1,000 state transitions"),
    ("Lambda (arm64)", "$0.0000133334 per GB-second, $0.20 per 1M requests"),
    ("DynamoDB on-demand", "$0.625 per million write request units, $0.125 per million read request units"),
    ("S3 Standard", "PUT, COPY, POST, LIST $0.005 per 1,000; GET and others $0.0004 per 1,000"),
)


@dataclass(frozen=True)
class ExecutionCounts:
    transitions: int
    lambda_requests: int
    lambda_gb_seconds: float
    dynamodb_write_units: float
    dynamodb_read_units: float
    s3_put_class: int
    s3_get_class: int


@dataclass(frozen=True)
class Cost:
    """US dollars per 1,000 executions."""

    step_functions: float
    lambda_requests: float
    lambda_duration: float
    dynamodb: float
    s3: float

    @property
    def total(self) -> float:
        return self.step_functions + self.lambda_requests + self.lambda_duration + self.dynamodb + self.s3


def per_thousand_executions(counts: ExecutionCounts) -> Cost:
    return Cost(
        step_functions=1_000 * counts.transitions * SFN_STANDARD_PER_TRANSITION,
        lambda_requests=1_000 * counts.lambda_requests * LAMBDA_PER_REQUEST,
        lambda_duration=1_000 * counts.lambda_gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        dynamodb=1_000
        * (
            counts.dynamodb_write_units * DYNAMODB_PER_WRITE_UNIT
            + counts.dynamodb_read_units * DYNAMODB_PER_READ_UNIT
        ),
        s3=1_000
        * (counts.s3_put_class * S3_PER_PUT_CLASS_REQUEST + counts.s3_get_class * S3_PER_GET_CLASS_REQUEST),
    )
