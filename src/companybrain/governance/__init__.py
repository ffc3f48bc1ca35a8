"""Identities, policies (access, row filters, masking), the audit log. Passed in, never global."""
