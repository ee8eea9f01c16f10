"""The application's Lambda functions: usage checks, credits, threshold alerts, notifications, health.

Deployed as Lambda code: these modules import only the standard library, boto3/botocore and each other.
"""
