"""Data stack: the single DynamoDB table (GSI, TTL, stream), the blob bucket (lifecycle), the KMS key."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dexa.adapters.aws import schema


class DataStack(cdk.Stack):
    def __init__(self, scope: Construct, ident: str, **kwargs: Any) -> None:
        super().__init__(scope, ident, **kwargs)
        self.key = kms.Key(
            self,
            "DataKey",
            description="Dexa data at rest: sessions, events, blobs",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=schema.PK, type=string),
            sort_key=dynamodb.Attribute(name=schema.SK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=schema.GSI1,
            partition_key=dynamodb.Attribute(name=schema.GSI1PK, type=string),
            sort_key=dynamodb.Attribute(name=schema.GSI1SK, type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # Powertools idempotency records for the approval endpoints (its own schema and TTL attribute).
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name=schema.IDEMPOTENCY_PK, type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=schema.IDEMPOTENCY_TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.bucket = s3.Bucket(
            self,
            "Blobs",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)
                ),
                s3.LifecycleRule(
                    id="blobs-to-intelligent-tiering",
                    prefix=schema.BLOB_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=cdk.Duration.days(30)
                        )
                    ],
                ),
                s3.LifecycleRule(
                    id="transcripts-expire",
                    prefix=schema.TRANSCRIPT_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=cdk.Duration.days(30)
                        )
                    ],
                    expiration=cdk.Duration.days(365),
                ),
            ],
        )
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
