"""Shared DRF plumbing: tenancy, access declarations, errors, pagination, idempotency, router."""
