"""Tests of care/telephony."""
