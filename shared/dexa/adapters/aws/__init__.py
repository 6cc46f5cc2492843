"""AWS adapters: DynamoDB store, S3 blobs, the Step Functions turn driver and its task bodies.

Nothing is imported eagerly: `import dexa.adapters.aws` must not load boto3 (the CDK stacks import
`dexa.adapters.aws.schema` and `dexa.adapters.aws.asl`, which are pure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from .dynamo_store import DynamoStore
    from .s3_blobs import S3BlobStore
    from .sfn import SfnApprovalNotifier, SfnTurnDriver
    from .tasks import TaskRunner

_EXPORTS = {
    "DynamoStore": ".dynamo_store",
    "S3BlobStore": ".s3_blobs",
    "SfnApprovalNotifier": ".sfn",
    "SfnTurnDriver": ".sfn",
    "TaskRunner": ".tasks",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = ["DynamoStore", "S3BlobStore", "SfnApprovalNotifier", "SfnTurnDriver", "TaskRunner"]
