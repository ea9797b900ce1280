"""Adapters: the project's ports (:mod:`pipeline.ports`) implemented on real services, and in memory.

The only code under ``pipeline/`` that imports an I/O library (boto3/botocore, redis, c2pa). Each translates its
vendor's errors into the project's own (:mod:`pipeline.errors`), so nothing above it sees a vendor exception.
"""
