"""Blind review of diagnoses: review sets, blind labels, and judge accuracy measured against them."""
