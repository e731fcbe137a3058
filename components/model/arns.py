"""ARN grammars for what the stack file may name: secrets, roles and KMS keys; and the one ARN parser.

Shapes from https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html. Names ECR reads
must start `ecr-pullthroughcache/`
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-secret.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECRET_ARN = re.compile(
    r"arn:aws(?:-\w+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+"
)
SECRET_NAME = re.compile(r"ecr-pullthroughcache/[a-zA-Z0-9/_+=.@-]+")
ROLE_ARN = re.compile(r"arn:aws(?:-\w+)*:iam::[0-9]{12}:role/[\w+=,.@/-]+")
# An IAM role as ECR's pull-time update exclusions name it: botocore's ECR `PrincipalArn`
# (`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@-]+(/[\w+=,.@-]+)*$`, at most 200
# characters), roles only; a role's name, the last part of its path, has at most 64 characters
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
PRINCIPAL_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>[0-9]{12}):role/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]+)",
    re.ASCII,
)
PRINCIPAL_ARN_MAX = 200
ROLE_NAME_MAX = 64
KMS_KEY_ARN = re.compile(r"arn:aws(?:-\w+)*:kms:(?P<region>[a-z0-9-]+):[0-9]{12}:key/[a-zA-Z0-9-]+")
_ARN = re.compile(
    r"arn:(?P<partition>[^:]+):(?P<service>[^:]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.+)"
)
# Secrets Manager appends `-` and six random characters to a secret's name in its ARN.
_RANDOM_SUFFIX = re.compile(r"(?P<name>.+)-[A-Za-z0-9]{6}")


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        match = _ARN.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not an ARN")
        return cls(match["partition"], match["service"], match["region"], match["account"], match["resource"])

    @property
    def secret_name(self) -> str:
        """A Secrets Manager secret's name: its ARN's resource without the random suffix (if given)."""
        if self.service != "secretsmanager" or not self.resource.startswith("secret:"):
            raise ValueError(f"arn:{self.partition}:{self.service}:...: not a Secrets Manager secret ARN")
        name = self.resource.removeprefix("secret:")
        match = _RANDOM_SUFFIX.fullmatch(name)
        return match["name"] if match else name


def secret_resource(name_or_arn: str, *, partition: str, region: str, account_id: str) -> str:
    """The IAM `Resource` that names one secret: a complete ARN as given; a name, or an ARN without
    its random suffix, followed by `-??????`, the six characters Secrets Manager appends to a
    secret's name in its ARN, which matches that secret and no other
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html)."""
    if name_or_arn.startswith("arn:"):
        arn = Arn.parse(name_or_arn)
        complete = arn.secret_name != arn.resource.removeprefix("secret:")
        return name_or_arn if complete else f"{name_or_arn}-??????"
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{name_or_arn}-??????"
