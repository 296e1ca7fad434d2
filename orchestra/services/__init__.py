"""Orchestra's behaviour: LM Studio, metrics, the orchestrator, checks. Never imports web."""
