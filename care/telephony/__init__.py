"""Telephony: provider adapters, webhook signatures (spec/telephony.md)."""
