"""The DBOS Transact backend of agentrecord's jobs: client operations, workflows, workers, the fleet."""
