"""Evidence, not claims: response KPIs with uncertainty, evaluations, claims, forecasts, reports."""
