"""Outgoing SMS and e-mail: the transactional outbox (outbox.py) and the providers
that deliver it (adapters.py). See spec/interfaces.md (CARE_SMS, CARE_SMTP_URL)."""
