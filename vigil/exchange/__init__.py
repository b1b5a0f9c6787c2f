"""Incident exchange with other PSAPs and CADs: NENA EIDO (NENA-STA-021) in and out."""
