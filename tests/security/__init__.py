"""Regression tests of the attacks in issue 9: each reproduces the attack, then checks it fails."""
