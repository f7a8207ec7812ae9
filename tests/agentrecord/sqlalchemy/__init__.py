"""Tests of agentrecord/sqlalchemy."""
