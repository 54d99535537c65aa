"""The job layer: what the operators, the chunked job and the sensor share.

- :mod:`~airflow_provider_blip.jobs.steps`: the per-recipient steps (verify, render, send,
  set the flow context, add to a list, read delivery), each turning a result row into the next.
- :mod:`~airflow_provider_blip.jobs.chunk`: the chunk pipeline of ``BlipNotifyOperator``
  (steps overlapping per recipient, the journal, the failure breaker).
- :mod:`~airflow_provider_blip.jobs.policy`: fatal errors, the ratio settings, the failure
  policy, and reading result rows from upstream tasks.
- :mod:`~airflow_provider_blip.jobs.registry`: the approved-template check every
  template-sending operator runs before it spends anything.

It sits between the operators (Airflow's side) and the hook (Blip's side); see
``docs/architecture.md``.
"""
