"""Tests of agentrecord/runtime."""
