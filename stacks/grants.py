"""Least-privilege grants: exactly the API calls the adapters make, instead of CDK's broad read/write sets.

DynamoStore uses GetItem, Query, PutItem, UpdateItem, DeleteItem and TransactWriteItems (authorized as the
Put/Update/ConditionCheck actions it contains); it never scans. S3BlobStore uses Get/Put/HeadObject; HeadObject on a
missing key answers 404 only with s3:ListBucket (403 otherwise), so that is granted on the bucket itself.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

TABLE_READ = ["dynamodb:GetItem", "dynamodb:Query"]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]


def grant_table(grantee: iam.IGrantable, table: dynamodb.ITable, key: kms.IKey, *, write: bool = True) -> None:
    actions = TABLE_READ + (TABLE_WRITE if write else [])
    iam.Grant.add_to_principal(
        grantee=grantee, actions=actions, resource_arns=[table.table_arn, f"{table.table_arn}/index/*"]
    )
    if write:
        key.grant_encrypt_decrypt(grantee)
    else:
        key.grant_decrypt(grantee)


def grant_blobs(grantee: iam.IGrantable, bucket: s3.IBucket, key: kms.IKey, *, write: bool = True) -> None:
    actions = ["s3:GetObject"] + (["s3:PutObject"] if write else [])
    iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=[bucket.arn_for_objects("*")])
    iam.Grant.add_to_principal(grantee=grantee, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn])
    if write:
        key.grant_encrypt_decrypt(grantee)
    else:
        key.grant_decrypt(grantee)
