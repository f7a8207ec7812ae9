"""Tests of agentrecord/local."""
